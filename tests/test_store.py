"""Store behaviour that must be the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from beacon.analysis.priority import PriorityContext
from beacon.ingest.importer import import_items
from beacon.ingest.sources import RawItem
from beacon.parse import parse_message
from beacon.settings import Settings
from beacon.store import emails as store
from beacon.store.analyses import priority_context
from beacon.store.inbox import InboxFilter, inbox
from beacon.store.schema import AnalysisRow, AttachmentRow, EmailRow, RawMessage


def _raw(subject: str, date: str, *, sender: str = "a@example.com", to: str = "me@example.com",
         body: str = "Hello there.") -> bytes:
    return (f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: {date}\n"
            f"Message-ID: <{abs(hash((subject, date, sender)))}@t>\nContent-Type: text/plain; charset=utf-8\n\n{body}\n").encode()


def _import(db, raws: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    import_items(db, (RawItem(f"r{i}", r) for i, r in enumerate(raws)), account="me")


def test_dates_order_by_instant_not_wall_clock(any_db) -> None:  # type: ignore[no-untyped-def]
    # 10:00 in Tokyo is 01:00 UTC: earlier than 05:00 UTC although its wall clock is later.
    _import(any_db, [_raw("tokyo", "Mon, 01 Jan 2024 10:00:00 +0900"), _raw("utc", "Mon, 01 Jan 2024 05:00:00 +0000")])
    with any_db.session() as s:
        rows = store.recent_emails(s)
        assert [r.subject for r in rows] == ["utc", "tokyo"]
        tokyo = rows[1]
        assert tokyo.date == datetime(2024, 1, 1, 1, 0, tzinfo=timezone.utc)
        assert tokyo.date.utcoffset() == timedelta(0)
        # The sender's own offset survives in the Email itself.
        assert store.load_email(tokyo).date.utcoffset() == timedelta(hours=9)


def _analysis_rows(db, version: str) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        for row in s.scalars(select(EmailRow)):
            s.add(AnalysisRow(email_id=row.id, pipeline_version=version, score=50, level="MEDIUM",
                              kind="personal", category="Work", needs_reply=False, data={}))


def test_search_is_unicode_case_insensitive_and_literal(any_db) -> None:  # type: ignore[no-untyped-def]
    _import(any_db, [
        _raw("Angebot", "Mon, 01 Jan 2024 10:00:00 +0000", body="Herr Müller sagt: café au lait."),
        _raw("Discount", "Mon, 01 Jan 2024 11:00:00 +0000", body="Save 50% today on next_gen gear."),
        _raw("Other", "Mon, 01 Jan 2024 12:00:00 +0000", body="Save 500 dollars on nextXgen."),
    ])
    _analysis_rows(any_db, "v")
    with any_db.session() as s:
        def subjects(q: str) -> list[str]:
            return sorted(e.subject for e, _a in inbox(s, InboxFilter("v", search=q)))

        assert subjects("MÜLLER") == ["Angebot"]
        assert subjects("Café") == ["Angebot"]
        assert subjects("50%") == ["Discount"]  # % is a character, not a wildcard
        assert subjects("next_gen") == ["Discount"]  # so is _
        assert subjects("nnext") == []  # the JSON "\n" escape is not text


def test_correspondence_counts_whole_addresses(any_db) -> None:  # type: ignore[no-untyped-def]
    me = "me@example.com"
    _import(any_db, [
        _raw("to bob", "Mon, 01 Jan 2024 10:00:00 +0000", sender=me, to="bob@x.com"),
        _raw("to jimbob", "Mon, 01 Jan 2024 11:00:00 +0000", sender=me, to="jimbob@x.com, b_b@x.com"),
        _raw("from bob", "Mon, 01 Jan 2024 12:00:00 +0000", sender="bob@x.com", to=me),
    ])
    settings = Settings(own_addresses=[me])
    with any_db.session() as s:
        row = s.scalar(select(EmailRow).where(EmailRow.subject == "from bob"))
        ctx = priority_context(s, row, store.load_email(row), settings)
    assert ctx == PriorityContext(messages_from_sender=0, messages_to_sender=1, reader_in_thread=False)


def test_reparse_of_a_stored_message_is_stable(any_db) -> None:  # type: ignore[no-untyped-def]
    raw = _raw("stable", "Mon, 01 Jan 2024 10:00:00 +0000")
    _import(any_db, [raw])
    with any_db.session() as s:
        row = s.scalar(select(EmailRow))
        before = dict(row.data)
        store.update_parsed(s, row.id, parse_message(store.load_raw(s, row.id)))
        assert row.data == before


def test_raw_messages_come_back_whole(any_db) -> None:  # type: ignore[no-untyped-def]
    # Compressed by ISA-L, read back by the standard zlib: text mail, and a message that is
    # mostly a base64 attachment (random bytes: the stream barely shrinks).
    import base64
    import os

    text = _raw("text", "Mon, 01 Jan 2024 10:00:00 +0000", body="Quarterly numbers attached. " * 400)
    blob = base64.encodebytes(os.urandom(3 * 2**20))
    attached = (b"From: a@example.com\nTo: me@example.com\nSubject: blob\nMessage-ID: <blob@t>\n"
                b"Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nSee it.\n"
                b"--B\nContent-Type: application/octet-stream; name=blob.bin\nContent-Transfer-Encoding: base64\n\n"
                + blob + b"--B--\n")
    _import(any_db, [text, attached])
    with any_db.session() as s:
        rows = {row.subject: row.id for row in s.scalars(select(EmailRow))}
        assert store.load_raw(s, rows["text"]) == text
        assert store.load_raw(s, rows["blob"]) == attached
        assert len(s.get(RawMessage, rows["text"]).data) < len(text) / 5


def test_migration_keeps_attachments_stored_before(any_db) -> None:  # type: ignore[no-untyped-def]
    """Databases from before 0002 (attachment bytes stored twice) upgrade in place."""
    from alembic import command
    from sqlalchemy import text

    command.downgrade(any_db.alembic_config(), "0001")
    with any_db.sql_engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (id, name, kind, addresses, folders, created_at) "
                          "VALUES (1, 'old', 'local', '[]', '[]', CURRENT_TIMESTAMP)"))
        conn.execute(text(
            "INSERT INTO emails (id, account_id, message_id, message_id_synthetic, content_hash, thread_id, "
            "\"references\", subject, from_name, from_addr, recipients, date, date_source, size, has_attachments, "
            "problem_count, data, imported_at, seen, answered, flagged, deleted) VALUES (1, 1, 'm@x', false, 'h', "
            "'m@x', '[]', 's', '', '', '', CURRENT_TIMESTAMP, 'header', 1, true, 0, '{}', CURRENT_TIMESTAMP, "
            "false, false, false, false)"))
        conn.execute(text("INSERT INTO attachments (id, email_id, position, filename, content_type, size, sha256, "
                          "data) VALUES (1, 1, 0, 'a.bin', 'application/octet-stream', 3, 'x', :d)"), {"d": b"abc"})
    any_db.migrate()
    with any_db.session() as s:
        row = s.get(AttachmentRow, 1)
        assert row is not None and row.data == b"abc" and row.part is None
        assert store.attachment_bytes(s, 1, [row]) == {1: b"abc"}
        assert s.get(EmailRow, 1).folder is None
