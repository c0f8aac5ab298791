"""The importer's driver-level inserts on SQLite (beacon.store.row_insert) and the ids they get."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import insert

from beacon.parse import parse_message
from beacon.store import emails as store
from beacon.store import row_insert
from beacon.store.rows import new_email
from beacon.store.schema import AttachmentRow, EmailRow
from tests.helpers import synthetic_message

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)

WITH_ATTACHMENT = (
    b"From: Ann <ann@example.org>\nTo: b@example.org, C <c@example.org>\nCc: d@example.org\n"
    b"Subject: deck\nMessage-ID: <att@example.org>\nIn-Reply-To: <x@example.org>\n"
    b"References: <w@example.org> <x@example.org>\nDate: Tue, 2 Jan 2024 10:00:00 +0900\n"
    b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\n"
    b"See the deck.\n--B\nContent-Type: application/pdf; name=deck.pdf\nContent-Transfer-Encoding: base64\n\n"
    b"JVBERi0xLjQK\n--B--\n"
)


def _new(raw: bytes, source: str, folder: str | None = None) -> store.NewEmail:
    return new_email(parse_message(raw, fallback_date=NOW, keep_attachments=False), raw, source=source, folder=folder)


def _stored(db, table, where: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    """The values as stored (no type conversion), in the model's column order."""
    cols = ", ".join(f'"{c.name}"' for c in table.columns)
    with db.sql_engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT {cols} FROM {table.name} WHERE {where} ORDER BY 1")]


def test_rows_are_stored_as_sqlalchemy_stores_them(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    news = [_new(WITH_ATTACHMENT, "a.eml", "INBOX"), _new(synthetic_message(1), "b.eml"),
            _new(b"Subject: no date, no sender\n\nhi\n", "c.eml")]
    with sqlite_db.session() as s:
        orm, fast = (store.get_or_create_account(s, name).id for name in ("orm", "fast"))
        conn = s.connection()
        assert row_insert.supported(conn)
        conn.execute(insert(EmailRow.__table__), [{**n.columns, "account_id": orm} for n in news])
        row_insert.insert_rows(conn, EmailRow.__table__, [{**n.columns, "account_id": fast} for n in news])
        attachments = [{**a, "email_id": 1} for a in news[0].attachments]
        assert attachments
        conn.execute(insert(AttachmentRow.__table__), attachments)
        row_insert.insert_rows(conn, AttachmentRow.__table__, [{**a, "email_id": 4} for a in attachments])

    def comparable(rows: list[tuple]) -> list[tuple]:
        # Leaves out the id, the account and imported_at (the time of each insert).
        names = [c.key for c in EmailRow.__table__.columns]
        skip = {names.index(k) for k in ("id", "account_id", "imported_at")}
        return [tuple(v for i, v in enumerate(r) if i not in skip) for r in rows]

    by_orm = _stored(sqlite_db, EmailRow.__table__, f"account_id = {orm}")
    by_fast = _stored(sqlite_db, EmailRow.__table__, f"account_id = {fast}")
    assert len(by_fast) == 3 and comparable(by_fast) == comparable(by_orm)
    when = [c.key for c in EmailRow.__table__.columns].index("imported_at")
    assert all(len(a[when]) == len(b[when]) for a, b in zip(by_orm, by_fast))  # the same text form
    atts = _stored(sqlite_db, AttachmentRow.__table__, "1")
    assert [a[2:] for a in atts[:1]] == [a[2:] for a in atts[1:]]  # all but the row id and email id
    with sqlite_db.session() as s:
        tokyo = s.get(EmailRow, by_fast[0][0])
        assert tokyo.date == datetime(2024, 1, 2, 1, 0, tzinfo=timezone.utc)  # stored as UTC
        assert tokyo.references == ["w@example.org", "x@example.org"]


def test_a_batch_gets_the_ids_of_its_rows(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    first = [_new(synthetic_message(i), f"m{i}") for i in range(3)]
    later = [_new(synthetic_message(i), f"n{i}") for i in (1, 5, 6, 5, 7)]  # one stored, one twice
    with sqlite_db.session() as s:
        account = store.get_or_create_account(s, "a").id
        done = store.add_batch(s, account, first)
        again = store.add_batch(s, account, later)
    assert [r.created for r in done] == [True] * 3
    assert [r.created for r in again] == [False, True, True, False, True]
    assert again[0].email_id == done[1].email_id and again[1].email_id == again[3].email_id
    with sqlite_db.session() as s:
        for n, r in zip(first + later, done + again):
            assert store.find_email_id(s, account, *n.identity) == r.email_id
            assert s.get(EmailRow, r.email_id).message_id == n.columns["message_id"]
            assert store.load_raw(s, r.email_id) is not None


def test_ids_are_looked_up_when_the_rows_are_not_the_batch(sqlite_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    news = [_new(synthetic_message(i), f"m{i}") for i in range(4)]
    with sqlite_db.session() as s:
        account = store.get_or_create_account(s, "a").id
        store.add_batch(s, account, news[:2])
        # The rows at the last ids are news[:2], not news[2:]: no ids from there.
        assert store._sqlite_new_ids(s, account, news[2:]) is None
        assert store._sqlite_new_ids(s, account, news[:2]) is not None
    calls: list[int] = []

    def refuse(s, account_id, todo):  # type: ignore[no-untyped-def]
        calls.append(len(todo))
        return None

    monkeypatch.setattr(store, "_sqlite_new_ids", refuse)
    with sqlite_db.session() as s:
        results = store.add_batch(s, account, news[2:])
        assert calls == [2] and all(r.created for r in results)
        for n, r in zip(news[2:], results):
            assert store.find_email_id(s, account, *n.identity) == r.email_id


def test_an_interrupted_import_stores_what_it_read_and_stays_searchable(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    from beacon.ingest import importer
    from beacon.ingest.sources import RawItem

    def items():  # type: ignore[no-untyped-def]
        for i in range(importer.BATCH_MESSAGES * 2 + 30):
            yield RawItem(f"m{i}", synthetic_message(i, body=f"Quarterly zebra{i} report."))
        raise OSError("the disk went away")

    try:
        importer.import_items(sqlite_db, items(), account="a", workers=0)
    except OSError:
        pass
    else:
        raise AssertionError("the source's error must reach the caller")
    with sqlite_db.sql_engine.begin() as conn:
        # FTS5 checks its index against the stored rows it is built from.
        conn.exec_driver_sql("INSERT INTO email_search(email_search, rank) VALUES ('integrity-check', 1)")
        stored = conn.exec_driver_sql("SELECT count(*), min(id), max(id) FROM emails").one()

        def found(words: str) -> list[str]:
            return list(conn.exec_driver_sql(
                "SELECT e.subject FROM email_search JOIN emails e ON e.id = email_search.rowid "
                "WHERE email_search MATCH ?", (words,)).scalars())

        assert found("zebra7 report") == ["message 7"]
        assert found("report") and len(found("report")) == stored[0]
        assert found(f"zebra{importer.BATCH_MESSAGES * 2 + 29}") == [f"message {importer.BATCH_MESSAGES * 2 + 29}"]
    # The 30 read after the last full batch are stored too, before the error goes on.
    total = importer.BATCH_MESSAGES * 2 + 30
    assert tuple(stored) == (total, 1, total)
