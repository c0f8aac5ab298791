"""Does a change to the import path store the same thing? Fingerprints two checkouts' imports.

    python bench/store_fingerprint.py --before /work/main [PATH]

Imports PATH (default: the SpamAssassin corpus, 6,046 messages) with each checkout, in a
fresh process and a fresh SQLite store, at one fixed import time (messages without a date
take it), then compares per message (keyed by source and Message-ID): every ``emails``
column but the id and ``imported_at``, the Email JSON, the raw message (decompressed), the
attachment rows and the full-text index (every indexed word with its column and place,
read through ``fts5vocab``). Prints the number of messages that differ in each part; exit
status 1 when any does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zlib
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

IMPORT_TIME = datetime(2026, 1, 1, tzinfo=timezone.utc)
PARTS = ("columns", "data", "raw", "attachments", "search")


def _digest(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:24]


def child(path: str, db_path: str) -> None:
    """Import ``path`` at IMPORT_TIME and print {key: {part: digest}} as JSON."""
    import beacon.ingest.importer as importer
    from beacon.ingest.sources import detect
    from beacon.store.db import Database

    class _Fixed(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # noqa: ARG003 - the fixed import time
            return IMPORT_TIME

    importer.datetime = _Fixed  # type: ignore[misc] - the time undated messages take
    db = Database(f"sqlite:///{db_path}")
    db.migrate()
    importer.import_items(db, detect(path).iter_items(), account="fp")
    db.dispose()
    import sqlite3

    con = sqlite3.connect(db_path)
    con.execute("CREATE VIRTUAL TABLE temp.words USING fts5vocab(main, email_search, instance)")
    words: dict[int, list[tuple]] = defaultdict(list)
    for term, doc, col, off in con.execute('SELECT term, doc, col, "offset" FROM temp.words'):
        words[doc].append((col, off, term))
    files: dict[int, list[tuple]] = defaultdict(list)
    for row in con.execute("SELECT email_id, position, filename, content_type, size, sha256, part, data "
                           "FROM attachments ORDER BY email_id, position"):
        files[row[0]].append(row[1:])
    out: dict[str, dict[str, str]] = {}
    cur = con.execute("SELECT e.*, r.data AS raw FROM emails e JOIN raw_messages r ON r.email_id = e.id")
    names = [d[0] for d in cur.description]
    for row in cur:
        r = dict(zip(names, row))
        key = f"{r['source']}|{r['message_id']}"
        cols = {k: v for k, v in r.items() if k not in ("id", "account_id", "imported_at", "data", "raw")}
        out[key] = {"columns": _digest(sorted(cols.items())), "data": _digest(r["data"]),
                    "raw": _digest(zlib.decompress(r["raw"])), "attachments": _digest(files.get(r["id"], [])),
                    "search": _digest(sorted(words.get(r["id"], [])))}
    print(json.dumps(out))


def fingerprint(path: Path, code: Path, tmp: str) -> dict[str, dict[str, str]]:
    db = Path(tmp) / f"fp-{code.name}-{os.getpid()}-{len(os.listdir(tmp))}.db"
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, __file__, "--child", str(path), "--db", str(db)],
                          capture_output=True, text=True, env=env, cwd=tmp)
    if done.returncode:
        sys.exit(f"the import with {code} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?", type=Path)
    ap.add_argument("--before", type=Path, required="--child" not in sys.argv)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.db)
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: testkit
    from testkit.corpora import spamassassin_dir

    path = args.path or spamassassin_dir()
    with tempfile.TemporaryDirectory(prefix="beacon-fp-") as tmp:
        before = fingerprint(path, args.before.resolve(), tmp)
        after = fingerprint(path, Path(__file__).resolve().parents[1], tmp)
    print(f"messages: before {len(before):,}, after {len(after):,}, in only one: {len(before.keys() ^ after.keys())}")
    differ = 0
    for part in PARTS:
        n = sum(1 for k in before.keys() & after.keys() if before[k][part] != after[k][part])
        differ += n
        print(f"{part:12} differ: {n}")
    return 1 if differ or before.keys() != after.keys() else 0


if __name__ == "__main__":
    sys.exit(main())
