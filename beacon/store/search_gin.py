"""PostgreSQL's full-text index since migration 0018: GIN over a vector computed from the email
row, with no vector stored.

A stored ``tsvector`` with positions took more room than the text it indexed (123 % of it at
100k emails, 190 % with the per-field vectors); GIN itself keeps only each word's list of rows.
``beacon_search_doc`` makes one vector per email: every field's words, plus the words of each
field again under a tag (``f:priya`` for ``from:priya``), so a field operator is a word of the
same index. Tagged fields come first: positions past 16,383 are all 16,383, and a long body
must not blur a phrase in a field.

GIN answers a query of words (AND, OR, NOT, prefixes) exactly, without reading any row's text.
A phrase needs positions, which GIN does not keep: the row's vector is computed again for that
check, so callers look for a phrase's words in the index (:mod:`beacon.store.query_sql`) and check the phrase
only on the few rows a page shows (see :mod:`beacon.store.inbox`). The function is priced high
so that the planner never computes it on rows the index did not choose.

The index is :data:`PARTS` partial GIN indexes, one per remainder of the email id, so that a
reindex builds them at once in as many sessions (GIN builds use one core each). Each also
indexes the email id (``btree_gin``): a search reads the newest ids' windows first
(:mod:`beacon.store.inbox`), and with the window a condition of the index, only the window's
matches are read from the table. (The planner would not AND a window of the primary key
with the matches: it has no statistics of the vector, and guesses a few rows for two words,
so every match's row was read and the window applied after, ~27,000 rows for "mailing list"
at 100k emails.) The view
``email_search`` (``email_id``, ``doc``) is the union of those parts: a condition on it is
pushed into each arm, where it is the indexed expression on ``emails`` under the part's own
predicate, which its index matches.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Connection

from beacon.store.search_rows import MAX_BODY_CHARS

__all__ = ["DOC", "FIELD_TAGS", "PARTS", "build_index", "drop_index", "index_bytes", "install", "uninstall"]

# The tag of each field's words (beacon.store.query_sql's field operators); ':' is never part
# of an indexed word (punctuation separates words), so a tagged word is never a plain one.
FIELD_TAGS = {"subject": "s:", "sender": "f:", "to_addrs": "t:", "cc_addrs": "c:", "list_id": "l:", "files": "n:"}
PARTS = 2
_INDEXES = tuple(f"ix_email_search_{k}" for k in range(PARTS))
# The indexed expression, as the view and the index both write it.
DOC = "beacon_search_doc(subject, from_name || ' ' || from_addr, data)"

# A quoted word of a tsvector's or tsquery's text form (a quote inside is doubled).
_QUOTED = r"'((?:[^']|'')*)'"
_SETUP = (
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    f"""CREATE FUNCTION beacon_search_tagged(v tsvector, tag text) RETURNS tsvector
      LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS
      $$ SELECT regexp_replace(v::text, $q${_QUOTED}$q$, '''' || tag || '\\1''', 'g')::tsvector $$""",
    # Address lists and file names as the text of their values: JSON's punctuation is a
    # separator like any other (beacon_search_vector), and no subquery runs per row. (A
    # control character in a name is escaped there: "\t" adds the word t.)
    f"""CREATE FUNCTION beacon_search_doc(p_subject text, p_sender text, p_data json) RETURNS tsvector
      LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE COST 1000 AS $$
      DECLARE
        d jsonb := p_data::jsonb;
        subj tsvector := beacon_search_vector(p_subject);
        sndr tsvector := beacon_search_vector(p_sender);
        t tsvector := beacon_search_vector(jsonb_path_query_array(d, '$.to[*].*')::text);
        c tsvector := beacon_search_vector(jsonb_path_query_array(d, '$.cc[*].*')::text);
        l tsvector := beacon_search_vector(d->'list_headers'->>'list_id');
        n tsvector := beacon_search_vector(jsonb_path_query_array(d, '$.attachments[*].filename')::text);
      BEGIN
        RETURN beacon_search_tagged(subj, 's:') || beacon_search_tagged(sndr, 'f:') || beacon_search_tagged(t, 't:')
          || beacon_search_tagged(c, 'c:') || beacon_search_tagged(l, 'l:') || beacon_search_tagged(n, 'n:')
          || subj || sndr || t || c || l || n || beacon_search_vector(left(d->>'text', {MAX_BODY_CHARS}));
      END $$""",
    # A field operator's query: the words normalised as the index's were, then tagged.
    f"""CREATE FUNCTION beacon_search_query(tag text, q text) RETURNS tsquery
      LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS
      $$ SELECT regexp_replace(to_tsquery('beacon_search'::regconfig, q)::text, $q${_QUOTED}$q$,
                               '''' || tag || '\\1''', 'g')::tsquery $$""",
    "CREATE VIEW email_search AS " + " UNION ALL ".join(
        f"SELECT id AS email_id, {DOC} AS doc FROM emails WHERE mod(id, {PARTS}) = {k}" for k in range(PARTS)),
    # The planner's share of each part (1 / PARTS, not the 0.5 % it assumes of an expression it
    # has no statistics for): with it, the search's id windows are ANDed with the index's
    # matches rather than read from every match's row.
    f"CREATE STATISTICS emails_search_part ON (mod(id, {PARTS})) FROM emails",
)
_TEARDOWN = (
    *(f"DROP INDEX IF EXISTS {name}" for name in _INDEXES),
    "DROP VIEW IF EXISTS email_search",
    "DROP STATISTICS IF EXISTS emails_search_part",
    "DROP FUNCTION IF EXISTS beacon_search_query(text, text)",
    "DROP FUNCTION IF EXISTS beacon_search_doc(text, text, json)",
    "DROP FUNCTION IF EXISTS beacon_search_tagged(tsvector, text)",
)


def install(conn: Connection) -> None:
    """The functions and the view (migration 0018); :func:`build_index` makes the index."""
    for stmt in _SETUP:
        conn.exec_driver_sql(stmt)


def uninstall(conn: Connection) -> None:
    for stmt in _TEARDOWN:
        conn.exec_driver_sql(stmt)


def build_index(conn: Connection) -> None:
    """(Re)build the index whole: each part in a session of its own, all at once (committed
    by those sessions; ``conn``'s transaction must not hold a lock on ``emails`` stronger than
    a read's). Each session computes its emails' vectors and sorts the entries in memory
    (512 MB each: few merge passes at 1M emails). No pending list (fastupdate off): a search
    never scans unsorted entries, and an import's inserts go straight into the tree."""
    existing = set(conn.exec_driver_sql("SELECT relname FROM pg_class WHERE relname = ANY(%(names)s)",
                                            {"names": list(_INDEXES)}).scalars())

    def build(k: int) -> None:
        with conn.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("SET lock_timeout = '60s'")  # not an endless wait on the caller's lock
            c.exec_driver_sql("SET maintenance_work_mem = '512MB'")
            if _INDEXES[k] in existing:  # REINDEX, like CREATE INDEX, shares the table's lock
                c.exec_driver_sql(f"REINDEX INDEX {_INDEXES[k]}")
                return
            c.exec_driver_sql(f"CREATE INDEX {_INDEXES[k]} ON emails USING gin (id, ({DOC})) "
                              f"WITH (fastupdate = off) WHERE mod(id, {PARTS}) = {k}")
            # ANALYZE would compute a sample's vectors (30,000 of them) for statistics that
            # full-text matching does not use.
            c.exec_driver_sql(f"ALTER INDEX {_INDEXES[k]} ALTER COLUMN 2 SET STATISTICS 0")

    with ThreadPoolExecutor(PARTS) as pool:
        list(pool.map(build, range(PARTS)))


def drop_index(conn: Connection) -> None:
    """Before a bulk load that :func:`build_index` follows."""
    for name in _INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


def index_bytes(conn: Connection) -> int:
    return int(conn.exec_driver_sql(
        "SELECT coalesce(sum(pg_relation_size(oid)), 0) FROM pg_class WHERE relname = ANY(%(names)s)",
        {"names": list(_INDEXES)}).scalar_one())
