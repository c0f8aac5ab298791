"""The CLI of time-is-now and conversations: ``beacon inbox --json`` (each email with its
thread id and its deadline judged now), ``--threads`` and ``beacon rescore [--due --now]``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from beacon.cli.main import app
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import AnalysisRow
from tests.test_triage_threads import ME, T0, analyse, analysed, mail, thread_mails
from tests.helpers import store_messages


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CliRunner, Database, dict[str, int]]]:
    """The contract thread and a newsletter, analysed in the CLI's own database."""
    monkeypatch.setenv("BEACON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BEACON_OWN_ADDRESSES", ME)
    db = Database(Settings().database_url_resolved)
    db.migrate()
    mails = thread_mails()
    ids = dict(zip(mails, store_messages(db, [m for m, _a in mails.values()])))
    analyse(db, ids, mails, list(mails), T0)
    yield CliRunner(), db, ids
    db.dispose()


def test_inbox_json_lists_every_email_with_its_thread_id(cli_db) -> None:  # type: ignore[no-untyped-def]
    cli, _db, ids = cli_db
    r = cli.invoke(app, ["inbox", "--json"])
    assert r.exit_code == 0, r.output
    items = {i["id"]: i for i in json.loads(r.stdout)}
    # The reader's own reply is not an inbox item (it still counts in its conversation).
    assert set(items) == set(ids.values()) - {ids["answer"]}
    assert len({items[ids[k]]["thread_id"] for k in ("ask", "again")}) == 1
    assert items[ids["news"]]["thread_id"] != items[ids["ask"]]["thread_id"]
    # The deadline (T0 + 4 days, a month ago and more) is judged against now: overdue.
    ask = items[ids["ask"]]
    assert ask["due_status"] == "overdue" and ask["due_label"].startswith("overdue ")
    assert "thread_count" not in ask


def test_inbox_threads_lists_conversations_with_their_counts(cli_db) -> None:  # type: ignore[no-untyped-def]
    cli, _db, ids = cli_db
    r = cli.invoke(app, ["inbox", "--threads", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(i["id"], i["thread_count"]) for i in rows] == [(ids["again"], 3), (ids["news"], 1)]
    table = cli.invoke(app, ["inbox", "--threads"], terminal_width=200)
    assert table.exit_code == 0 and "Msgs" in table.stdout and "2 of 2 conversations" in table.stdout


def test_rescore_due_moves_scores_with_the_clock_and_says_what_it_did(cli_db) -> None:  # type: ignore[no-untyped-def]
    cli, db, ids = cli_db
    # The contract thread was analysed a month ago: its deadline has lapsed since, and the
    # first pass catches up (the thread's three messages).
    catch_up = cli.invoke(app, ["rescore", "--due"])
    assert "Re-scored 3 analyses in 1 conversations (1 changed)." in catch_up.stdout, catch_up.output
    assert "Re-scored 0 analyses" in cli.invoke(app, ["rescore", "--due"]).stdout
    due = datetime.now(timezone.utc) + timedelta(days=1)
    # A fresh question with a deadline tomorrow, analysed at the time it came in.
    raw = mail("fresh", sender="Dana <dana@example.com>", to=ME, subject="Slides",
               at=datetime.now(timezone.utc) - timedelta(hours=1), body="Could you send the slides by tomorrow?")
    fresh = store_messages(db, [raw])[0]
    analyse(db, {"fresh": fresh}, {"fresh": (raw, analysed(True, due))}, ["fresh"], datetime.now(timezone.utc))

    def level_and_score() -> tuple[str, int]:
        with db.session() as s:
            a = s.scalar(select(AnalysisRow).where(AnalysisRow.email_id == fresh))
            return a.level, a.score  # type: ignore[union-attr]

    before = level_and_score()
    r = cli.invoke(app, ["rescore", "--due", "--now", (due + timedelta(days=3)).isoformat()])
    assert r.exit_code == 0, r.output
    assert "Re-scored 1 analyses in 1 conversations (1 changed)." in r.stdout
    after = level_and_score()
    assert after[1] < before[1]
    table = cli.invoke(app, ["inbox", "--json"])
    assert next(i for i in json.loads(table.stdout) if i["id"] == fresh)["score"] == after[1]
    # The full rescore takes every conversation (and judges against the real now).
    full = cli.invoke(app, ["rescore"])
    assert full.exit_code == 0 and "Re-scored 5 analyses in 3 conversations" in full.stdout


def test_rescore_refuses_a_time_it_cannot_read(cli_db) -> None:  # type: ignore[no-untyped-def]
    cli, _db, _ids = cli_db
    r = cli.invoke(app, ["rescore", "--due", "--now", "next tuesday"])
    assert r.exit_code == 2 and "not an ISO-8601 time" in r.output


def test_show_gives_the_conversation_and_the_deadline_judged_now(cli_db) -> None:  # type: ignore[no-untyped-def]
    cli, _db, ids = cli_db
    r = cli.invoke(app, ["show", str(ids["ask"])], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "Conversation (3 messages)" in r.stdout and f"▶ {ids['ask']}" in r.stdout
    assert "overdue" in r.stdout and "lapsed" in r.stdout  # the Due row and the deadline factor
