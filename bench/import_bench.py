"""Import benchmark: the SpamAssassin public corpus (6,046 real messages) into a fresh store.

    python bench/import_bench.py [--repeat N] [--database-url URL]

Imports the corpus as a directory tree, then (to show memory stays flat on a big mailbox) as
one mbox holding the corpus ``--repeat`` times with fresh Message-IDs. Prints messages/s, RSS
every 2,000 messages and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import mailbox
import resource
import sys
import tempfile
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: testkit

from beacon.ingest.importer import ImportSummary, import_items  # noqa: E402
from beacon.ingest.sources import RawItem, detect  # noqa: E402
from beacon.store.db import Database  # noqa: E402
from testkit.corpora import spamassassin_dir  # noqa: E402

MB = 1024 * 1024


def _rss() -> float:
    return psutil.Process().memory_info().rss / MB


def _peak_rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(db: Database, source_path: Path, label: str, console: Console) -> tuple[ImportSummary, float, list]:
    samples: list[tuple[int, float]] = []

    def on_item(_item: RawItem, s: ImportSummary) -> None:
        if s.seen % 2000 == 0:
            samples.append((s.seen, _rss()))

    start = time.perf_counter()
    summary = import_items(db, detect(source_path).iter_items(), account=label, on_item=on_item)
    elapsed = time.perf_counter() - start
    return summary, elapsed, samples


def build_big_mbox(corpus: Path, repeat: int, out: Path) -> int:
    """The corpus ``repeat`` times in one mbox; each copy gets its own Message-ID so it's new mail."""
    box = mailbox.mbox(out)
    n = 0
    files = sorted(corpus.rglob("*.txt"))
    box.lock()
    for r in range(repeat):
        for f in files:
            raw = f.read_bytes()
            if raw.startswith(b"From "):  # the corpus files carry an mbox From_ line
                raw = raw.split(b"\n", 1)[1]
            box.add(b"Message-ID: <bench-%d-%d@beacon.invalid>\n" % (r, n) + raw)
            n += 1
    box.flush()
    box.unlock()
    box.close()
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="copies of the corpus in the big mbox (0 = skip)")
    ap.add_argument("--database-url", default="", help="default: a fresh SQLite file in a temp dir")
    args = ap.parse_args()
    console = Console(width=200)  # tables stay readable when piped to a file
    corpus = spamassassin_dir()
    with tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp:
        db = Database(args.database_url or f"sqlite:///{tmp}/bench.db")
        db.migrate()
        rss_start = _rss()
        rows = []
        summary, elapsed, samples = run(db, corpus, "corpus-tree", console)
        rows.append(("SpamAssassin tree", summary, elapsed, samples))
        if args.repeat:
            big = Path(tmp) / "big.mbox"
            n = build_big_mbox(corpus, args.repeat, big)
            console.print(f"built {big.name}: {n:,} messages, {big.stat().st_size / MB:,.0f} MB")
            summary, elapsed, samples = run(db, big, "big-mbox", console)
            rows.append((f"one mbox, corpus ×{args.repeat}", summary, elapsed, samples))

        t = Table(title="Import benchmark (parse + store, one process)")
        for col in ("source", "messages", "imported", "dup", "failed", "with problems", "seconds", "msg/s"):
            t.add_column(col, justify="right" if col != "source" else "left")
        for label, s, el, _ in rows:
            t.add_row(label, f"{s.seen:,}", f"{s.imported:,}", f"{s.duplicates:,}", f"{s.failed:,}",
                      f"{s.with_problems:,}", f"{el:.1f}", f"{s.seen / el:,.0f}")
        console.print(t)
        m = Table(title="Memory (RSS, MB) while importing")
        m.add_column("source")
        m.add_column("RSS every 2,000 messages")
        for label, _s, _el, samples in rows:
            m.add_row(label, " ".join(f"{rss:.0f}" for _n, rss in samples))
        console.print(m)
        console.print(f"RSS at start {rss_start:.0f} MB, at end {_rss():.0f} MB, peak {_peak_rss():.0f} MB")
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
