"""store_scale's queries on two checkouts' stores side by side, in one run: each store served by
its own checkout's ``beacon serve``, and every query timed on each in turn (A, B, A, B ... for
each size and repeat), so both meet the same load. For a layout change of the index, where
the stores differ as the code does.

    python bench/store_scale_vs.py --sizes 10000,100000 [--backend postgres] [--port 8850]
        --layout main:SRC_A:WORK_A:PGNAME_A --layout branch:SRC_B:WORK_B:PGNAME_B

Each ``--layout`` is LABEL:SRC:WORK:PGNAME: the checkout whose code serves the stores (its
directory goes first on the servers' PYTHONPATH), and store_scale's ``--work`` and
``--pg-name`` of the build that made them (``bench/store_scale.py --phase build`` run from
that checkout). The table: medians of 3 after a warm-up per store (ms, through the API), the
median of the B/A ratios taken pair by pair at each size, and for each layout the largest
size against the smallest with store_scale's targets (<= 2x, < 100 ms). Then each store's
total for every query (exact, or "N+" / "about N"), the index against the text and the
reindex time from the builds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from bench.store_scale import QUERIES, Server, db_bytes, deep_cursor, store_url  # noqa: E402

console = Console()


@dataclass(frozen=True)
class Layout:
    label: str
    src: Path
    work: Path
    pg_name: str

    @classmethod
    def parse(cls, arg: str) -> Layout:
        label, src, work, pg_name = arg.split(":")
        return cls(label, Path(src).resolve(), Path(work), pg_name)


def _total(answer: dict[str, object]) -> str:
    return f"{answer['total']:,}" + ("" if answer["total_exact"] else "+")


def measure(backend: str, sizes: list[int], layouts: list[Layout], port: int) -> None:
    a, b = layouts
    urls = {(lay.label, n): store_url(backend, n, lay.work, lay.pg_name) for lay in layouts for n in sizes}
    servers: dict[tuple[str, int], Server] = {}
    try:
        for i, (key, url) in enumerate(urls.items()):
            lay = a if key[0] == a.label else b
            servers[key] = Server(url, port + i, lay.work, env={"PYTHONPATH": str(lay.src)})
        # Halfway down the priority order of the first layout's store (the rows are the same).
        cursors = {n: deep_cursor(urls[(a.label, n)], n) for n in sizes}
        times: dict[tuple[str, str, int], list[float]] = {}
        totals: dict[tuple[str, str, int], str] = {}
        for label, params in QUERIES:
            for rep in range(4):
                for n in sizes:
                    p = {k: (cursors[n] if v == "DEEP" else v) for k, v in params.items()}
                    for lay in layouts:
                        ms = servers[(lay.label, n)].get(p)
                        if rep:  # the first is a warm-up
                            times.setdefault((label, lay.label, n), []).append(ms)
                        else:
                            totals[(label, lay.label, n)] = _total(servers[(lay.label, n)].last.json())
    finally:
        for srv in servers.values():
            srv.stop()
    _print_times(backend, sizes, layouts, times)
    _print_totals(sizes, layouts, totals)
    _print_sizes(backend, sizes, layouts, urls)


def _print_times(backend: str, sizes: list[int], layouts: list[Layout],
                 times: dict[tuple[str, str, int], list[float]]) -> None:
    a, b = layouts
    small, large = sizes[0], sizes[-1]
    table = Table(title=f"{backend}: GET /api/emails, {a.label} vs {b.label} interleaved, median of 3 (ms)")
    table.add_column("query")
    for n in sizes:
        for lay in layouts:
            table.add_column(f"{n:,} {lay.label}", justify="right")
        table.add_column(f"{n:,} {b.label}/{a.label}", justify="right")
    for lay in layouts:
        table.add_column(f"{lay.label} {large:,}/{small:,}", justify="right")
    for label, _ in QUERIES:
        cells = []
        for n in sizes:
            ta, tb = times[(label, a.label, n)], times[(label, b.label, n)]
            cells += [f"{statistics.median(ta):.1f}", f"{statistics.median(tb):.1f}",
                      f"{statistics.median(y / x for x, y in zip(ta, tb)):.2f}"]
        for lay in layouts:
            med_large = statistics.median(times[(label, lay.label, large)])
            ratio = med_large / statistics.median(times[(label, lay.label, small)])
            ok = ratio <= 2 and med_large < 100
            cells.append(f"{ratio:.2f} {'met' if ok else 'MISSED'}")
        table.add_row(label, *cells)
    console.print(table)


def _print_totals(sizes: list[int], layouts: list[Layout], totals: dict[tuple[str, str, int], str]) -> None:
    table = Table(title="total of each query's first answer (N+: at least N, an estimate or a cap)")
    table.add_column("query")
    for n in sizes:
        for lay in layouts:
            table.add_column(f"{n:,} {lay.label}", justify="right")
    for label, _ in QUERIES:
        table.add_row(label, *(totals[(label, lay.label, n)] for n in sizes for lay in layouts))
    console.print(table)


def _print_sizes(backend: str, sizes: list[int], layouts: list[Layout], urls: dict[tuple[str, int], str]) -> None:
    table = Table(title=f"{backend}: stores, from each build's {backend}-N.json")
    for col in ("layout", "emails", "DB bytes/email", "reindex s", "load at reindex start, end", "index MB",
                "text MB", "index/text"):
        table.add_column(col, justify="right")
    for lay in layouts:
        for n in sizes:
            info = json.loads((lay.work / f"{backend}-{n}.json").read_text())
            table.add_row(lay.label, f"{n:,}", f"{db_bytes(backend, urls[(lay.label, n)]) / n:,.0f}",
                          f"{info['reindex_s']:.1f}", ", ".join(f"{x:.1f}" for x in info.get("reindex_load", ())),
                          f"{info['index_bytes'] / 1e6:,.1f}", f"{info['text_bytes'] / 1e6:,.1f}",
                          f"{info['index_bytes'] / info['text_bytes']:.0%}")
    console.print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    ap.add_argument("--layout", action="append", type=Layout.parse, required=True,
                    help="LABEL:SRC:WORK:PGNAME, twice (A then B)")
    ap.add_argument("--port", type=int, default=8850, help="the first server's port (one per layout and size)")
    args = ap.parse_args()
    if len(args.layout) != 2:
        ap.error("--layout: exactly two")
    measure(args.backend, sorted(int(x) for x in args.sizes.split(",")), args.layout, args.port)


if __name__ == "__main__":
    main()
