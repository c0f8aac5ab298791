"""The full-text index of the mail in each database's own engine, fed by the importer and triggers.

SQLite: an FTS5 table over a view of ``emails`` (external content: the text is not stored a
second time), tokenizer ``unicode61 remove_diacritics 2`` (case and accents folded; an address
``priya@example.com`` is the words priya, example, com and is found as that phrase).
PostgreSQL: since migration 0018, GIN indexes over a vector computed from the email row, no
vector stored (:mod:`beacon.store.search_gin`); the ``beacon_search`` configuration is
``simple`` (no stemming, no stop words, like FTS5) with ``unaccent``, and punctuation becomes
a space first so both backends cut text into the same words. The database keeps such an index
in step itself. Migrations 0003-0017 had a table of stored vectors (``email_search``, one per
searchable field plus ``doc``), whose definitions below remain for them and 0018's downgrade.

SQLite: new emails get their rows from the importer, in the batch that stores them
(:func:`add_rows`, with rows made in the parse workers: :mod:`beacon.store.search_rows`); the
only code that inserts emails is :func:`beacon.store.emails.add_batch`. Triggers on ``emails``
keep the index in step on re-parse (update of the text columns) and delete, whatever code path
writes. :func:`reindex` rebuilds it whole. The layout is installed by migration 0003 (and
0013, which dropped the insert triggers, 0017, which put SQLite's body column first, and
0018, PostgreSQL's computed vectors); a change to it needs a new migration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from beacon.store import search_gin
from beacon.store.search_rows import MAX_BODY_CHARS, SQLITE_MAX_FILES, SearchRow

__all__ = ["FIELDS", "PG_DROP_FUNCTIONS", "REBUILD_BATCH", "REBUILD_CACHE_BYTES", "RELAYOUT_INLINE", "SQLITE_COLUMNS",
           "ReindexResult", "add_rows", "drop_insert_sync", "index_bytes", "install", "needs_reindex", "pause_sync", "reindex",
           "relayout_sqlite", "replace_rows_view", "replace_sqlite_triggers", "restore_insert_sync", "resume_sync",
           "to_computed_vectors", "to_stored_vectors", "uninstall"]

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
# The FTS5 table's columns, body first: in a position list column 0's positions need no
# column marker, and most of an email's words are in its body only (a fifth of the index saved
# on the bench's corpus mail; migration 0017). FIELDS keeps the order the rest of the code uses.
SQLITE_COLUMNS = ("body", *FIELDS[:-1])
_SQLITE_TABLE = """
CREATE VIRTUAL TABLE email_search USING fts5({columns}, content='email_search_source',
  content_rowid='id', tokenize='unicode61 remove_diacritics 2')
