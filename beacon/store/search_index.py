"""The full-text index of the mail, in each database's own engine, kept in step by triggers.

SQLite: an FTS5 table over a view of ``emails`` (external content: the text is not stored a
second time), tokenizer ``unicode61 remove_diacritics 2`` (case and accents folded; an address
``priya@example.com`` is the words priya, example, com and is found as that phrase).
PostgreSQL: ``email_search`` holds one ``tsvector`` per searchable field plus ``doc`` (all of
them), under one multi-column GIN index; the ``beacon_search`` configuration is ``simple``
(no stemming, no stop words, like FTS5) with ``unaccent``, and punctuation becomes a space
first so both backends cut text into the same words.

New emails get their rows from the importer, in the batch that stores them (:func:`add_rows`,
with rows made in the parse workers: :mod:`beacon.store.search_rows`); the only code that
inserts emails is :func:`beacon.store.emails.add_batch`. Triggers on ``emails`` keep the
index in step on re-parse (update of the text columns) and delete, whatever code path
writes. :func:`reindex` rebuilds it whole. The layout is installed by migration 0003 (and
0013, which dropped the insert triggers); a change to it needs a new migration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from beacon.store.search_rows import MAX_BODY_CHARS, SQLITE_MAX_FILES, SearchRow

__all__ = ["FIELDS", "ReindexResult", "add_rows", "drop_insert_sync", "index_bytes", "install", "pause_sync", "reindex", "replace_rows_view",
           "restore_insert_sync", "resume_sync", "uninstall"]

# Searchable fields, in index column order; ``body`` is the text, capped (see MAX_BODY_CHARS).
FIELDS = ("subject", "sender", "to_addrs", "cc_addrs", "list_id", "files", "body")
_COLS = ", ".join(FIELDS)

# ---------------------------------------------------------------------------------- SQLite
# FTS5 reads its content view without table-valued functions (no json_each): address lists
# are their JSON with the keys taken out, file names the JSON array of the first ones.
_FILE_PATHS = ", ".join(f"'$.attachments[{i}].filename'" for i in range(SQLITE_MAX_FILES))


def _sqlite_addresses(key: str) -> str:
    return (f"replace(replace(coalesce(json_extract(e.data, '$.{key}'), ''), '\"name\":', ' '), "
            f"'\"address\":', ' ')")


_SQLITE_SOURCE = f"""
CREATE VIEW email_search_source AS SELECT
  e.id AS id,
  e.subject AS subject,
  e.from_name || ' ' || e.from_addr AS sender,
  {_sqlite_addresses('to')} AS to_addrs,
  {_sqlite_addresses('cc')} AS cc_addrs,
  coalesce(json_extract(e.data, '$.list_headers.list_id'), '') AS list_id,
  CASE WHEN json_array_length(e.data, '$.attachments') > 0
       THEN replace(json_extract(e.data, {_FILE_PATHS}), 'null', '') ELSE '' END AS files,
  substr(coalesce(json_extract(e.data, '$.text'), ''), 1, {MAX_BODY_CHARS}) AS body
FROM emails e
"""
_SQLITE_TABLE = f"""
CREATE VIRTUAL TABLE email_search USING fts5({_COLS}, content='email_search_source',
  content_rowid='id', tokenize='unicode61 remove_diacritics 2')
