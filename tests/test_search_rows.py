"""The full-text rows the importer writes (made in the parse workers) are exactly the rows
SQLite's own definition makes from the stored email: what reindex, re-parse and delete use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sqlalchemy import delete, text

from beacon.parse import parse_message
from beacon.store import search_index
from beacon.store.db import Database
from beacon.store.emails import update_parsed
from beacon.store.schema import EmailRow
from tests.helpers import store_messages


def _attachments(names: list[str]) -> str:
    parts = "".join(f'--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename="{n}"\n'
                    "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n" for n in names)
    return 'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\n' \
           "See the files.\n" + parts + "--b--\n"


# Escapes and words the SQLite definition reads out of the JSON text: quotes, backslashes,
# control characters and non-ASCII in names, "null" inside a file name, more files than it
# reads, no recipients, a list id, a body over the indexed length.
TRICKY = [
    ('From: "O\'Brien, \\"Pat\\"" <pat@example.com>\nTo: "Back\\\\slash" <b@example.com>, '
     "=?utf-8?q?Ren=C3=A9e_=01_Tab=09?= <renee@example.fr>\nCc: =?utf-8?b?5bGx55Sw?= <yamada@example.jp>\n"
     "Subject: Caf\u00e9 \u2028 ünïcode\nMessage-ID: <t1@x>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"
     "Content-Type: text/plain; charset=utf-8\n\nLine one\n\tTabbed \"quoted\" \\ back\n"),
    ("From: nobody@example.com\nSubject: no recipients\nMessage-ID: <t2@x>\nList-Id: Dev list <dev.lists.example>\n"
     "Date: Mon, 1 Jan 2024 10:01:00 +0000\nMIME-Version: 1.0\n" + _attachments(["nullable null.txt", "r\u00e9sum\u00e9.pdf"])),
    ("From: Files <f@example.com>\nTo: a@example.com\nSubject: many files\nMessage-ID: <t3@x>\n"
     "Date: Mon, 1 Jan 2024 10:02:00 +0000\nMIME-Version: 1.0\n" + _attachments([f"file{i}.bin" for i in range(23)])),
    ("From: Long <l@example.com>\nTo: a@example.com\nSubject: long\nMessage-ID: <t4@x>\n"
     "Date: Mon, 1 Jan 2024 10:03:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n"
     + "wörd " * 30_000 + "beyondthelimit\n"),
]


def _index(db: Database) -> list[Any]:
    """Every indexed word with its place, per email."""
    with db.sql_engine.begin() as conn:
        conn.exec_driver_sql("CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_words "
                             "USING fts5vocab(main, email_search, instance)")
        return list(map(tuple, conn.execute(text(
            "SELECT term, doc, col, \"offset\" FROM temp.search_words ORDER BY doc, col, \"offset\", term"))))


def _reindex(db: Database) -> None:
    with db.sql_engine.begin() as conn:
        search_index.reindex(conn)


def _integrity(db: Database) -> None:
    with db.sql_engine.begin() as conn:  # FTS5 checks its index against the content the definition reads
        conn.exec_driver_sql("INSERT INTO email_search(email_search, rank) VALUES ('integrity-check', 1)")


# PostgreSQL's index is of the emails' rows themselves: no rows are imported
# (tests/test_search.py follows it through inserts, re-parses and deletes).
@pytest.mark.parametrize("any_db", ["sqlite"], indirect=True)
def test_imported_rows_are_the_rows_the_database_makes(any_db: Database) -> None:
    ids = store_messages(any_db, [m.encode() for m in TRICKY])
    imported = _index(any_db)
    assert len({row[1] for row in imported}) == len(TRICKY)
    _integrity(any_db)
    _reindex(any_db)
    assert _index(any_db) == imported
    # Re-parse and delete (triggers) take out exactly the words the importer put in.
    with any_db.session() as s:
        update_parsed(s, ids[0], parse_message(TRICKY[1].replace("<t2@x>", "<t9@x>").encode()))
        s.execute(delete(EmailRow).where(EmailRow.id == ids[2]))
    _integrity(any_db)
    changed = _index(any_db)
    _reindex(any_db)
    assert _index(any_db) == changed != imported


@pytest.mark.parametrize("any_db", ["sqlite"], indirect=True)
def test_new_emails_are_indexed_without_an_insert_trigger(any_db: Database) -> None:
    with any_db.sql_engine.connect() as conn:
        triggers = set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
        assert "email_search_ai" not in triggers and {"email_search_bd", "email_search_au"} <= triggers


@pytest.mark.parametrize("any_db", ["sqlite"], indirect=True)
def test_a_sqlite_rebuild_in_batches_is_the_importer_s_index_merged_into_one_segment(any_db: Database) -> None:
    store_messages(any_db, [m.encode() for m in TRICKY])
    imported = _index(any_db)
    told: list[tuple[int, int]] = []
    with any_db.sql_engine.begin() as conn:
        search_index.reindex(conn, sqlite_batch=3, progress=lambda done, total: told.append((done, total)))
    assert _index(any_db) == imported
    _integrity(any_db)
    assert told == [(3, 4), (4, 4)]
    with any_db.sql_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(DISTINCT segid) FROM email_search_idx")) == 1
        # Its size read table by table is every page of its tables.
        assert search_index.index_bytes(conn) == conn.scalar(text(
            "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'email_search%'")) > 0
        # New mail is merged as it comes again: FTS5's own settings, not the rebuild's.
        config = dict(conn.execute(text("SELECT k, v FROM email_search_config WHERE k != 'version'")).all())
    assert config == {"automerge": 4, "crisismerge": 16, "hashsize": 1024 * 1024}


@pytest.mark.parametrize("any_db", ["sqlite"], indirect=True)
def test_a_sqlite_rebuild_that_fails_leaves_the_index_and_its_settings_as_they_were(any_db: Database) -> None:
    store_messages(any_db, [m.encode() for m in TRICKY])
    imported = _index(any_db)

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt  # the user's Ctrl-C between two batches

    with pytest.raises(KeyboardInterrupt), any_db.sql_engine.begin() as conn:
        search_index.reindex(conn, sqlite_batch=3, progress=stop)
    assert _index(any_db) == imported
    _integrity(any_db)
    with any_db.sql_engine.connect() as conn:
        config = dict(conn.execute(text("SELECT k, v FROM email_search_config WHERE k != 'version'")).all())
    assert config in ({}, {"automerge": 4, "crisismerge": 16, "hashsize": 1024 * 1024})  # FTS5's own


def _columns(db: Database) -> list[str]:
    with db.sql_engine.connect() as conn:
        return [r[1] for r in conn.execute(text("PRAGMA table_info(email_search)"))]


@pytest.mark.parametrize("any_db", ["sqlite"], indirect=True)
def test_0017_puts_the_body_first_and_downgrades(any_db: Database) -> None:
    from alembic import command

    store_messages(any_db, [m.encode() for m in TRICKY])
    imported = _index(any_db)
    assert _columns(any_db) == list(search_index.SQLITE_COLUMNS) and _columns(any_db)[0] == "body"
    command.downgrade(any_db.alembic_config(), "0016")
    assert _columns(any_db) == list(search_index.FIELDS)
    assert _index(any_db) == imported
    _integrity(any_db)
    any_db.migrate()
    assert _columns(any_db)[0] == "body" and _index(any_db) == imported
    _integrity(any_db)


@pytest.mark.parametrize("any_db", ["sqlite"], indirect=True)
def test_0017_on_a_large_store_leaves_the_index_for_reindex_and_search_says_so(
        any_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Past RELAYOUT_INLINE emails the upgrade does not rebuild the index (the server starts at
    once): searching words is refused saying why (HTTP 503, the CLI's status 2), filters work,
    mail changed meanwhile breaks nothing, and ``reindex`` fills it."""
    from alembic import command
    from typer.testing import CliRunner

    from beacon.cli.main import app
    from beacon.errors import SearchIndexEmpty
    from beacon.store.inbox import InboxFilter, inbox_count, inbox_page
    from beacon.web.app import http_status

    ids = store_messages(any_db, [m.encode() for m in TRICKY])
    imported = _index(any_db)
    command.downgrade(any_db.alembic_config(), "0016")
    monkeypatch.setattr(search_index, "RELAYOUT_INLINE", len(TRICKY) - 1)
    any_db.migrate()
    assert _columns(any_db)[0] == "body" and _index(any_db) == []
    with any_db.sql_engine.connect() as conn:
        assert search_index.needs_reindex(conn)
    for query in ("hello", "-hello", "from:x OR is:unread"):
        with any_db.session() as s, pytest.raises(SearchIndexEmpty) as refused:
            inbox_page(s, InboxFilter(pipeline_version="t", search=query))
        assert "beacon reindex" in str(refused.value) and http_status(refused.value) == 503
        with any_db.session() as s, pytest.raises(SearchIndexEmpty):
            inbox_count(s, InboxFilter(pipeline_version="t", search=query))
    with any_db.session() as s:  # no words: answered as always
        assert inbox_count(s, InboxFilter(pipeline_version="t", search="has:attachment")).exact
        # A re-parse and a delete meanwhile (the triggers write to the empty index).
        update_parsed(s, ids[0], parse_message(TRICKY[1].replace("<t2@x>", "<t9@x>").encode()))
        s.execute(delete(EmailRow).where(EmailRow.id == ids[2]))
    # The command line: exit status 2 and why, until `beacon reindex` fills the index.
    monkeypatch.setenv("BEACON_DATABASE_URL", str(any_db.url))
    monkeypatch.setenv("BEACON_DATA_DIR", str(tmp_path))
    refused = CliRunner().invoke(app, ["search", "hello"])
    assert refused.exit_code == 2 and "beacon reindex" in refused.output
    assert CliRunner().invoke(app, ["reindex"]).exit_code == 0
    assert CliRunner().invoke(app, ["search", "hello"]).exit_code == 0
    with any_db.sql_engine.connect() as conn:
        assert not search_index.needs_reindex(conn)
    _integrity(any_db)
    rebuilt = _index(any_db)
    assert {row[1] for row in rebuilt} == set(ids) - {ids[2]} and rebuilt != imported
    with any_db.session() as s:
        inbox_count(s, InboxFilter(pipeline_version="t", search="hello"))
    # A small store is filled by the upgrade itself, as before.
    monkeypatch.setattr(search_index, "RELAYOUT_INLINE", len(TRICKY))
    command.downgrade(any_db.alembic_config(), "0016")
    any_db.migrate()
    with any_db.sql_engine.connect() as conn:
        assert not search_index.needs_reindex(conn)
    assert _index(any_db) == rebuilt
