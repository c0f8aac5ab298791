"""Import benchmark: throughput, CPU and memory of ``beacon import`` on real and big mail.

    python bench/import_bench.py [--repeat N] [--big-mb 100] [--workers W] [--database-url URL]
                                 [--before DIR]

Every import runs in a fresh child process (a clean peak RSS), into a fresh SQLite store:

1. the SpamAssassin public corpus (6,046 real messages) as a directory tree;
2. one mbox holding the corpus ``--repeat`` times with fresh Message-IDs (memory stays flat);
3. one message of ``--big-mb`` MB (a base64 attachment), with the default size limit
   (50 MB: stored with its headers) and with the limit raised above it (parsed whole).

Columns: messages/s (wall), CPU ms per message summed over the importing process and its
parse workers, less what this benchmark's own sampling thread spent reading /proc (it grows
with wall time, so a loaded machine inflated the figure; "sampling ms/msg" shows it), steadier
than wall time on a shared machine; "2-core msg/s" = 2,000 / that,
what an otherwise idle 2-core machine would do), the importing process's peak RSS and the
peak RSS of it and its workers together (RSS counts the pages a forked worker shares with
its fork server once per process; the PSS column shares them out, what the machine really
gives), against the target of 3x the largest message + 150 MB.

The SpamAssassin tree is imported with the parse workers and without them (``--workers 0``).
``--before DIR`` (another checkout, e.g. main) interleaves its rows with this one's, so the
two are compared inside one run on a shared machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import mailbox
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: testkit

MB = 1024 * 1024


class TreeSampler:
    """CPU seconds and RSS of this process and all its descendants (parse workers)."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self.me = psutil.Process()
        self.cpu: dict[int, float] = {}
        self.tree_peak = 0
        self.pss_peak = 0
        self.own_cpu = 0.0  # CPU seconds the sampling itself took (left out of the figures)
        self._n = 0
        self._interval = interval
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        import psutil

        started = time.thread_time()
        total = pss = 0
        self._n += 1
        with_pss = self._n % 5 == 1  # reading smaps costs: every fifth sample
        for proc in [self.me, *self.me.children(recursive=True)]:
            try:
                with proc.oneshot():
                    t = proc.cpu_times()
                    self.cpu[proc.pid] = t.user + t.system
                    total += proc.memory_info().rss
                    if with_pss:
                        pss += proc.memory_full_info().pss
            except psutil.Error:
                continue
        self.tree_peak = max(self.tree_peak, total)
        self.pss_peak = max(self.pss_peak, pss)
        # Reading /proc (smaps above all) costs this process some 3 ms a sample: not import work.
        self.own_cpu += time.thread_time() - started

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def __enter__(self) -> TreeSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample()
        self._stop.set()
        self._t.join()


def child(path: str, db_url: str, limit: int, workers: int | None) -> None:
    """Import ``path`` (run in a fresh process) and print the figures as JSON."""
    from beacon.ingest.importer import import_items
    from beacon.ingest.sources import detect
    from beacon.store.db import Database

    db = Database(db_url)
    db.migrate()
    with TreeSampler() as sampler:
        start = time.perf_counter()
        summary = import_items(db, detect(path).iter_items(limit), account="bench", workers=workers,
                               max_message_bytes=limit)
        elapsed = time.perf_counter() - start
        sampler.sample()
    db.dispose()
    print(json.dumps({
        "seen": summary.seen, "imported": summary.imported, "failed": summary.failed,
        "with_problems": summary.with_problems, "seconds": elapsed,
        "cpu": sum(sampler.cpu.values()) - sampler.own_cpu,
        "main_cpu": sampler.cpu.get(os.getpid(), 0.0) - sampler.own_cpu, "sampler_cpu": sampler.own_cpu,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "tree_peak": sampler.tree_peak, "pss_peak": sampler.pss_peak,
    }))


def run_child(path: Path, db_url: str, limit: int, workers: int | None, code: Path | None = None) -> dict:
    """One import in a fresh process; ``code``: the checkout whose beacon it imports."""
    cmd = [sys.executable, __file__, "--child", str(path), "--database-url", db_url, "--limit", str(limit)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    env = dict(os.environ)
    if code is not None:
        cmd += ["--code", str(code)]
        env["PYTHONPATH"] = str(code)  # the parse workers import the same checkout
    # A neutral working directory: Python 3.11's fork server puts its own first on sys.path,
    # and from inside another checkout the workers would import that one's beacon.
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=path.parent).stdout
    return json.loads(out.strip().splitlines()[-1])


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