"""
_SQLITE_ADD = f"INSERT INTO email_search(rowid, {_COLS}) SELECT id, {_COLS} FROM email_search_source WHERE id = {{row}}.id;"
_SQLITE_DEL = (f"INSERT INTO email_search(email_search, rowid, {_COLS}) "
               f"SELECT 'delete', id, {_COLS} FROM email_search_source WHERE id = old.id;")
_TEXT_COLUMNS = "subject, from_name, from_addr, data"
_SQLITE_INSERT_TRIGGER = f"CREATE TRIGGER email_search_ai AFTER INSERT ON emails BEGIN {_SQLITE_ADD.format(row='new')} END"
_SQLITE_TRIGGERS = (
    # The old row is still in the view before the statement: its indexed words can be removed.
    f"CREATE TRIGGER email_search_bd BEFORE DELETE ON emails BEGIN {_SQLITE_DEL} END",
    f"CREATE TRIGGER email_search_bu BEFORE UPDATE OF {_TEXT_COLUMNS} ON emails BEGIN {_SQLITE_DEL} END",
    f"CREATE TRIGGER email_search_au AFTER UPDATE OF {_TEXT_COLUMNS} ON emails "
    f"BEGIN {_SQLITE_ADD.format(row='new')} END",
)

# ------------------------------------------------------------------------------ PostgreSQL
# One row of the index per email. ``data`` is json (text): parsed once as jsonb, each field
# taken from it once, and the subject's and sender's vectors made once (an "OFFSET 0"
# subquery is not pulled up into the query, which would repeat its expressions at every use
# of their result: the reindex was twice as slow).
_PG_TRIGGER = ("CREATE TRIGGER email_search_sync AFTER {events}UPDATE OF " + _TEXT_COLUMNS + " ON emails "
               "FOR EACH ROW EXECUTE FUNCTION beacon_email_search_sync()")
# The importer's rows: the view's expressions over the text a parse worker took from the email.
_PG_ADD = """INSERT INTO email_search (email_id, doc, subject, sender, to_addrs, cc_addrs, list_id, files)
    SELECT v.id, setweight(v.subject, 'A') || setweight(v.sender, 'B')
        || beacon_search_vector(concat_ws(' ', v.to_addrs, v.cc_addrs, v.list_id, v.files, v.body)),
      v.subject, v.sender, beacon_search_vector(v.to_addrs), beacon_search_vector(v.cc_addrs),
      beacon_search_vector(v.list_id), beacon_search_vector(v.files)
    FROM (SELECT CAST(:id AS integer) AS id, beacon_search_vector(CAST(:subject AS text)) AS subject,
                 beacon_search_vector(CAST(:sender AS text)) AS sender, CAST(:to_addrs AS text) AS to_addrs,
                 CAST(:cc_addrs AS text) AS cc_addrs, CAST(:list_id AS text) AS list_id,
                 CAST(:files AS text) AS files, CAST(:body AS text) AS body) v"""
_SQLITE_ADD_ROWS = (f"INSERT INTO email_search(rowid, {_COLS}) VALUES ({', '.join('?' * (len(FIELDS) + 1))})")
_PG_ROWS_VIEW = f"""{{create}} VIEW email_search_rows AS
    SELECT e.id AS email_id,
      setweight(v.subject, 'A') || setweight(v.sender, 'B')
        || beacon_search_vector(concat_ws(' ', t.to_addrs, t.cc_addrs, t.list_id, t.files, t.body)) AS doc,
      v.subject, v.sender,
      beacon_search_vector(t.to_addrs) AS to_addrs, beacon_search_vector(t.cc_addrs) AS cc_addrs,
      beacon_search_vector(t.list_id) AS list_id, beacon_search_vector(t.files) AS files
    FROM emails e
    CROSS JOIN LATERAL (SELECT e.data::jsonb AS d OFFSET 0) j
    CROSS JOIN LATERAL (SELECT
        (SELECT string_agg(coalesce(a->>'name', '') || ' ' || coalesce(a->>'address', ''), ' ')
           FROM jsonb_array_elements(j.d->'to') a) AS to_addrs,
        (SELECT string_agg(coalesce(a->>'name', '') || ' ' || coalesce(a->>'address', ''), ' ')
           FROM jsonb_array_elements(j.d->'cc') a) AS cc_addrs,
        j.d->'list_headers'->>'list_id' AS list_id,
        (SELECT string_agg(a->>'filename', ' ') FROM jsonb_array_elements(j.d->'attachments') a) AS files,
        left(j.d->>'text', {MAX_BODY_CHARS}) AS body OFFSET 0) t
    CROSS JOIN LATERAL (SELECT beacon_search_vector(e.subject) AS subject,
                               beacon_search_vector(e.from_name || ' ' || e.from_addr) AS sender OFFSET 0) v"""
_PG_SETUP = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION beacon_search (COPY = simple)",
    "ALTER TEXT SEARCH CONFIGURATION beacon_search ALTER MAPPING FOR "
    "word, hword, hword_part, numword, numhword, hword_numpart WITH unaccent, simple",
    # Punctuation to spaces: the default parser would keep an address or a URL as one token.
    "CREATE FUNCTION beacon_search_vector(t text) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
    "$$ SELECT to_tsvector('beacon_search'::regconfig, regexp_replace(coalesce(t, ''), '[^[:alnum:]]+', ' ', 'g')) $$",
    """CREATE TABLE email_search (
      email_id integer PRIMARY KEY REFERENCES emails(id) ON DELETE CASCADE,
      doc tsvector NOT NULL, subject tsvector, sender tsvector, to_addrs tsvector,
      cc_addrs tsvector, list_id tsvector, files tsvector)""",
    _PG_ROWS_VIEW.format(create="CREATE"),
    """CREATE FUNCTION beacon_email_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' THEN DELETE FROM email_search WHERE email_id = NEW.id; END IF;
      INSERT INTO email_search SELECT * FROM email_search_rows WHERE email_id = NEW.id;
      RETURN NULL;
    END $$""",
    _PG_TRIGGER.format(events=""),
)
_PG_INDEX = f"CREATE INDEX ix_email_search ON email_search USING gin (doc, {', '.join(FIELDS[:-1])})"
_PG_TEARDOWN = (
    "DROP TRIGGER IF EXISTS email_search_sync ON emails",
    "DROP FUNCTION IF EXISTS beacon_email_search_sync()",
    "DROP VIEW IF EXISTS email_search_rows",
    "DROP TABLE IF EXISTS email_search",
    "DROP FUNCTION IF EXISTS beacon_search_vector(text)",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS beacon_search",
)
_SQLITE_TEARDOWN = (
    *(f"DROP TRIGGER IF EXISTS {name}" for name in ("email_search_ai", "email_search_bd", "email_search_bu", "email_search_au")),
    "DROP TABLE IF EXISTS email_search",
    "DROP VIEW IF EXISTS email_search_source",
)


def _is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def install(conn: Connection) -> None:
    """Create the index, its triggers, and fill it from the stored mail."""
    if _is_sqlite(conn):
        for stmt in (_SQLITE_SOURCE, _SQLITE_TABLE, *_SQLITE_TRIGGERS):
            conn.exec_driver_sql(stmt)
    else:
        for stmt in _PG_SETUP:
            conn.exec_driver_sql(stmt)
        conn.exec_driver_sql(_PG_INDEX)
    reindex(conn)


def replace_rows_view(conn: Connection) -> None:
    """PostgreSQL: (re)define the view the index is filled from (migration 0012)."""
    conn.exec_driver_sql(_PG_ROWS_VIEW.format(create="CREATE OR REPLACE"))


def uninstall(conn: Connection) -> None:
    for stmt in _SQLITE_TEARDOWN if _is_sqlite(conn) else _PG_TEARDOWN:
        conn.exec_driver_sql(stmt)


def add_rows(conn: Connection, rows: list[tuple[int, SearchRow]]) -> None:
    """Index new emails: (email id, its row made by :func:`~beacon.store.search_rows.search_row`),
    in the caller's transaction, one statement for all."""
    if not rows:
        return
    if _is_sqlite(conn):
        conn.exec_driver_sql(_SQLITE_ADD_ROWS, [row.sqlite_params(email_id) for email_id, row in rows])
    else:
        conn.execute(text(_PG_ADD), [row.postgres_params(email_id) for email_id, row in rows])