"""
_SQLITE_ADD = f"INSERT INTO email_search(rowid, {_COLS}) SELECT id, {_COLS} FROM email_search_source WHERE id = {{row}}.id;"
# Only a row the index holds (its docsize row) is taken out: FTS5 refuses to delete one it does
# not hold ("database disk image is malformed"), as the empty index a relayout leaves for
# ``beacon reindex`` does not (see relayout_sqlite).
_SQLITE_DEL = (f"INSERT INTO email_search(email_search, rowid, {_COLS}) "
               f"SELECT 'delete', id, {_COLS} FROM email_search_source WHERE id = old.id "
               "AND EXISTS (SELECT 1 FROM email_search_docsize WHERE id = old.id);")
_TEXT_COLUMNS = "subject, from_name, from_addr, data"
_SQLITE_INSERT_TRIGGER = f"CREATE TRIGGER email_search_ai AFTER INSERT ON emails BEGIN {_SQLITE_ADD.format(row='new')} END"
_SQLITE_TRIGGERS = (
    # The old row is still in the view before the statement: its indexed words can be removed.
    f"CREATE TRIGGER email_search_bd BEFORE DELETE ON emails BEGIN {_SQLITE_DEL} END",
    f"CREATE TRIGGER email_search_bu BEFORE UPDATE OF {_TEXT_COLUMNS} ON emails BEGIN {_SQLITE_DEL} END",
    f"CREATE TRIGGER email_search_au AFTER UPDATE OF {_TEXT_COLUMNS} ON emails "
    f"BEGIN {_SQLITE_ADD.format(row='new')} END",
)

# ------------------------------------------------------------------- PostgreSQL, 0003-0017
# One row of the index per email, made by one function call: the email's JSON (json: text) is
# parsed once, each field taken from it once. The functions are parallel safe and called
# from a lateral join, not a subquery, so that ``reindex`` can fill the index from parallel
# workers (see there). ``beacon_search_fields`` makes the vectors from the fields' text: the
# view's rows through ``beacon_search_row``, the importer's from a parse worker's text.
_PG_OUT = ("OUT doc tsvector, OUT subject tsvector, OUT sender tsvector, OUT to_addrs tsvector, "
           "OUT cc_addrs tsvector, OUT list_id tsvector, OUT files tsvector")
_PG_FIELDS_FUNCTION = f"""CREATE FUNCTION beacon_search_fields(p_subject text, p_sender text, p_to text,
    p_cc text, p_list text, p_files text, p_body text, {_PG_OUT})
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
  BEGIN
    subject := beacon_search_vector(p_subject);
    sender := beacon_search_vector(p_sender);
    doc := setweight(subject, 'A') || setweight(sender, 'B')
      || beacon_search_vector(concat_ws(' ', p_to, p_cc, p_list, p_files, p_body));
    to_addrs := beacon_search_vector(p_to);
    cc_addrs := beacon_search_vector(p_cc);
    list_id := beacon_search_vector(p_list);
    files := beacon_search_vector(p_files);
  END $$"""
_PG_ROW_FUNCTION = f"""CREATE FUNCTION beacon_search_row(p_subject text, p_sender text, p_data json, {_PG_OUT})
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
  DECLARE
    d jsonb := p_data::jsonb;
  BEGIN
    SELECT * INTO doc, subject, sender, to_addrs, cc_addrs, list_id, files FROM beacon_search_fields(
      p_subject, p_sender,
      (SELECT string_agg(coalesce(a->>'name', '') || ' ' || coalesce(a->>'address', ''), ' ')
         FROM jsonb_array_elements(d->'to') a),
      (SELECT string_agg(coalesce(a->>'name', '') || ' ' || coalesce(a->>'address', ''), ' ')
         FROM jsonb_array_elements(d->'cc') a),
      d->'list_headers'->>'list_id',
      (SELECT string_agg(a->>'filename', ' ') FROM jsonb_array_elements(d->'attachments') a),
      left(d->>'text', {MAX_BODY_CHARS}));
  END $$"""
PG_DROP_FUNCTIONS = ("DROP FUNCTION IF EXISTS beacon_search_row(text, text, json)",
                      "DROP FUNCTION IF EXISTS beacon_search_fields(text, text, text, text, text, text, text)")
_PG_ROWS_VIEW = """{create} VIEW email_search_rows AS
    SELECT e.id AS email_id, r.doc, r.subject, r.sender, r.to_addrs, r.cc_addrs, r.list_id, r.files
    FROM emails e CROSS JOIN LATERAL beacon_search_row(e.subject, e.from_name || ' ' || e.from_addr, e.data) r"""
_PG_TABLE = """CREATE TABLE email_search (
      email_id integer CONSTRAINT email_search_pkey PRIMARY KEY
        CONSTRAINT email_search_email_id_fkey REFERENCES emails(id) ON DELETE CASCADE,
      doc tsvector NOT NULL, subject tsvector, sender tsvector, to_addrs tsvector,
      cc_addrs tsvector, list_id tsvector, files tsvector)"""
_PG_TRIGGER = ("CREATE TRIGGER email_search_sync AFTER {events}UPDATE OF " + _TEXT_COLUMNS + " ON emails "
               "FOR EACH ROW EXECUTE FUNCTION beacon_email_search_sync()")
_SQLITE_ADD_ROWS = (f"INSERT INTO email_search(rowid, {_COLS}) VALUES ({', '.join('?' * (len(FIELDS) + 1))})")
_PG_SETUP = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION beacon_search (COPY = simple)",
    "ALTER TEXT SEARCH CONFIGURATION beacon_search ALTER MAPPING FOR "
    "word, hword, hword_part, numword, numhword, hword_numpart WITH unaccent, simple",
    # Punctuation to spaces: the default parser would keep an address or a URL as one token.
    "CREATE FUNCTION beacon_search_vector(t text) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
    "$$ SELECT to_tsvector('beacon_search'::regconfig, regexp_replace(coalesce(t, ''), '[^[:alnum:]]+', ' ', 'g')) $$",
    _PG_TABLE,
    _PG_FIELDS_FUNCTION,
    _PG_ROW_FUNCTION,
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
    *PG_DROP_FUNCTIONS,
    "DROP TABLE IF EXISTS email_search",
    "DROP FUNCTION IF EXISTS beacon_search_vector(text)",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS beacon_search",
)
_SQLITE_TEARDOWN = (
    *(f"DROP TRIGGER IF EXISTS {name}" for name in ("email_search_ai", "email_search_bd", "email_search_bu", "email_search_au")),
    "DROP TABLE IF EXISTS email_search",
    "DROP VIEW IF EXISTS email_search_source",
)


def _sqlite_table(columns: tuple[str, ...]) -> str:
    """The FTS5 table's statement, its columns in the order ``columns``."""
    return _SQLITE_TABLE.format(columns=", ".join(columns))


