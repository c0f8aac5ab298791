"""The store's own cost per imported message: ``add_batch`` alone, parsing left out.

    PYTHONPATH=CHECKOUT python bench/store_batch_bench.py [--messages 3000] [--batch 200] [--repeat 3]

Prepares the first N SpamAssassin messages as the parse workers do (rows, JSON, index rows),
then writes them into a fresh SQLite store in batches, as the importer and the IMAP sync do,
and prints the CPU ms per message of each repeat (process time: steadier than wall time on a
shared machine). Run it with each checkout on PYTHONPATH to compare two.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # testkit (beacon comes from PYTHONPATH)
    from beacon.ingest.prepare import ParseJob, prepare_one
    from beacon.store import emails as store
    from beacon.store.db import Database
    from testkit.corpora import spamassassin_dir

    files = sorted(spamassassin_dir().rglob("*.txt"))[: args.messages]
    now = datetime.now(timezone.utc)
    rows = [p.new for p in (prepare_one(ParseJob(f.read_bytes(), str(f), None, now)) for f in files) if p.new]
    figures = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{tmp}/store.db")
            db.migrate()
            with db.session() as s:
                account = store.get_or_create_account(s, "bench").id
            started = time.process_time()
            for i in range(0, len(rows), args.batch):
                with db.session() as s:
                    store.add_batch(s, account, rows[i:i + args.batch])
            figures.append(1000 * (time.process_time() - started) / len(rows))
            db.dispose()
    print(f"{store.__file__}: {len(rows):,} messages, store CPU ms/msg " + ", ".join(f"{f:.3f}" for f in figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
