"""Beacon tells the reader replied from the mail itself: their own message in the thread (from
one of their addresses, or filed in a Sent folder) marks the earlier mail replied, in whichever
order the two are stored; the server's \\Answered does too (real Dovecot). The reader's own
messages are no inbox items (tests/test_triage_inbox.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from beacon.imap.sync import sync_account
from beacon.ingest.importer import import_items
from beacon.ingest.sources import RawItem
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import EmailActionRow, EmailRow, User
from beacon.triage.states import load_states
from tests.imapserver import ACCOUNT, DovecotServer, add_account, make_settings

OWN = "reader@example.com"


def _mail(key: str, sender: str, day: int, *, reply_to: str | None = None, subject: str = "Budget") -> bytes:
    head = f"From: {sender}\nTo: someone@example.org\nSubject: {subject}\nMessage-ID: <{key}@replies.test>\n"
    if reply_to:
        head += f"In-Reply-To: <{reply_to}@replies.test>\nReferences: <{reply_to}@replies.test>\n"
    return (head + f"Date: Mon, {day} Jun 2024 10:00:00 +0000\n\nText of {key}.\n").encode()


def _import(db: Database, raws: dict[str, bytes], settings: Settings | None, folder: str | None = None) -> None:
    items = [RawItem(key, raw, folder=folder) for key, raw in raws.items()]
    summary = import_items(db, items, account="inbox", user_id=1, settings=settings)
    assert summary.imported == len(raws)


def _replied(db: Database) -> dict[str, tuple[datetime | None, str | None]]:
    """key -> (replied at, the source of the action that said so)."""
    with db.session() as s:
        rows = {r.message_id.split("@")[0]: r.id for r in s.scalars(select(EmailRow))}
        states = load_states(s, rows.values())
        sources = dict(s.execute(select(EmailActionRow.email_id, EmailActionRow.source)
                                 .where(EmailActionRow.action == "replied")).all())
    return {k: (states[i].replied_at, sources.get(i)) for k, i in rows.items()}


def _user(db: Database) -> None:
    with db.session() as s:
        s.add(User(id=1, username="reader", password_hash="-"))


def test_an_own_reply_marks_the_mail_it_answers_whichever_comes_first(any_db: Database) -> None:
    _user(any_db)
    settings = Settings(own_addresses=[OWN])
    _import(any_db, {"ask": _mail("ask", "Dana <dana@example.org>", 3),
                     "other": _mail("other", "Eve <eve@example.org>", 3, subject="Unrelated")}, settings)
    _import(any_db, {"re-ask": _mail("re-ask", f"Reader <{OWN}>", 4, reply_to="ask")}, settings)
    # The reply came from the Sent folder first, from an address Beacon was not told of.
    _import(any_db, {"re-late": _mail("re-late", "Me <me@elsewhere.example>", 8, reply_to="late")}, None, "Sent")
    _import(any_db, {"late": _mail("late", "Finn <finn@example.org>", 7),
                     "after": _mail("after", "Dana <dana@example.org>", 9, reply_to="re-late")}, settings)
    found = _replied(any_db)
    assert found["ask"] == (datetime(2024, 6, 4, 10, 0, tzinfo=timezone.utc), "auto")
    assert found["late"] == (datetime(2024, 6, 8, 10, 0, tzinfo=timezone.utc), "auto")
    # Mail after the last reply is not answered; the reader's own mail is not "replied" either.
    for key in ("other", "after", "re-ask", "re-late"):
        assert found[key] == (None, None), key


def test_answered_on_the_server_and_a_sent_folder_mark_replies(sqlite_db: Database, dovecot: DovecotServer,
                                                               tmp_path: Path) -> None:
    _user(sqlite_db)
    user = dovecot.add_user()
    with dovecot.client(user) as c:
        c.create_folder("Sent")
        c.append("INBOX", _mail("flagged", "Gil <gil@example.org>", 3), flags=[b"\\Answered"])
        c.append("INBOX", _mail("asked", "Hana <hana@example.org>", 3))
        c.append("INBOX", _mail("plain", "Ivo <ivo@example.org>", 3, subject="Other"))
        c.append("Sent", _mail("re-asked", f"Reader <{user.name}@localhost>", 5, reply_to="asked"))
    settings = make_settings(tmp_path, sqlite_db, dovecot)
    add_account(sqlite_db, settings, dovecot, user, folders=("INBOX", "Sent"))
    result = sync_account(sqlite_db, settings, ACCOUNT)
    assert result.total("new") == 4
    found = _replied(sqlite_db)
    assert found["flagged"][1] == "imap" and found["flagged"][0] is not None
    assert found["asked"] == (datetime(2024, 6, 5, 10, 0, tzinfo=timezone.utc), "auto")
    assert found["plain"] == (None, None) and found["re-asked"] == (None, None)


def test_replies_within_one_import_batch_among_many_threads(sqlite_db: Database) -> None:
    """Mail and the reader's replies to it stored in the same batch, among unrelated threads:
    the earliest reply after each message counts; a reply before it does not."""
    _user(sqlite_db)
    settings = Settings(own_addresses=[OWN])
    raws = {
        "q1": _mail("q1", "Dana <dana@example.org>", 3),
        "r1": _mail("r1", f"Reader <{OWN}>", 4, reply_to="q1"),
        "q2": _mail("q2", "Eve <eve@example.org>", 5, subject="Trip"),
        "r2b": _mail("r2b", f"Reader <{OWN}>", 7, reply_to="q2"),
        "r2a": _mail("r2a", f"Reader <{OWN}>", 6, reply_to="q2"),
        "r3": _mail("r3", f"Reader <{OWN}>", 8, subject="Offer"),
        "q3": _mail("q3", "Finn <finn@example.org>", 9, reply_to="r3"),
        **{f"n{i}": _mail(f"n{i}", f"N{i} <n{i}@example.org>", 10 + i % 9, subject=f"News {i}") for i in range(60)},
    }
    _import(sqlite_db, raws, settings)
    found = _replied(sqlite_db)
    assert found["q1"] == (datetime(2024, 6, 4, 10, 0, tzinfo=timezone.utc), "auto")
    assert found["q2"] == (datetime(2024, 6, 6, 10, 0, tzinfo=timezone.utc), "auto")
    assert found["q3"] == (None, None)  # the reader wrote first; Finn's answer is not replied to
    assert [k for k, v in found.items() if v != (None, None)] == ["q1", "q2"]