def _is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def install(conn: Connection) -> None:
    """Create the index, its triggers, and fill it from the stored mail (migration 0003)."""
    if _is_sqlite(conn):
        for stmt in (_SQLITE_SOURCE, _sqlite_table(SQLITE_COLUMNS), *_SQLITE_TRIGGERS):
            conn.exec_driver_sql(stmt)
        reindex(conn)
    else:
        for stmt in _PG_SETUP:
            conn.exec_driver_sql(stmt)
        _fill_table(conn)  # it replaces the table just made, its index built after the rows


def to_computed_vectors(conn: Connection) -> None:
    """PostgreSQL, migration 0018: the stored vectors' table (and its trigger, view and row
    functions) replaced by the computed vectors' functions and view; the caller then builds
    the index (:func:`beacon.store.search_gin.build_index`). Safe to run again after a build
    that failed."""
    for stmt in _PG_TEARDOWN[:-2]:  # the configuration and beacon_search_vector stay
        conn.exec_driver_sql(stmt)
    search_gin.uninstall(conn)
    search_gin.install(conn)


def to_stored_vectors(conn: Connection) -> None:
    """Migration 0018's downgrade: the table of stored vectors back, as 0017 left it (no
    insert trigger since 0013)."""
    search_gin.uninstall(conn)
    for stmt in _PG_SETUP[4:]:
        conn.exec_driver_sql(stmt)
    _fill_table(conn)


def replace_rows_view(conn: Connection) -> None:
    """PostgreSQL: (re)define the view the index is filled from, and its row function
    (migration 0015)."""
    conn.exec_driver_sql("DROP VIEW IF EXISTS email_search_rows")
    for stmt in (*PG_DROP_FUNCTIONS, _PG_FIELDS_FUNCTION, _PG_ROW_FUNCTION):
        conn.exec_driver_sql(stmt)
    conn.exec_driver_sql(_PG_ROWS_VIEW.format(create="CREATE"))


# A relayout of a store of more emails than this leaves the index empty for ``beacon reindex``
# (~0.3 ms of CPU per email: 1M emails kept the upgraded server from starting for minutes);
# a smaller one is filled at once (under ~15 s).
RELAYOUT_INLINE = 50_000
# The mark of an index left empty: a key of FTS5's own config table, which FTS5 ignores when it
# does not know it; it goes with the table and :func:`reindex` takes it away.
_NEEDS_REINDEX = "beacon-needs-reindex"


def relayout_sqlite(conn: Connection, columns: tuple[str, ...]) -> None:
    """SQLite: the FTS5 table again with its columns in the order ``columns`` (migration 0017),
    and its triggers (they write by column name). Filled again at once up to RELAYOUT_INLINE
    emails; beyond, marked as needing ``beacon reindex`` (searching words says so meanwhile,
    and whatever the triggers write to the empty index then is wiped by the rebuild)."""
    if _is_sqlite(conn):
        conn.exec_driver_sql("DROP TABLE email_search")
        conn.exec_driver_sql(_sqlite_table(columns))
        replace_sqlite_triggers(conn)
        emails = conn.exec_driver_sql("SELECT count(*) FROM (SELECT 1 FROM emails LIMIT ?)",
                                      (RELAYOUT_INLINE + 1,)).scalar_one()
        if emails > RELAYOUT_INLINE:
            conn.exec_driver_sql("INSERT INTO email_search_config(k, v) VALUES (?, 1)", (_NEEDS_REINDEX,))
        else:
            reindex(conn)


