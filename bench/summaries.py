"""Summary boilerplate benchmark: how many summaries hold a URL, an unsubscribe line or a list footer.

    python bench/summaries.py [--per-folder N] [--show N]

Runs the real analysis pipeline (in this process) over the SpamAssassin folders the split allows
for tuning (``easy-ham-2/``, ``spam-1/``, the even-numbered ``hard-ham-1/`` files), the first N
files of each in name order, and counts summaries containing:

- a URL (``http(s)://``, ``ftp://``, ``www.``) or an e-mail address,
- an unsubscribe / removal line,
- a mailing-list footer or sponsor banner (Mailman, SourceForge, Yahoo! Groups ...).

The patterns are the bench's own, not the summariser's. Run it with another checkout on
``PYTHONPATH`` to compare before and after.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: testkit

from beacon.analysis.pipeline import Pipeline  # noqa: E402
from beacon.parse import parse_message  # noqa: E402
from beacon.settings import Settings  # noqa: E402
from testkit.corpora import spamassassin_dir  # noqa: E402

CHECKS = {
    "url": re.compile(r"https?://|ftp://|\bwww\.|[\w.+-]+@[\w-]+\.[\w.]+", re.IGNORECASE),
    "unsubscribe": re.compile(
        r"unsubscri|opt[- ]?out|to be removed|remove (?:me|you|yourself|your (?:name|address|e-?mail))|"
        r"removed from (?:this|our|the|future)|no longer wish to receive|stop receiving", re.IGNORECASE),
    "list footer": re.compile(
        r"mailing list\b|listinfo|list maintainer|sponsored by|yahoo! ?groups|do you yahoo|"
        r"\(un\)subscription|you (?:are )?receiv\w* this", re.IGNORECASE),
}


def allowed_files(per_folder: int) -> list[Path]:
    root = spamassassin_dir()
    hard_even = [p for p in sorted((root / "hard-ham-1").glob("*.txt")) if int(p.name.split(".")[0]) % 2 == 0]
    return (
        sorted((root / "easy-ham-2").glob("*.txt"))[:per_folder]
        + sorted((root / "spam-1").glob("*.txt"))[:per_folder]
        + hard_even[:per_folder]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-folder", type=int, default=200)
    ap.add_argument("--show", type=int, default=0, help="print this many offending summaries")
    args = ap.parse_args()

    files = allowed_files(args.per_folder)
    emails = [parse_message(p.read_bytes()).email for p in files]
    pipeline = Pipeline.load(Settings())
    t0 = time.perf_counter()
    analyses = []
    for i in range(0, len(emails), 32):
        with pipeline.nlp.memory_zone():
            analyses += [a.model_copy(deep=True) for a in pipeline.analyze(emails[i: i + 32])]
    elapsed = time.perf_counter() - t0

    hits = {name: 0 for name in CHECKS}
    any_hit = 0
    empty = 0
    shown = 0
    for path, a in zip(files, analyses, strict=True):
        text = "\n".join(a.summary)
        empty += not a.summary
        found = [name for name, rx in CHECKS.items() if rx.search(text)]
        for name in found:
            hits[name] += 1
        any_hit += bool(found)
        if found and shown < args.show:
            shown += 1
            print(f"  {path.parent.name}/{path.name[:5]}  {found}: {text[:160]!r}")
    n = len(analyses)
    print(f"\n{n} emails of the allowed split ({args.per_folder} per folder), analysed in {elapsed:.0f}s")
    print(f"{'summaries containing':<28}{'count':>7}{'share':>8}")
    for name, count in hits.items():
        print(f"{name:<28}{count:>7}{100 * count / n:>7.1f}%")
    print(f"{'any of them':<28}{any_hit:>7}{100 * any_hit / n:>7.1f}%")
    print(f"{'empty summary':<28}{empty:>7}{100 * empty / n:>7.1f}%")


if __name__ == "__main__":
    main()
