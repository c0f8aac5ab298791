"""PostgreSQL's computed-vector search index (migration 0018) on store_scale's stores: the
migration and a reindex timed, the index against the text, and every search query of
store_scale timed through the store's own calls (a page and its count, in this process).

    python bench/pg_search_gin.py --sizes 10000,100000 [--work DIR] [--phase migrate,reindex,measure]

``migrate`` brings a store to the newest migration, timing 0018 (it drops the stored vectors
and builds the index in the migration's one session); ``reindex`` is ``beacon reindex``'s
work (the index's parts built at once, a session each). The load is printed with each.
Text bytes come from store_scale's ``postgres-N.json`` in ``--work`` when there, else they
are measured here with the text definition store_scale uses.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from alembic import command
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from bench.store_scale import QUERIES, InProcess, store_url  # noqa: E402
from beacon.store import search_index  # noqa: E402
from beacon.store.db import Database  # noqa: E402

console = Console()
SEARCHES = [(label, params) for label, params in QUERIES if "q" in params]


def _load() -> str:
    return "{:.1f}".format(os.getloadavg()[0])


def migrate(n: int, work: Path) -> None:
    db = Database(store_url("postgres", n, work))
    cfg = db.alembic_config()
    command.upgrade(cfg, "0017")
    load = _load()
    t = time.perf_counter()
    command.upgrade(cfg, "0018")
    console.log(f"{n:,}: migration 0018 in {time.perf_counter() - t:.1f} s (load {load} -> {_load()})")
    with db.sql_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("ANALYZE emails")
    db.dispose()


def reindex(n: int, work: Path) -> None:
    db = Database(store_url("postgres", n, work))
    load = _load()
    with db.sql_engine.begin() as c:
        result = search_index.reindex(c)
    console.log(f"{n:,}: reindex of {result.emails:,} emails in {result.seconds:.1f} s (load {load} -> {_load()}), "
                f"index {result.index_bytes / 1e6:,.1f} MB")
    db.dispose()


def _text_bytes(db: Database, n: int, work: Path) -> float:
    saved = work / f"postgres-{n}.json"
    if saved.exists():
        return float(json.loads(saved.read_text())["text_bytes"])
    raise SystemExit(f"no {saved}: run store_scale's build first")


def measure(sizes: list[int], work: Path) -> None:
    table = Table(title="PostgreSQL computed-vector index: store calls (page + count) in this process, median of 3 (ms)")
    table.add_column("query")
    for n in sizes:
        table.add_column(f"{n:,}", justify="right")
    rows: dict[str, list[str]] = {label: [] for label, _ in SEARCHES}
    sizes_row, loads = [], []
    for n in sizes:
        url = store_url("postgres", n, work)
        local = InProcess(url)
        loads.append(_load())
        for label, params in SEARCHES:
            ms = [local.get(params) for _ in range(4)][1:]
            rows[label].append(f"{statistics.median(ms):.1f}")
        local.stop()
        db = Database(url)
        with db.sql_engine.connect() as c:
            size = search_index.index_bytes(c)
        sizes_row.append(f"{size / 1e6:,.1f} MB = {size / _text_bytes(db, n, work):.0%}")
        db.dispose()
    for label, _ in SEARCHES:
        table.add_row(label, *rows[label])
    table.add_row("index / text", *sizes_row)
    table.add_row("load (1 min) at start", *loads)
    console.print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--work", type=Path, default=Path("/work/bench-16"))
    ap.add_argument("--phase", default="migrate,reindex,measure")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    phases = args.phase.split(",")
    for n in sizes:
        if "migrate" in phases:
            migrate(n, args.work)
        if "reindex" in phases:
            reindex(n, args.work)
    if "measure" in phases:
        measure(sizes, args.work)


if __name__ == "__main__":
    main()
