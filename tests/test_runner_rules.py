"""The job runner's rules, driven through a fake executor (no processes, no spaCy): batching by
count and characters, splitting a failed batch, retrying alone, quarantine, the attempt cap
across restarts, fencing by the lease, engine errors, stopping, and the run's events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from beacon.engine.executor import Batch
from beacon.engine.runner import JobRunner, RunSummary
from beacon.errors import BatchFailed, EngineUnavailable
from beacon.settings import Settings
from beacon.store import jobs
from beacon.store.analyses import load_scored
from beacon.store.app_settings import SettingsUpdate, apply_update
from beacon.store.db import Database
from beacon.store.owner import make_owner
from beacon.store.runs import RunEventData
from beacon.store.schema import AnalysisJob, AnalysisRow, EmailRow, Run, RunEvent
from tests.helpers import FakeExecutor, fake_analysis, outcome, store_messages, synthetic_message


@pytest.fixture
def settings(tmp_path: Path, sqlite_db: Database) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=sqlite_db.url, batch_size=5, max_attempts=2)


def analyse(settings: Settings) -> Callable[[Batch], list[dict[str, Any]]]:
    return lambda batch: [fake_analysis(e, settings) for e in batch.emails]


def crash_on(word: str, settings: Settings, reason: str = "crashed") -> Callable[[Batch], list[dict[str, Any]]]:
    """Fails every batch holding an email whose subject contains ``word``, as a dead worker does."""

    def handler(batch: Batch) -> list[dict[str, Any]]:
        if any(word in e["subject"] for e in batch.emails):
            raise BatchFailed(reason, "worker 4242 killed by SIGKILL (uss peak 90 MB)", 4242)
        return [fake_analysis(e, settings) for e in batch.emails]

    return handler


def run(db: Database, settings: Settings, executor: FakeExecutor, stop: Callable[[], bool] = lambda: False,
        owner: str | None = None) -> tuple[RunSummary, list[RunEventData]]:
    executor.start()
    runner = JobRunner(settings, db, executor, executor.recorder, owner or make_owner())
    with db.session() as s:
        jobs.enqueue_missing(s, runner.version)
    events: list[RunEventData] = []
    summary = runner.run(runner.prepare(events.append), stop)
    return summary, events


def job_rows(db: Database) -> dict[str, tuple[str, int, str | None]]:
    """subject -> (status, attempts, last_error)"""
    with db.session() as s:
        rows = s.execute(select(EmailRow.subject, AnalysisJob.status, AnalysisJob.attempts, AnalysisJob.last_error)
                         .join(AnalysisJob, AnalysisJob.email_id == EmailRow.id)).all()
    return {subject: (status, attempts, error) for subject, status, attempts, error in rows}


def test_every_email_is_analysed_once_in_batches_of_batch_size(sqlite_db: Database, settings: Settings) -> None:
    store_messages(sqlite_db, [synthetic_message(i) for i in range(12)])
    ex = FakeExecutor(analyse(settings))
    summary, events = run(sqlite_db, settings, ex)
    assert [len(b.emails) for b in ex.batches] == [5, 5, 2]
    assert (summary.status, summary.total, summary.done, summary.quarantined, summary.retried) == ("done", 12, 12, 0, 0)
    assert outcome(sqlite_db) == {"emails": 12, "analyses": 12, "analysed": 12, "done": 12,
                                  "quarantined": 0, "pending": 0, "running": 0}
    types = [e.type for e in events]
    assert types[0] == "run_start" and types[-1] == "run_end"
    assert types.count("email_done") == 12 and types.count("batch_done") == 3
    assert [e.data["done"] for e in events if e.type == "email_done"] == list(range(1, 13))
    assert events[-1].data["status"] == "done" and events[-1].data["done"] == 12
    assert [e.id for e in events] == sorted(e.id for e in events)
    with sqlite_db.session() as s:
        recorded = [ev.type for ev in s.scalars(select(RunEvent).order_by(RunEvent.id))]
        row = s.get(Run, summary.run_id)
        assert recorded == types  # what was announced is what the stream will read
        assert (row.kind, row.status, row.total, row.done, row.failed) == ("analyze", "done", 12, 12, 0)


def test_batches_hold_at_most_max_chars_and_a_big_email_goes_alone(sqlite_db: Database, settings: Settings) -> None:
    sizes = [300, 300, 300, 900, 300, 300]  # characters of text each
    store_messages(sqlite_db, [synthetic_message(i, body="x" * n) for i, n in enumerate(sizes)])
    ex = FakeExecutor(analyse(settings), max_chars=700)
    summary, _ = run(sqlite_db, settings, ex)
    assert [[len(e["new_text"]) for e in b.emails] for b in ex.batches] == [[300, 300], [300], [900], [300, 300]]
    assert [b.chars for b in ex.batches] == [600, 300, 900, 600]
    assert summary.done == 6


def test_a_failed_batch_is_split_the_innocent_succeed_and_the_culprit_is_quarantined(
    sqlite_db: Database, settings: Settings,
) -> None:
    store_messages(sqlite_db, [synthetic_message(i, subject="poison" if i == 2 else None) for i in range(6)])
    ex = FakeExecutor(crash_on("poison", settings))
    summary, events = run(sqlite_db, settings, ex)
    # The batch of five fails, then each of its emails runs alone; the poison twice.
    assert [[e["subject"] for e in b.emails] for b in ex.batches] == [
        ["message 0", "message 1", "poison", "message 3", "message 4"], ["message 5"],
        ["message 0"], ["message 1"], ["poison"], ["message 3"], ["message 4"], ["poison"],
    ]
    assert (summary.status, summary.done, summary.quarantined, summary.retried) == ("done", 5, 1, 6)
    rows = job_rows(sqlite_db)
    status, attempts, error = rows.pop("poison")
    assert (status, attempts) == ("quarantined", 3)
    assert error == ("quarantined after 2 failed attempt(s) on its own; last: crashed: "
                     "worker 4242 killed by SIGKILL (uss peak 90 MB)")
    assert rows == {"message 0": ("done", 2, None), "message 1": ("done", 2, None), "message 3": ("done", 2, None),
                    "message 4": ("done", 2, None), "message 5": ("done", 1, None)}
    failed = [e for e in events if e.type == "batch_failed"]
    assert len(failed) == 1 and failed[0].data["reason"] == "crashed" and len(failed[0].data["email_ids"]) == 5
    retries = [(e.data["alone"], e.data["reason"]) for e in events if e.type == "email_retry"]
    assert retries == [(False, "crashed")] * 5 + [(True, "crashed")]
    assert [e.data["error"] for e in events if e.type == "email_quarantined"] == [error]
    m = ex.metrics()  # the engine's counters, as /metrics shows them
    assert (m.done, m.quarantined, m.retried) == (5, 1, 6)


def test_the_attempt_cap_quarantines_an_email_that_keeps_killing_the_process(
    sqlite_db: Database, settings: Settings,
) -> None:
    # Claimed 2 * max_attempts times before, by processes that died with it: the durable count
    # is all that is left, and the next failure on its own is the last.
    store_messages(sqlite_db, [synthetic_message(0, subject="poison")])
    ex = FakeExecutor(crash_on("poison", settings))
    runner_version = JobRunner(settings, sqlite_db, ex, ex.recorder, make_owner()).version
    with sqlite_db.session() as s:
        jobs.enqueue_missing(s, runner_version)
        s.execute(update(AnalysisJob).values(attempts=2 * settings.max_attempts))
    summary, _ = run(sqlite_db, settings, ex)
    assert len(ex.batches) == 1 and (summary.done, summary.quarantined, summary.retried) == (0, 1, 0)
    status, attempts, error = job_rows(sqlite_db)["poison"]
    assert (status, attempts) == ("quarantined", 5)
    assert error.startswith("quarantined after 1 failed attempt(s) on its own; last: crashed:")


def test_a_result_for_a_job_whose_lease_was_taken_over_is_not_saved(sqlite_db: Database, settings: Settings) -> None:
    ids = store_messages(sqlite_db, [synthetic_message(i) for i in range(3)])
    other = make_owner()

    def steal_then_analyse(batch: Batch) -> list[dict[str, Any]]:
        # Another process took the second job over while this batch was being analysed.
        with sqlite_db.session() as s:
            s.execute(update(AnalysisJob).where(AnalysisJob.email_id == ids[1]).values(lease_owner=other))
        return [fake_analysis(e, settings) for e in batch.emails]

    summary, events = run(sqlite_db, settings, FakeExecutor(steal_then_analyse))
    assert (summary.done, summary.quarantined) == (2, 0)
    with sqlite_db.session() as s:
        analysed = set(s.scalars(select(AnalysisRow.email_id)))
        taken = s.scalar(select(AnalysisJob).where(AnalysisJob.email_id == ids[1]))
        assert analysed == {ids[0], ids[2]}
        assert (taken.status, taken.lease_owner) == ("running", other)  # left to its new owner
    assert sorted(e.data["email_id"] for e in events if e.type == "email_done") == [ids[0], ids[2]]


def test_invalid_results_and_unreadable_stored_emails_are_quarantined(sqlite_db: Database, settings: Settings) -> None:
    ids = store_messages(sqlite_db, [synthetic_message(i) for i in range(4)])
    with sqlite_db.session() as s:
        s.execute(update(EmailRow).where(EmailRow.id == ids[3]).values(data={"not": "an email"}))

    def one_bad(batch: Batch) -> list[dict[str, Any]]:
        return [{"bogus": True} if e["subject"] == "message 1" else fake_analysis(e, settings) for e in batch.emails]

    summary, _ = run(sqlite_db, settings, FakeExecutor(one_bad))
    assert (summary.done, summary.quarantined) == (2, 2)
    rows = job_rows(sqlite_db)
    assert rows["message 0"][0] == rows["message 2"][0] == "done"
    assert rows["message 1"][0] == "quarantined" and rows["message 1"][2].startswith("worker returned an invalid analysis")
    with sqlite_db.session() as s:
        bad = s.scalar(select(AnalysisJob).where(AnalysisJob.email_id == ids[3]))
    assert bad.status == "quarantined" and bad.last_error.startswith("stored email is not valid")


def test_an_engine_error_fails_the_run_and_hands_every_job_back(sqlite_db: Database, settings: Settings) -> None:
    store_messages(sqlite_db, [synthetic_message(i) for i in range(7)])

    def engine_gone(batch: Batch) -> list[dict[str, Any]]:
        raise EngineUnavailable("the engine stopped")

    summary, events = run(sqlite_db, settings, FakeExecutor(engine_gone))
    assert (summary.status, summary.error, summary.done) == ("failed", "the engine stopped", 0)
    assert outcome(sqlite_db)["pending"] == 7 and outcome(sqlite_db)["running"] == 0
    assert events[-1].type == "run_end" and events[-1].data["status"] == "failed"
    with sqlite_db.session() as s:
        row = s.get(Run, summary.run_id)
        assert (row.status, row.error) == ("failed", "the engine stopped")


def test_stop_ends_the_run_interrupted_and_hands_back_the_rest(sqlite_db: Database, settings: Settings) -> None:
    store_messages(sqlite_db, [synthetic_message(i) for i in range(20)])
    ex = FakeExecutor(analyse(settings), slots=1)
    summary, events = run(sqlite_db, settings, ex, stop=lambda: len(ex.batches) >= 2)
    assert summary.status == "interrupted" and summary.done == 10
    assert outcome(sqlite_db) == {"emails": 20, "analyses": 10, "analysed": 10, "done": 10,
                                  "quarantined": 0, "pending": 10, "running": 0}
    assert events[-1].data["status"] == "interrupted"


def test_analyses_are_scored_with_the_settings_in_force_when_saved(sqlite_db: Database, settings: Settings) -> None:
    ids = store_messages(sqlite_db, [synthetic_message(i) for i in range(3)])
    with sqlite_db.session() as s:
        # Changed in the web UI after the engine was built from the environment's settings.
        apply_update(s, settings, SettingsUpdate(vip_senders=["sender1@example.org"]))
    run(sqlite_db, settings, FakeExecutor(analyse(settings)))
    with sqlite_db.session() as s:
        factors = {r.email_id: {f.name for f in load_scored(r).priority.factors} for r in s.scalars(select(AnalysisRow))}
    assert "vip" in factors[ids[1]] and "vip" not in factors[ids[0]] | factors[ids[2]]


def test_worker_events_become_run_events(sqlite_db: Database, settings: Settings) -> None:
    store_messages(sqlite_db, [synthetic_message(i) for i in range(2)])
    ex: FakeExecutor

    def killed_then_fine(batch: Batch) -> list[dict[str, Any]]:
        ex._emit("worker_killed", worker=4242, reason="hard_limit")
        return [fake_analysis(e, settings) for e in batch.emails]

    ex = FakeExecutor(killed_then_fine)
    _, events = run(sqlite_db, settings, ex)
    killed = [e for e in events if e.type == "worker_killed"]
    assert [(e.data["worker"], e.data["reason"]) for e in killed] == [(4242, "hard_limit")]
    assert events[-1].type == "run_end"