def write_big_message(path: Path, size: int) -> None:
    """A message of about ``size`` bytes: a short text and one base64 attachment."""
    with path.open("wb") as out:
        out.write(b"From: bench@example.org\nTo: you@example.org\nSubject: big\nMessage-ID: <big@bench>\n"
                  b"Date: Mon, 1 Jan 2024 10:00:00 +0000\nMIME-Version: 1.0\n"
                  b"Content-Type: multipart/mixed; boundary=BB\n\n--BB\nContent-Type: text/plain\n\n"
                  b"See attachment.\n--BB\nContent-Type: application/octet-stream; name=blob.bin\n"
                  b"Content-Transfer-Encoding: base64\n\n")
        left = size * 3 // 4
        while left > 0:
            n = min(left, 3 * MB)
            out.write(base64.encodebytes(os.urandom(n)))
            left -= n
        out.write(b"--BB--\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="copies of the corpus in the big mbox (0 = skip)")
    ap.add_argument("--big-mb", type=int, default=100, help="size of the big message in MB (0 = skip)")
    ap.add_argument("--workers", type=int, default=None, help="parse workers (default: one per core)")
    ap.add_argument("--database-url", default="", help="default: a fresh SQLite file per import")
    ap.add_argument("--before", type=Path, help="another checkout (e.g. main) whose rows are interleaved")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--code", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=50 * MB, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        if args.code:
            sys.path.insert(0, args.code)
        child(args.child, args.database_url, args.limit, args.workers)
        return 0

    from rich.console import Console
    from rich.table import Table

    from testkit.corpora import spamassassin_dir

    console = Console(width=200)  # tables stay readable when piped to a file
    corpus = spamassassin_dir()
    largest = max(f.stat().st_size for f in corpus.rglob("*.txt"))
    rows: list[tuple[str, int, dict]] = []
    # (label suffix, checkout): this one, and before it the other one when comparing.
    trees: list[tuple[str, Path | None]] = [("", None)]
    if args.before:
        trees = [(" (before)", args.before.resolve()), (" (after)", Path(__file__).resolve().parents[1])]
    with tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp:
        def db_url(name: str) -> str:
            return args.database_url or f"sqlite:///{tmp}/{name}-{len(rows)}.db"

        def each(label: str, path: Path, biggest: int, limit: int, workers: int | None = args.workers) -> None:
            for suffix, code in trees:
                rows.append((label + suffix, biggest, run_child(path, db_url("db"), limit, workers, code)))

        each("SpamAssassin tree", corpus, largest, 50 * MB)
        if args.workers != 0:
            each("SpamAssassin, no workers", corpus, largest, 50 * MB, 0)
        if args.repeat:
            big = Path(tmp) / "big.mbox"
            n = build_big_mbox(corpus, args.repeat, big)
            console.print(f"built {big.name}: {n:,} messages, {big.stat().st_size / MB:,.0f} MB")
            each(f"one mbox, corpus ×{args.repeat}", big, largest, 50 * MB)
        if args.big_mb:
            path = Path(tmp) / "big.eml"
            write_big_message(path, args.big_mb * MB)
            size = path.stat().st_size
            each(f"{size / MB:.0f} MB message, 50 MB limit (headers kept)", path, size, 50 * MB)
            each(f"{size / MB:.0f} MB message, limit raised (parsed whole)", path, size, 4 * size)

    workers = "one per core" if args.workers is None else str(args.workers)
    t = Table(title=f"Import benchmark (parse workers: {workers}; {os.cpu_count()} cores)")
    for col in ("source", "messages", "imported", "failed", "with problems", "seconds", "msg/s",
                "CPU ms/msg", "of which main", "sampling ms/msg", "2-core msg/s", "peak RSS MB", "peak RSS + workers MB", "PSS + workers MB", "target MB"):
        t.add_column(col, justify="right" if col != "source" else "left", no_wrap=col == "source")
    for label, biggest, r in rows:
        cpu_ms = 1000 * r["cpu"] / max(r["seen"], 1)
        t.add_row(label, f"{r['seen']:,}", f"{r['imported']:,}", f"{r['failed']:,}", f"{r['with_problems']:,}",
                  f"{r['seconds']:.1f}", f"{r['seen'] / r['seconds']:,.0f}", f"{cpu_ms:.2f}",
                  f"{1000 * r['main_cpu'] / max(r['seen'], 1):.2f}",
                  f"{1000 * r.get('sampler_cpu', 0.0) / max(r['seen'], 1):.2f}",
                  f"{2000 / cpu_ms:,.0f}", f"{r['peak_rss'] / MB:.0f}", f"{r['tree_peak'] / MB:.0f}",
                  f"{r.get('pss_peak', 0) / MB:.0f}", f"{(3 * biggest + 150 * MB) / MB:.0f}")
    console.print(t)
    console.print(f"largest SpamAssassin message: {largest / 1024:.0f} KB; load average now "
                  f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