def replace_sqlite_triggers(conn: Connection) -> None:
    """SQLite: the re-parse and delete triggers made again from their current statements
    (migrations 0017 and 0019: a delete takes out only a row the index holds)."""
    if _is_sqlite(conn):
        for stmt in (*_SQLITE_TEARDOWN[1:4], *_SQLITE_TRIGGERS):
            conn.exec_driver_sql(stmt)


def needs_reindex(conn: Connection) -> bool:
    """Whether the index was left empty by an upgrade, for ``beacon reindex`` to fill."""
    return _is_sqlite(conn) and conn.exec_driver_sql(
        "SELECT 1 FROM email_search_config WHERE k = ?", (_NEEDS_REINDEX,)).first() is not None


def uninstall(conn: Connection) -> None:
    for stmt in _SQLITE_TEARDOWN if _is_sqlite(conn) else _PG_TEARDOWN:
        conn.exec_driver_sql(stmt)


def add_rows(conn: Connection, rows: list[tuple[int, SearchRow]]) -> None:
    """Index new emails: (email id, its row made by :func:`~beacon.store.search_rows.search_row`),
    in the caller's transaction, one statement for all."""
    if rows and _is_sqlite(conn):  # PostgreSQL's index is of the emails' rows themselves
        conn.exec_driver_sql(_SQLITE_ADD_ROWS, [row.sqlite_params(email_id) for email_id, row in rows])


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
    else:  # no index to keep up while loading (reindex builds it)
        search_gin.drop_index(conn)


def resume_sync(conn: Connection) -> None:
    if _is_sqlite(conn):
        for stmt in _SQLITE_TRIGGERS:
            conn.exec_driver_sql(stmt)


@dataclass(frozen=True)
class ReindexResult:
    emails: int
    seconds: float
    index_bytes: int


# SQLite page cache for a rebuild (see Settings.sqlite_reindex_cache).
REBUILD_CACHE_BYTES = 1024**3
# Emails per statement of a SQLite rebuild (see Settings.sqlite_reindex_batch).
REBUILD_BATCH = 50_000
# FTS5's merge settings while it rebuilds, and what they go back to (FTS5's defaults, which
# suit mail indexed a batch at a time). FTS5 writes its pending terms as a new segment when
# they pass ``hashsize`` bytes (1 MB) and at the end of each statement; ``automerge`` merges
# every 4 segments of a level as they come, so the index was rewritten once per level and the
# CPU per email grew with it (0.22 to 0.38 ms over 100k emails). With the limit out of the way
# a batch is one segment, nothing merges while the batches go in, and one ``optimize`` at the
# end merges them all at once (0.19-0.28 ms per email up to 1M).
_FTS_REBUILD = {"automerge": 0, "crisismerge": 1999, "hashsize": 2**31 - 1}
_FTS_DEFAULTS = {"automerge": 4, "crisismerge": 16, "hashsize": 1024 * 1024}
_SQLITE_FILL = (f"INSERT INTO email_search(rowid, {_COLS}) SELECT id, {_COLS} FROM email_search_source "
                "WHERE id >= ? AND id < ?")

Progress = Callable[[int, int], None]


def _fts_config(conn: Connection, values: dict[str, int]) -> None:
    for key, value in values.items():
        conn.exec_driver_sql("INSERT INTO email_search(email_search, rank) VALUES (?, ?)", (key, value))


