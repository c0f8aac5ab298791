"""The analyses' copies that make one reader's inbox one index range (``user_id``, ``away``,
``is_read``), on SQLite and PostgreSQL: they follow every action, undo, a woken snooze acted on,
a re-analysis and the first user adopting unowned mail; migrations 0010 and 0019 fill them in
an existing database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, select, text
from sqlalchemy import inspect as sa_inspect

from beacon.settings import Settings
from beacon.store.analyses import save_analysis
from beacon.store.db import Database
from beacon.store.inbox import Count, InboxFilter, inbox_count
from beacon.store.schema import AnalysisRow, Base
from beacon.store import tenancy
from beacon.store.tenancy import adopt_unowned
from beacon.triage.actions import Action, undo_action
from tests.helpers import store_messages
from tests.test_priority import analysis as make_analysis
from tests.test_triage_inbox import NOW, OWN, VERSION, Box, act, box, ids_of, keys_of  # noqa: F401 - box: a fixture


def _copies(db: Database, box: Box) -> dict[str, tuple[int | None, bool]]:
    by_id = {v: k for k, v in box.mail.items()}
    with db.session() as s:
        rows = s.execute(select(AnalysisRow.email_id, AnalysisRow.user_id, AnalysisRow.away)
                         .where(AnalysisRow.email_id.in_(by_id))).all()
    return {by_id[e]: (u, bool(a)) for e, u, a in rows}


def _away(db: Database, box: Box) -> set[str]:
    return {k for k, (_, away) in _copies(db, box).items() if away}


def test_the_copies_follow_actions_undo_wakes_and_reanalysis(any_db: Database, box: Box) -> None:
    assert {u for u, _ in _copies(any_db, box).values()} == {box.alice} and _away(any_db, box) == set()
    (done,) = act(any_db, box.alice, ["a"], Action.DONE, box)
    act(any_db, box.alice, ["b"], Action.SNOOZE, box, until=NOW + timedelta(hours=2))
    assert _away(any_db, box) == {"a", "b"}
    # A new analysis of done mail (another pipeline run) keeps it out of the inbox.
    with any_db.session() as s:
        save_analysis(s, box.mail["a"], make_analysis("personal", due_days=None, request=False), Settings())
    assert _away(any_db, box) == {"a", "b"}
    with any_db.session() as s:
        undo_action(s, box.alice, done.id, now=NOW)
    assert _away(any_db, box) == {"b"}
    # Woken, not acted on: still off the walk (it stands on top of page 1 instead) ...
    later = NOW + timedelta(hours=3)
    listed = keys_of(box, ids_of(any_db, box.alice, now=later))
    assert _away(any_db, box) == {"b"} and listed[0] == "b" and listed.count("b") == 1 and "a" in listed
    # ... until the reader acts on it; then it is back at its own rank, on the walk.
    act(any_db, box.alice, ["b"], Action.READ, box, now=later)
    listed = keys_of(box, ids_of(any_db, box.alice, now=later))
    assert _away(any_db, box) == set() and listed.index("b") == listed.index("c") - 1
    act(any_db, box.alice, ["c"], Action.DONE, box)
    act(any_db, box.alice, ["c"], Action.UNDONE, box)
    assert _away(any_db, box) == set()


def test_unowned_mail_is_adopted_with_its_analyses(any_db: Database) -> None:
    (eid,) = store_messages(any_db, [b"From: a@example.org\nSubject: hi\nMessage-ID: <u@x>\n\nHello.\n"],
                            account="before")
    with any_db.session() as s:
        save_analysis(s, eid, make_analysis("personal", due_days=None, request=False), Settings())
        assert s.scalar(select(AnalysisRow.user_id).where(AnalysisRow.email_id == eid)) is None
        s.execute(text("INSERT INTO users (id, username, password_hash, created_at) VALUES "
                       "(7, 'first', '-', CURRENT_TIMESTAMP)"))
        adopt_unowned(s, 7)
        assert s.scalar(select(AnalysisRow.user_id).where(AnalysisRow.email_id == eid)) == 7
    assert ids_of(any_db, 7) == [eid]  # the first user's inbox walk finds it


def test_a_large_adoption_rebuilds_the_owner_indexes(any_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past REBUILD_ABOVE unowned analyses the owner's indexes are dropped and built again
    around the update: the same indexes after, the same result, the inbox walks them."""
    raws = [f"From: a{i}@example.org\nSubject: hi {i}\nMessage-ID: <big{i}@x>\n\nHello.\n".encode() for i in range(3)]
    ids = store_messages(any_db, raws, account="before")
    with any_db.session() as s:
        for eid in ids:
            save_analysis(s, eid, make_analysis("personal", due_days=None, request=False), Settings())
    before = {ix["name"]: ix["column_names"] for ix in sa_inspect(any_db.sql_engine).get_indexes("analyses")}
    owner = {name for name, cols in before.items() if "user_id" in cols}
    assert len(owner) >= 7
    monkeypatch.setattr(tenancy, "REBUILD_ABOVE", 2)
    dropped: list[str] = []
    real_drop = Index.drop
    monkeypatch.setattr(Index, "drop", lambda ix, bind, **kw: (dropped.append(ix.name), real_drop(ix, bind, **kw)))
    with any_db.session() as s:
        s.execute(text("INSERT INTO users (id, username, password_hash, created_at) VALUES "
                       "(7, 'first', '-', CURRENT_TIMESTAMP)"))
        adopt_unowned(s, 7)
    assert set(dropped) == owner  # rebuilt, not updated in place
    after = {ix["name"]: ix["column_names"] for ix in sa_inspect(any_db.sql_engine).get_indexes("analyses")}
    assert after == before
    with any_db.session() as s:
        assert set(s.scalars(select(AnalysisRow.user_id))) == {7}
    assert sorted(ids_of(any_db, 7)) == sorted(ids)