def drop_insert_sync(conn: Connection) -> None:
    """Migration 0013: emails are no longer indexed by an insert trigger (see :func:`add_rows`)."""
    if _is_sqlite(conn):
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS email_search_ai")
    else:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS email_search_sync ON emails")
        conn.exec_driver_sql(_PG_TRIGGER.format(events=""))


def restore_insert_sync(conn: Connection) -> None:
    """Migration 0013's downgrade: the insert triggers back."""
    if _is_sqlite(conn):
        conn.exec_driver_sql(_SQLITE_INSERT_TRIGGER)
    else:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS email_search_sync ON emails")
        conn.exec_driver_sql(_PG_TRIGGER.format(events="INSERT OR "))


def pause_sync(conn: Connection) -> None:
    """Stop keeping the index in step (a bulk load that calls :func:`reindex` afterwards)."""
    if _is_sqlite(conn):
        for stmt in _SQLITE_TEARDOWN[:4]:
            conn.exec_driver_sql(stmt)
    else:
        conn.exec_driver_sql("ALTER TABLE emails DISABLE TRIGGER email_search_sync")


def resume_sync(conn: Connection) -> None:
    if _is_sqlite(conn):
        for stmt in _SQLITE_TRIGGERS:
            conn.exec_driver_sql(stmt)
    else:
        conn.exec_driver_sql("ALTER TABLE emails ENABLE TRIGGER email_search_sync")


@dataclass(frozen=True)
class ReindexResult:
    emails: int
    seconds: float
    index_bytes: int


def reindex(conn: Connection) -> ReindexResult:
    """Rebuild the whole index from the stored mail (in the caller's transaction)."""
    started = time.perf_counter()
    if _is_sqlite(conn):
        conn.exec_driver_sql("INSERT INTO email_search(email_search) VALUES ('rebuild')")
    else:
        # Filling a table and then building its GIN index is several times faster than
        # keeping the index up to date row by row.
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_email_search")
        conn.exec_driver_sql("TRUNCATE email_search")
        # A GIN build sorts its entries in memory: 1 GB is several times fewer merge passes
        # at 1M emails than 256 MB (for this statement's transaction only).
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
        conn.exec_driver_sql("INSERT INTO email_search SELECT * FROM email_search_rows")
        conn.exec_driver_sql(_PG_INDEX)
    n = conn.execute(text("SELECT count(*) FROM emails")).scalar_one()
    return ReindexResult(n, time.perf_counter() - started, index_bytes(conn))


def index_bytes(conn: Connection) -> int:
    """Bytes the search index takes on disk (its tables and indexes)."""
    if _is_sqlite(conn):
        return int(conn.execute(text(
            "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'email_search%'")).scalar_one())
    return int(conn.execute(text("SELECT pg_total_relation_size('email_search')")).scalar_one())