def _sqlite_rebuild(conn: Connection, batch: int, progress: Progress | None) -> None:
    """The index emptied and filled again in batches of ``batch`` email ids, then merged into
    one segment (a smaller index, and one b-tree per word for queries to read)."""
    low, high = conn.exec_driver_sql("SELECT min(id), max(id) FROM emails").one()
    # The settings are rows of the index's config table, in the caller's transaction: a rebuild
    # that fails rolls them back with everything else, so only success sets them back (a
    # statement after a failed one could hide its error).
    _fts_config(conn, _FTS_REBUILD)
    conn.exec_driver_sql("INSERT INTO email_search(email_search) VALUES ('delete-all')")
    for start in range(low or 0, (high or -1) + 1, batch):
        conn.exec_driver_sql(_SQLITE_FILL, (start, start + batch))
        if progress:
            progress(min(start + batch, high + 1) - low, high + 1 - low)
    conn.exec_driver_sql("INSERT INTO email_search(email_search) VALUES ('optimize')")
    conn.exec_driver_sql("DELETE FROM email_search_config WHERE k = ?", (_NEEDS_REINDEX,))
    _fts_config(conn, _FTS_DEFAULTS)


def reindex(conn: Connection, *, sqlite_cache: int = REBUILD_CACHE_BYTES, sqlite_batch: int = REBUILD_BATCH,
            progress: Progress | None = None) -> ReindexResult:
    """Rebuild the whole index from the stored mail. SQLite: in the caller's transaction, the
    connection's page cache ``sqlite_cache`` bytes while it rebuilds (0: left as it is),
    ``sqlite_batch`` email ids indexed per statement, and ``progress`` told after each (ids
    done, ids in all). PostgreSQL: by sessions of its own, see
    :func:`beacon.store.search_gin.build_index`."""
    started = time.perf_counter()
    if _is_sqlite(conn):
        before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        if sqlite_cache > 0:
            conn.exec_driver_sql(f"PRAGMA cache_size=-{max(1, sqlite_cache // 1024)}")  # negative: KiB
        try:
            _sqlite_rebuild(conn, sqlite_batch, progress)
        finally:
            conn.exec_driver_sql(f"PRAGMA cache_size={before}")
    else:
        search_gin.build_index(conn)
    n = conn.execute(text("SELECT count(*) FROM emails")).scalar_one()
    return ReindexResult(n, time.perf_counter() - started, index_bytes(conn))


def _fill_table(conn: Connection) -> None:
    """PostgreSQL before 0018: the stored vectors' table made again, whole."""
    # A new table filled whole, then its keys and its GIN index: several times faster than
    # keeping the index up to date row by row. Only CREATE TABLE AS reads in parallel
    # (INSERT ... SELECT never does): the rows' vectors, most of the work, are made on
    # every core. Parallel plans are priced as free here, for this transaction only.
    for setting, value in (("parallel_setup_cost", "0"), ("parallel_tuple_cost", "0"),
                           ("min_parallel_table_scan_size", "0"),
                           # A GIN build sorts its entries in memory: 1 GB is several times
                           # fewer merge passes at 1M emails than 256 MB.
                           ("maintenance_work_mem", "'1GB'")):
        conn.exec_driver_sql(f"SET LOCAL {setting} = {value}")
    conn.exec_driver_sql("CREATE TABLE email_search_fill AS SELECT * FROM email_search_rows")
    conn.exec_driver_sql("DROP TABLE email_search")
    conn.exec_driver_sql("ALTER TABLE email_search_fill RENAME TO email_search")
    conn.exec_driver_sql(
        "ALTER TABLE email_search ALTER COLUMN doc SET NOT NULL, "
        "ADD CONSTRAINT email_search_pkey PRIMARY KEY (email_id), "
        "ADD CONSTRAINT email_search_email_id_fkey FOREIGN KEY (email_id) REFERENCES emails(id) ON DELETE CASCADE")
    conn.exec_driver_sql(_PG_INDEX)


def index_bytes(conn: Connection) -> int:
    """Bytes the search index takes on disk (its tables and indexes)."""
    if _is_sqlite(conn):
        # One name at a time: dbstat walks only the b-tree an equality names (with LIKE it read
        # every page of the database, 17 GB at 1M emails, after each reindex).
        return sum(int(conn.exec_driver_sql("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?",
                                            (f"email_search_{part}",)).scalar_one())
                   for part in ("data", "idx", "docsize", "config"))
    return search_gin.index_bytes(conn)
