"""Analysis throughput, in-process: the SpamAssassin corpus through the full pipeline.

    python bench/analysis_bench.py [--limit N] [--batch 32]

Parses every message first (not timed), then times ``Pipeline.analyze`` over batches inside a
spaCy memory zone, and prints emails/s, characters/s and RSS (start, end, peak).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: testkit

from beacon.analysis.pipeline import Pipeline  # noqa: E402
from beacon.analysis.text import select_text  # noqa: E402
from beacon.parse import parse_message  # noqa: E402
from beacon.settings import Settings  # noqa: E402
from testkit.corpora import spamassassin_dir  # noqa: E402

MB = 1024 * 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=0, help="analyse only the first N messages (0 = all 6,046)")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    console = Console(width=200)  # tables stay readable when piped to a file
    settings = Settings()
    files = sorted(spamassassin_dir().rglob("*.txt"))
    if args.limit:
        files = files[: args.limit]
    emails = [parse_message(f.read_bytes()).email for f in files]
    chars = sum(len(select_text(e, settings.max_text_chars).text) for e in emails)
    proc = psutil.Process()
    rss0 = proc.memory_info().rss / MB
    t_load = time.perf_counter()
    pipeline = Pipeline.load(settings)
    load_s = time.perf_counter() - t_load
    rss_loaded = proc.memory_info().rss / MB
    kinds: dict[str, int] = {}
    t0 = time.perf_counter()
    for i in range(0, len(emails), args.batch):
        with pipeline.nlp.memory_zone():
            for a in pipeline.analyze(emails[i : i + args.batch]):
                kinds[a.kind] = kinds.get(a.kind, 0) + 1
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t = Table(title=f"In-process analysis, {settings.spacy_model}, batch {args.batch}")
    for col in ("emails", "characters", "seconds", "emails/s", "chars/s", "model load s",
                "RSS before load", "RSS after load", "RSS end", "peak RSS"):
        t.add_column(col, justify="right")
    t.add_row(f"{len(emails):,}", f"{chars:,}", f"{elapsed:.1f}", f"{len(emails) / elapsed:.1f}",
              f"{chars / elapsed:,.0f}", f"{load_s:.2f}", f"{rss0:.0f} MB", f"{rss_loaded:.0f} MB",
              f"{proc.memory_info().rss / MB:.0f} MB", f"{peak:.0f} MB")
    console.print(t)
    console.print("mail kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
