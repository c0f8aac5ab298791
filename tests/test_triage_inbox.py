"""The reader's states in the inbox and the search language, on SQLite and PostgreSQL: done and
snoozed mail leaves the inbox and ``is:done`` / ``is:snoozed`` find it, a woken snooze stands on
top of the first page (once) until acted on, the reader's own mail is no inbox item, the other
``is:`` states, undo, and another user's states never showing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from beacon.errors import Conflict, InvalidInput, NotFound
from beacon.store.analyses import save_analysis
from beacon.store.db import Database
from beacon.store.inbox import InboxFilter, inbox, inbox_count, inbox_page
from beacon.store.schema import AnalysisRow, EmailActionRow, EmailRow, User
from beacon.triage.actions import Action, apply_action, undo_action
from beacon.triage.hooks import after_actions
from beacon.triage.states import load_states
from tests.helpers import statements_sent, store_messages
from tests.test_priority import analysis as make_analysis

VERSION = "t"
NOW = datetime(2024, 6, 3, 9, 0, tzinfo=timezone.utc)
OWN = ("reader@example.com",)


def _mail(key: str, sender: str, subject: str, day: int, body: str = "Hello there.") -> bytes:
    return (f"From: {sender}\nTo: reader@example.com\nSubject: {subject}\nMessage-ID: <{key}@triage.test>\n"
            f"Date: Mon, {day} May 2024 10:00:00 +0000\n\n{body}\n").encode()


@dataclass
class Box:
    alice: int
    bob: int
    mail: dict[str, int]  # alice's, by key; score 90, 80, 70, ... in key order
    bobs: list[int]


KEYS = ["a", "b", "c", "d", "e", "f", "g", "h"]


@pytest.fixture
def box(any_db: Database) -> Box:
    return _box(any_db)


@pytest.fixture
def box_sqlite(sqlite_db: Database) -> Box:
    return _box(sqlite_db)


def _box(any_db: Database) -> Box:
    with any_db.session() as s:
        # Logins play no part here: users without a password hash to compute.
        users = [User(username=name, password_hash="-") for name in ("alice", "bob")]
        s.add_all(users)
        s.flush()
        alice, bob = (u.id for u in users)
    raws = [_mail(k, f"Sender {k} <s{k}@example.org>", f"Subject {k} quarterly", 1 + i) for i, k in enumerate(KEYS)]
    raws.append(_mail("own", "Reader <reader@example.com>", "Re: Subject a quarterly", 20))
    ids = store_messages(any_db, raws, account="inbox", user_id=alice)
    mail = dict(zip([*KEYS, "own"], ids))
    sent = store_messages(any_db, [_mail("sent", "Me <me@other.example>", "Sent from the Sent folder", 21)],
                          account="inbox", user_id=alice)[0]
    bobs = store_messages(any_db, [_mail(f"bob{i}", "Carol <carol@example.org>", "Bob's quarterly", 5) for i in range(3)],
                          account="inbox", user_id=bob)
    with any_db.session() as s:
        s.execute(update(EmailRow).where(EmailRow.id == sent).values(folder="Sent"))
        for n, email_id in enumerate([*ids, sent, *bobs]):
            row = save_analysis(s, email_id, make_analysis("personal", due_days=None, request=False), _settings())
            s.execute(update(AnalysisRow).where(AnalysisRow.id == row.id).values(score=90 - 10 * n, level="MEDIUM"))
    mail["sent"] = sent
    return Box(alice, bob, mail, bobs)


def _settings():  # noqa: ANN202
    from beacon.settings import Settings

    return Settings()


def ids_of(db: Database, user: int, query: str | None = None, now: datetime = NOW, **kw: object) -> list[int]:
    with db.session() as s:
        return [e.id for e, _ in inbox(s, InboxFilter(pipeline_version=VERSION, search=query, scope=user, now=now,
                                                      own_addresses=OWN, **kw), limit=None)]


def keys_of(box: Box, ids: list[int]) -> list[str]:
    by_id = {v: k for k, v in box.mail.items()}
    return [by_id.get(i, f"#{i}") for i in ids]


def act(db: Database, user: int, keys: list[str] | list[int], action: Action, box: Box, **kw: object) -> list:
    with db.session() as s:
        ids = [box.mail[k] if isinstance(k, str) else k for k in keys]
        return apply_action(s, user, ids, action, now=kw.pop("now", NOW), **kw)  # type: ignore[arg-type]


def test_the_inbox_leaves_out_the_readers_own_mail(any_db: Database, box: Box) -> None:
    assert keys_of(box, ids_of(any_db, box.alice)) == KEYS
    with any_db.session() as s:
        f = InboxFilter(pipeline_version=VERSION, scope=box.alice, now=NOW, own_addresses=OWN)
        assert inbox_count(s, f).n == len(KEYS)
    # A search finds all mail, the reader's own too; so does --all.
    assert set(keys_of(box, ids_of(any_db, box.alice, "quarterly"))) == {*KEYS, "own"}
    assert set(keys_of(box, ids_of(any_db, box.alice, include_hidden=True))) == {*KEYS, "own", "sent"}


def test_mail_without_a_sender_address_is_no_ones_own(any_db: Database, box: Box) -> None:
    raw = b"From: foo\nTo: bar\nSubject: bounce\nMessage-ID: <nosender@triage.test>\n\nUndeliverable.\n"
    [email] = store_messages(any_db, [raw], account="inbox", user_id=box.bob)
    with any_db.session() as s:
        save_analysis(s, email, make_analysis("personal", due_days=None, request=False), _settings())
        rows = inbox(s, InboxFilter(pipeline_version=VERSION, scope=box.bob, now=NOW), limit=None)
    assert email in [e.id for e, _ in rows]


def test_done_leaves_the_inbox_and_is_done_finds_it(any_db: Database, box: Box) -> None:
    act(any_db, box.alice, ["a", "c"], Action.DONE, box)
    assert keys_of(box, ids_of(any_db, box.alice)) == ["b", "d", "e", "f", "g", "h"]
    assert keys_of(box, ids_of(any_db, box.alice, "is:done")) == ["a", "c"]
    assert keys_of(box, ids_of(any_db, box.alice, "-is:done")) == ["b", "d", "e", "f", "g", "h"]
    assert "a" in keys_of(box, ids_of(any_db, box.alice, "quarterly"))  # words search done mail too
    with any_db.session() as s:
        assert inbox_count(s, InboxFilter(pipeline_version=VERSION, scope=box.alice, now=NOW, own_addresses=OWN)).n == 6
    act(any_db, box.alice, ["a"], Action.UNDONE, box)
    assert keys_of(box, ids_of(any_db, box.alice, "is:done")) == ["c"]
    assert "a" in keys_of(box, ids_of(any_db, box.alice))


def test_a_snooze_hides_until_it_wakes_then_stands_on_top_until_acted_on(any_db: Database, box: Box) -> None:
    act(any_db, box.alice, ["g"], Action.SNOOZE, box, until=NOW + timedelta(hours=2))
    assert "g" not in keys_of(box, ids_of(any_db, box.alice))
    assert keys_of(box, ids_of(any_db, box.alice, "is:snoozed")) == ["g"]
    later = NOW + timedelta(hours=3)
    assert ids_of(any_db, box.alice, "is:snoozed", now=later) == []
    # Woken: first on page 1 (in every order but oldest-first), and on no other page.
    assert keys_of(box, ids_of(any_db, box.alice, now=later)) == ["g", "a", "b", "c", "d", "e", "f", "h"]
    assert keys_of(box, ids_of(any_db, box.alice, now=later, sort="date"))[0] == "g"
    with any_db.session() as s:
        f = InboxFilter(pipeline_version=VERSION, scope=box.alice, now=later, own_addresses=OWN)
        p1 = inbox_page(s, f, limit=3)
        p2 = inbox_page(s, f, limit=3, cursor=p1.next_cursor)
        assert keys_of(box, [e.id for e, _ in p1.rows + p2.rows]) == ["g", "a", "b", "c", "d", "e", "f"]
        assert inbox_count(s, f).n == 8
    # Filters still apply to it; once the reader acts on it, it is back at its own rank.
    assert ids_of(any_db, box.alice, "level:high", now=later) == []
    act(any_db, box.alice, ["g"], Action.READ, box, now=later)
    assert keys_of(box, ids_of(any_db, box.alice, now=later)) == ["a", "b", "c", "d", "e", "f", "g", "h"]


def test_snooze_needs_a_future_time_and_until_fits_only_snooze(any_db: Database, box: Box) -> None:
    for kw in ({}, {"until": NOW}, {"until": NOW - timedelta(days=1)}, {"until": datetime(2030, 1, 1)}):
        with pytest.raises(InvalidInput):
            act(any_db, box.alice, ["a"], Action.SNOOZE, box, **kw)
    with pytest.raises(InvalidInput):
        act(any_db, box.alice, ["a"], Action.DONE, box, until=NOW + timedelta(days=1))
    with pytest.raises(InvalidInput):
        act(any_db, box.alice, ["a"], "archive", box)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        act(any_db, box.alice, [], Action.DONE, box)


def test_each_is_state(any_db: Database, box: Box) -> None:
    act(any_db, box.alice, ["b", "d"], Action.READ, box)
    act(any_db, box.alice, ["c"], Action.IMPORTANT, box)
    act(any_db, box.alice, ["e", "f"], Action.NOT_IMPORTANT, box)
    act(any_db, box.alice, ["g", "b"], Action.REPLIED, box)
    expected = {"is:read": ["b", "d"], "is:unread": ["a", "c", "e", "f", "g", "h"], "is:important": ["c"],
                "is:not-important": ["e", "f"], "is:unimportant": ["e", "f"], "is:replied": ["b", "g"],
                "is:read is:replied": ["b"], "is:unread -is:not-important": ["a", "c", "g", "h"]}
    found = {q: keys_of(box, ids_of(any_db, box.alice, q)) for q in expected}
    assert found == expected
    act(any_db, box.alice, ["b"], Action.UNREAD, box)
    act(any_db, box.alice, ["e"], Action.CLEAR_IMPORTANCE, box)
    assert keys_of(box, ids_of(any_db, box.alice, "is:read")) == ["d"]
    assert keys_of(box, ids_of(any_db, box.alice, "is:not-important")) == ["f"]


def test_important_is_the_readers_mark_else_the_server_flag_or_high(any_db: Database, box: Box) -> None:
    with any_db.session() as s:
        s.execute(update(AnalysisRow).where(AnalysisRow.email_id == box.mail["e"]).values(level="HIGH"))
        s.execute(update(EmailRow).where(EmailRow.id == box.mail["f"]).values(flagged=True))
    assert keys_of(box, ids_of(any_db, box.alice, "is:important")) == ["e", "f"]
    act(any_db, box.alice, ["e"], Action.NOT_IMPORTANT, box)
    act(any_db, box.alice, ["h"], Action.IMPORTANT, box)
    assert keys_of(box, ids_of(any_db, box.alice, "is:important")) == ["f", "h"]


def test_another_users_mail_cannot_be_acted_on_and_their_states_never_show(any_db: Database, box: Box) -> None:
    act(any_db, box.bob, box.bobs[:2], Action.DONE, box)
    assert ids_of(any_db, box.alice, "is:done") == []
    assert ids_of(any_db, box.bob, "is:done") == box.bobs[:2]
    with pytest.raises(NotFound):
        act(any_db, box.alice, [box.bobs[2]], Action.DONE, box)
    with pytest.raises(NotFound):
        act(any_db, box.alice, ["a", box.bobs[2]], Action.DONE, box)
    with any_db.session() as s:
        assert load_states(s, [box.mail["a"], box.bobs[2]])[box.mail["a"]].done_at is None  # nothing half-done
        action_id = s.scalars(select(EmailActionRow.id).where(EmailActionRow.email_id == box.bobs[0])).one()
        with pytest.raises(NotFound):
            undo_action(s, box.alice, action_id)


def test_undo_restores_what_the_action_changed_and_refuses_out_of_order(any_db: Database, box: Box) -> None:
    [first] = act(any_db, box.alice, ["a"], Action.SNOOZE, box, until=NOW + timedelta(days=1))
    [done] = act(any_db, box.alice, ["a"], Action.DONE, box)
    assert first.state.snoozed_until is not None and done.state.snoozed_until is None and done.user_id == box.alice
    with any_db.session() as s:
        with pytest.raises(Conflict):
            undo_action(s, box.alice, first.id)  # done replaced the snooze: undo done first
        undone = undo_action(s, box.alice, done.id, now=NOW)
        assert undone.undone_at == NOW and undone.imap_synced_at is None
        assert undone.state.done_at is None and undone.state.snoozed_until == NOW + timedelta(days=1)
        with pytest.raises(Conflict):
            undo_action(s, box.alice, done.id)
        assert undo_action(s, box.alice, first.id).state.snoozed_until is None
    assert "a" in keys_of(box, ids_of(any_db, box.alice))


def test_hooks_get_every_applied_and_undone_record(any_db: Database, box: Box) -> None:
    seen: list[tuple[int, str, bool]] = []

    def hook(s: object, records: object, settings: object) -> None:
        seen.extend((r.email_id, r.action.value, r.undone_at is not None) for r in records)  # type: ignore[attr-defined]

    records = act(any_db, box.alice, ["a", "b"], Action.DONE, box)
    with any_db.session() as s:
        after_actions(s, records, hooks=(hook,))
        after_actions(s, [undo_action(s, box.alice, records[0].id)], hooks=(hook,))
    assert seen == [(box.mail["a"], "done", False), (box.mail["b"], "done", False), (box.mail["a"], "done", True)]


def test_page_one_stays_an_index_walk_with_states_left_out(sqlite_db: Database, box_sqlite: Box) -> None:
    """The statement that lists page 1 walks the reader's open range of the priority index
    (done and snoozed mail is never read) and each row's email by primary key: no sort, no
    pass over a table."""
    act(sqlite_db, box_sqlite.alice, ["a"], Action.DONE, box_sqlite)
    act(sqlite_db, box_sqlite.alice, ["b"], Action.SNOOZE, box_sqlite, until=NOW + timedelta(days=1))
    with statements_sent(sqlite_db) as statements, sqlite_db.session() as s:
        inbox_page(s, InboxFilter(pipeline_version=VERSION, scope=box_sqlite.alice, now=NOW, own_addresses=OWN))
    walk, params = next((st, p) for st, p in statements if "ORDER BY analyses.score DESC" in st)
    with sqlite_db.session() as s:
        plan = [row[3] for row in s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + walk, params)]
    assert any("ix_analyses_priority" in p for p in plan), plan
    # One reader's open mail is one range: done and snoozed mail is never read, nor any state.
    assert any("ix_analyses_priority (pipeline_version=? AND user_id=? AND away=?)" in p for p in plan), plan
    assert not any("email_states" in p for p in plan), plan
    assert not any("TEMP B-TREE" in p for p in plan), plan
    assert not any(p.startswith("SCAN") and "USING" not in p for p in plan), plan
