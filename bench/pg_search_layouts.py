"""PostgreSQL full-text index layouts on a store_scale store: size against the text, and what a
search costs on each.

    python bench/pg_search_layouts.py [--sizes 10000,100000] [--work DIR] [--layouts ...]

Each layout is built beside the store's own index in a scratch schema (``layout_probe``,
dropped at the end; the store is not changed), from the same emails:

- ``current``: the store's own index as it is, nothing built: since migration 0018 GIN over
  vectors computed from the email rows (``beacon.store.search_gin``; its phrase is timed as
  its words, which is what the index answers: a page checks the phrase on its rows only). The
  other layouts copy ``doc`` from ``email_search``: on 0018 that view computes each vector.
- ``doc``: ``doc`` alone (subject weight A, sender B, the rest D) under a GIN index: one vector
  for every operator (fields by weight), the per-field vectors dropped. A lower bound: to:, cc:,
  list: and filename: would still need their words marked in it.
- ``doc-lz4``: ``doc`` with lz4 compression and a toast tuple target of 128 bytes, so every row's
  vector is offered to the compressor.
- ``expression``: no stored vector: a GIN index on the vector computed from the email row
  (GIN keeps no positions, so a phrase or a weight is checked by computing the row's vector
  again, and so is each ranked match's rank). Its build time is what a reindex would cost.

Per layout, per query: ms to find the newest 1,001 matches within the newest 20,000 emails and
rank them (the ranked page's work, as ``beacon.store.inbox`` does it: GIN bitmap and id range,
plain index scans off), median of 3 after a warm-up. Text bytes come from store_scale's
``postgres-N.json`` in ``--work`` (the same figure as its table).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from bench.store_scale import store_url  # noqa: E402
from beacon.store import search_index  # noqa: E402
from beacon.store.db import Database  # noqa: E402
from beacon.store.search_rows import MAX_BODY_CHARS  # noqa: E402

console = Console()
LAYOUTS = ("current", "doc", "doc-lz4", "expression")
QUERIES = {"1 word": "'linux'", "2 words": "'free' & 'software'", "phrase": "'mailing' <-> 'list'",
           "from:": "'pudge':B"}  # from: is the sender column on ``current``
RANKED, WINDOW = 1_001, 20_000

# The doc vector from the email row alone (what an expression index would hold).
_DOC_FUNCTION = f"""CREATE FUNCTION layout_probe.doc(p_subject text, p_sender text, p_data json)
  RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT setweight(beacon_search_vector(p_subject), 'A') || setweight(beacon_search_vector(p_sender), 'B')
    || beacon_search_vector(concat_ws(' ',
      (SELECT string_agg(coalesce(a->>'name', '') || ' ' || coalesce(a->>'address', ''), ' ')
         FROM json_array_elements(p_data->'to') a),
      (SELECT string_agg(coalesce(a->>'name', '') || ' ' || coalesce(a->>'address', ''), ' ')
         FROM json_array_elements(p_data->'cc') a),
      p_data->'list_headers'->>'list_id',
      (SELECT string_agg(a->>'filename', ' ') FROM json_array_elements(p_data->'attachments') a),
      left(p_data->>'text', {MAX_BODY_CHARS})))
  $$"""
_EXPR = "layout_probe.doc(subject, from_name || ' ' || from_addr, data)"


def _build(c, layout: str) -> tuple[int, int, float]:  # type: ignore[no-untyped-def]
    """Bytes the layout's index takes, bytes of its GIN index alone, and seconds its build took
    (vectors included only for ``expression``: the others copy the store's vectors)."""
    t0 = time.perf_counter()
    if layout == "current":
        size = search_index.index_bytes(c)
        return size, size, 0.0
    if layout in ("doc", "doc-lz4"):
        name = layout.replace("-", "_")
        options = " WITH (toast_tuple_target = 128)" if layout == "doc-lz4" else ""
        compression = " COMPRESSION lz4" if layout == "doc-lz4" else ""
        c.execute(text(f"CREATE TABLE layout_probe.{name} (id integer PRIMARY KEY, doc tsvector{compression}){options}"))
        # doc::text::tsvector: a new datum, so the table's own compression applies to it
        c.execute(text(f"INSERT INTO layout_probe.{name} SELECT email_id, doc::text::tsvector FROM email_search"))
        c.execute(text(f"CREATE INDEX {name}_gin ON layout_probe.{name} USING gin (doc)"))
        total, gin = c.execute(text(f"SELECT pg_total_relation_size('layout_probe.{name}'), "
                                    f"pg_relation_size('layout_probe.{name}_gin')")).one()
        return int(total), int(gin), time.perf_counter() - t0
    c.execute(text("CREATE TABLE layout_probe.emails AS SELECT id, subject, from_name, from_addr, data FROM emails"))
    c.execute(text("ALTER TABLE layout_probe.emails ADD PRIMARY KEY (id)"))
    t0 = time.perf_counter()
    c.execute(text(f"CREATE INDEX layout_probe_doc ON layout_probe.emails USING gin (({_EXPR}))"))
    size = int(c.execute(text("SELECT pg_relation_size('layout_probe.layout_probe_doc')")).scalar_one())
    return size, size, time.perf_counter() - t0


def _search_sql(layout: str, query: str, field: bool) -> str:
    q = "to_tsquery('beacon_search', :q)"
    if layout == "expression":
        return (f"SELECT count(*), sum(ts_rank({_EXPR}, {q})) FROM (SELECT * FROM layout_probe.emails "
                f"WHERE id > :floor AND {_EXPR} @@ {q} ORDER BY id DESC LIMIT {RANKED}) m")
    if layout == "current":  # ranked in Python (beacon.query.relevance): ids only
        q_col = "beacon_search_query('f:', :field_q)" if field else "to_tsquery('beacon_search', :words_q)"
        return (f"SELECT count(*), 0 FROM (SELECT email_id FROM email_search "
                f"WHERE email_id > :floor AND doc @@ {q_col} ORDER BY email_id DESC LIMIT {RANKED}) m")
    name = layout.replace("-", "_")
    return (f"SELECT count(*), sum(ts_rank(doc, {q})) FROM (SELECT doc FROM layout_probe.{name} "
            f"WHERE id > :floor AND doc @@ {q} ORDER BY id DESC LIMIT {RANKED}) m")


def probe(n: int, work: Path, layouts: list[str]) -> list[list[str]]:
    url = store_url("postgres", n, work)
    eng = create_engine(Database(url).url)
    text_bytes = json.loads((work / f"postgres-{n}.json").read_text())["text_bytes"]
    rows = []
    with eng.connect() as c:
        c.execute(text("DROP SCHEMA IF EXISTS layout_probe CASCADE"))
        c.execute(text("CREATE SCHEMA layout_probe"))
        c.execute(text(_DOC_FUNCTION))
        c.execute(text("SET maintenance_work_mem = '1GB'"))
        c.commit()
        top = c.execute(text("SELECT max(id) FROM emails")).scalar_one()
        try:
            for layout in layouts:
                size, gin, build_s = _build(c, layout)
                c.commit()
                if layout != "current":
                    c.execute(text(f"ANALYZE layout_probe.{'emails' if layout == 'expression' else layout.replace('-', '_')}"))
                c.execute(text("SET enable_indexscan = off; SET max_parallel_workers_per_gather = 0"))
                times = []
                for label, query in QUERIES.items():
                    sql = text(_search_sql(layout, query, label == "from:"))
                    params = {"floor": max(0, top - WINDOW), "q": query, "field_q": query.replace(":B", ""),
                              "words_q": query.replace("<->", "&")}
                    ms = []
                    for rep in range(4):
                        t = time.perf_counter()
                        found = c.execute(sql, params).one()
                        if rep:
                            ms.append((time.perf_counter() - t) * 1000)
                    times.append(f"{statistics.median(ms):.0f} ({found[0]})")
                c.rollback()
                rows.append([f"{n:,}", layout, f"{size / 1e6:,.1f}", f"{size / text_bytes:.0%}", f"{gin / 1e6:,.1f}",
                             f"{build_s:.1f}" if layout == "expression" else "", *times])
                console.log(rows[-1])
        finally:
            c.rollback()
            c.execute(text("DROP SCHEMA IF EXISTS layout_probe CASCADE"))
            c.commit()
    eng.dispose()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--work", type=Path, required=True, help="store_scale's --work (its postgres-N.json)")
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    args = ap.parse_args()
    table = Table(title=f"PostgreSQL index layouts: size and ms to find and rank the newest {RANKED:,} matches "
                        f"among the newest {WINDOW:,} emails (matches in brackets), median of 3")
    for col in ("emails", "layout", "index MB", "index/text", "of which GIN MB", "expression build s", *QUERIES):
        table.add_column(col, justify="right")
    for n in (int(x) for x in args.sizes.split(",")):
        for row in probe(n, args.work, args.layouts.split(",")):
            table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