def test_0010_fills_the_copies_of_an_existing_database(any_db: Database, box: Box) -> None:
    act(any_db, box.alice, ["a"], Action.DONE, box)
    act(any_db, box.alice, ["b"], Action.SNOOZE, box, until=NOW + timedelta(hours=2))
    before = keys_of(box, ids_of(any_db, box.alice))
    command.downgrade(any_db.alembic_config(), "0008")  # the database as 0008 left it
    with any_db.sql_engine.connect() as c:
        assert "away" not in {r for r in c.execute(select(text("*")).select_from(text("analyses")).limit(0)).keys()}
    any_db.migrate()
    copies = _copies(any_db, box)
    assert {u for u, _ in copies.values()} == {box.alice}
    assert {k for k, (_, away) in copies.items() if away} == {"a", "b"}
    assert keys_of(box, ids_of(any_db, box.alice)) == before and "a" not in before and "b" not in before


def _read(db: Database, box: Box) -> set[str]:
    by_id = {v: k for k, v in box.mail.items()}
    with db.session() as s:
        return {by_id[e] for e in s.scalars(select(AnalysisRow.email_id).where(AnalysisRow.is_read.is_(True)))
                if e in by_id}


def _unread_count(db: Database, box: Box) -> Count:
    with db.session() as s:
        return inbox_count(s, InboxFilter(pipeline_version=VERSION, search="is:unread", scope=box.alice,
                                          own_addresses=OWN))


def test_the_read_copy_follows_read_unread_undo_and_reanalysis(any_db: Database, box: Box) -> None:
    assert _read(any_db, box) == set() and _unread_count(any_db, box) == Count(8, True)
    act(any_db, box.alice, ["a", "b"], Action.READ, box)
    (unread,) = act(any_db, box.alice, ["b"], Action.UNREAD, box)
    assert _read(any_db, box) == {"a"}
    # One index range: the count is exact (it was an estimate from a sample) and the pages agree.
    assert _unread_count(any_db, box) == Count(7, True)
    assert keys_of(box, ids_of(any_db, box.alice, "is:unread")) == ["b", "c", "d", "e", "f", "g", "h"]
    assert keys_of(box, ids_of(any_db, box.alice, "is:read")) == ["a"]
    with any_db.session() as s:  # a new analysis keeps the mark
        save_analysis(s, box.mail["a"], make_analysis("personal", due_days=None, request=False), Settings())
    assert _read(any_db, box) == {"a"}
    with any_db.session() as s:
        undo_action(s, box.alice, unread.id, now=NOW)
    assert _read(any_db, box) == {"a", "b"}
    # Done mail marked read keeps both copies; undone, it is read mail in the inbox again.
    act(any_db, box.alice, ["a"], Action.DONE, box)
    assert _read(any_db, box) == {"a", "b"} and _away(any_db, box) == {"a"}
    act(any_db, box.alice, ["a"], Action.UNDONE, box)
    assert sorted(keys_of(box, ids_of(any_db, box.alice, "is:read"))) == ["a", "b"]  # (a rescored)


def test_0019_fills_the_read_copy_of_an_existing_database(any_db: Database, box: Box) -> None:
    act(any_db, box.alice, ["a", "c"], Action.READ, box)
    act(any_db, box.alice, ["b"], Action.DONE, box)
    before = {q: keys_of(box, ids_of(any_db, box.alice, q)) for q in ("is:read", "is:unread", None)}
    command.downgrade(any_db.alembic_config(), "0018")  # the database as 0018 left it
    with any_db.sql_engine.connect() as c:
        assert "is_read" not in {r for r in c.execute(select(text("*")).select_from(text("analyses")).limit(0)).keys()}
        assert "ix_analyses_email_id" in {ix["name"] for ix in sa_inspect(c).get_indexes("analyses")}
    any_db.migrate()
    assert _read(any_db, box) == {"a", "c"}
    assert {q: keys_of(box, ids_of(any_db, box.alice, q)) for q in before} == before
    assert before["is:read"] == ["a", "c"]
    with any_db.sql_engine.connect() as c:  # the migration builds what the schema declares
        diffs = compare_metadata(MigrationContext.configure(c), Base.metadata)
    assert [d for d in diffs if "analyses" in repr(d)] == []
