"""The durable job queue (beacon.store.jobs) on SQLite and PostgreSQL: claims, leases, fencing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select, update

from beacon.store.owner import make_owner, owner_is_dead
from beacon.store import jobs
from beacon.store.db import Database
from beacon.store.schema import AnalysisJob, AnalysisRow
from tests.helpers import import_corpus

V = "test-version"


def test_enqueue_is_idempotent_and_skips_analysed(any_db: Database, tmp_path: Path) -> None:
    n = import_corpus(any_db, tmp_path, 6)
    with any_db.session() as s:
        assert jobs.enqueue_missing(s, V) == n
    with any_db.session() as s:
        assert jobs.enqueue_missing(s, V) == 0
        assert jobs.counts(s, V) == {"pending": n, "running": 0, "done": 0, "quarantined": 0}
        assert jobs.enqueue_missing(s, "other-version") == n  # one row per email per version


def test_claim_leases_bumps_attempts_and_never_hands_out_twice(any_db: Database, tmp_path: Path) -> None:
    import_corpus(any_db, tmp_path, 7)
    with any_db.session() as s:
        jobs.enqueue_missing(s, V)
    a, b = make_owner(), make_owner()
    with any_db.session() as s:
        first = jobs.claim(s, V, a, 4, 60)
    with any_db.session() as s:
        second = jobs.claim(s, V, b, 10, 60)
    assert len(first) == 4 and len(second) == 3
    assert not {j.job_id for j in first} & {j.job_id for j in second}
    assert all(j.attempts == 1 for j in first + second)
    with any_db.session() as s:
        assert jobs.claim(s, V, a, 10, 60) == []
        # Fencing: only the lease owner can finish a job.
        assert jobs.complete(s, [first[0].job_id], b) == set()
        assert jobs.complete(s, [first[0].job_id, second[0].job_id], a) == {first[0].job_id}
        assert jobs.complete(s, [first[0].job_id], a) == set()  # already done
        assert jobs.release(s, [first[1].job_id], a, error="boom") == 1
        assert jobs.quarantine(s, first[2].job_id, a, "poison")
    with any_db.session() as s:
        again = jobs.claim(s, V, b, 10, 60)
        assert [j.job_id for j in again] == [first[1].job_id]
        assert again[0].attempts == 2
        row = s.get(AnalysisJob, first[2].job_id)
        assert (row.status, row.last_error) == ("quarantined", "poison")
        assert jobs.counts(s, V) == {"pending": 0, "running": 5, "done": 1, "quarantined": 1}
        assert jobs.requeue_quarantined(s, V) == 1


def test_recover_stale_returns_dead_and_expired_leases(any_db: Database, tmp_path: Path) -> None:
    import_corpus(any_db, tmp_path, 3)
    with any_db.session() as s:
        jobs.enqueue_missing(s, V)
    dead = make_owner().rsplit(":", 3)
    dead_owner = ":".join([dead[0], "999999999", dead[2], dead[3]])  # no such pid
    live, expired = make_owner(), make_owner()
    with any_db.session() as s:
        j1 = jobs.claim(s, V, dead_owner, 1, 600)
        j2 = jobs.claim(s, V, live, 1, 600)
        j3 = jobs.claim(s, V, expired, 1, 600)
        s.execute(update(AnalysisJob).where(AnalysisJob.id == j3[0].job_id)
                  .values(lease_expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    assert owner_is_dead(dead_owner) and not owner_is_dead(live)
    with any_db.session() as s:
        assert jobs.recover_stale(s, owner_is_dead) == 2
    with any_db.session() as s:
        status = dict(s.execute(select(AnalysisJob.id, AnalysisJob.status)).all())
    assert status == {j1[0].job_id: "pending", j2[0].job_id: "running", j3[0].job_id: "pending"}


def test_done_job_whose_analysis_vanished_is_reopened(any_db: Database, tmp_path: Path) -> None:
    import_corpus(any_db, tmp_path, 2)
    owner = make_owner()
    with any_db.session() as s:
        jobs.enqueue_missing(s, V)
        claimed = jobs.claim(s, V, owner, 2, 60)
        assert jobs.complete(s, [j.job_id for j in claimed], owner) == {j.job_id for j in claimed}
    with any_db.session() as s:
        assert s.scalar(select(AnalysisRow.id)) is None  # no analysis rows were written
        assert jobs.enqueue_missing(s, V) == 2
        assert jobs.counts(s, V)["pending"] == 2
