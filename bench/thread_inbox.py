"""Page 1 of the inbox at ~50k emails: every message (the inbox before conversations), the
conversation inbox through the maintained head flag, and the same without a flag (each thread's
best message found by a window function over every analysis, what a flag avoids).

    python bench/thread_inbox.py [--emails 50000] [--backends sqlite,postgres] [--repeat 15]

The store is synthetic and built in the database (bulk INSERTs): threads of 1 to 8 messages,
scores spread over 0-100, heads set as migration 0006 sets them. Each query runs through
``beacon.store.inbox.inbox_page`` (keys, then the page's rows) plus the thread counts beside a
page of conversations; rows are interleaved and each figure is the median of ``--repeat``.
Target: conversations page 1 within 2x the message page 1 (both index walks).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from beacon.store.db import Database  # noqa: E402
from beacon.store.inbox import InboxFilter, inbox_page  # noqa: E402
from beacon.store.schema import Account, AnalysisRow, EmailRow  # noqa: E402
from beacon.triage.threads import thread_counts  # noqa: E402

PG_ADMIN = os.environ.get("BEACON_TEST_POSTGRES_URL", "postgresql://beacon:beacon@127.0.0.1/beacon")
VERSION = "bench"
console = Console()


def build(db: Database, n: int) -> None:
    rnd = random.Random(14)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with db.session() as s:
        acc = Account(name="bench", kind="local", addresses=["me@example.com"], folders=["INBOX"])
        s.add(acc)
        s.flush()
        account_id = acc.id
    emails: list[dict[str, Any]] = []
    analyses: list[dict[str, Any]] = []
    i = 0
    while i < n:
        size = min(rnd.choice((1, 1, 1, 2, 2, 3, 4, 8)), n - i)
        thread = f"t{i}@bench"
        for k in range(size):
            i += 1
            date = start + timedelta(minutes=7 * i)
            score = rnd.randint(0, 100)
            emails.append(dict(id=i, account_id=account_id, message_id=f"m{i}@bench", content_hash=f"{i:064x}",
                               thread_id=thread, subject=f"subject {i}", from_addr=f"s{i % 997}@example.org",
                               date=date, data={}, analysed_version=VERSION))
            analyses.append(dict(email_id=i, pipeline_version=VERSION, score=score,
                                 level="HIGH" if score >= 60 else "MEDIUM" if score >= 35 else "LOW",
                                 kind="personal", category="work", needs_reply=k == 0, data={}, email_date=date))
    with db.session() as s:
        for chunk in range(0, len(emails), 5000):
            s.execute(insert(EmailRow), emails[chunk:chunk + 5000])
            s.execute(insert(AnalysisRow), analyses[chunk:chunk + 5000])
        s.execute(text(
            "UPDATE analyses SET thread_head = true WHERE id IN (SELECT id FROM ("
            " SELECT a.id, row_number() OVER (PARTITION BY e.account_id, e.thread_id"
            "  ORDER BY a.score DESC, a.email_date DESC, a.email_id DESC) AS rn"
            " FROM analyses a JOIN emails e ON e.id = a.email_id) ranked WHERE rn = 1)"))
    with db.sql_engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def messages_page(db: Database) -> int:
    with db.session() as s:
        return len(inbox_page(s, InboxFilter(pipeline_version=VERSION), limit=50).rows)


def threads_page(db: Database) -> int:
    with db.session() as s:
        rows = inbox_page(s, InboxFilter(pipeline_version=VERSION, threads=True), limit=50).rows
        thread_counts(s, [e for e, _a in rows])
        return len(rows)


def threads_high(db: Database) -> int:
    with db.session() as s:
        rows = inbox_page(s, InboxFilter(pipeline_version=VERSION, threads=True, level="HIGH"), limit=50).rows
        thread_counts(s, [e for e, _a in rows])
        return len(rows)


def threads_without_flag(db: Database) -> int:
    """Each thread's best message by a window function over every analysis, then page 1."""
    q = text(
        "SELECT email_id FROM (SELECT a.email_id, a.score, a.email_date, row_number() OVER ("
        " PARTITION BY e.account_id, e.thread_id ORDER BY a.score DESC, a.email_date DESC, a.email_id DESC) AS rn"
        " FROM analyses a JOIN emails e ON e.id = a.email_id WHERE a.pipeline_version = :v) best"
        " WHERE rn = 1 ORDER BY score DESC, email_date DESC, email_id DESC LIMIT 50")
    with db.session() as s:
        ids = [r[0] for r in s.execute(q, {"v": VERSION})]
        rows = s.execute(select(EmailRow.id).where(EmailRow.id.in_(ids))).all()
        return len(rows)


QUERIES: list[tuple[str, Callable[[Database], int]]] = [
    ("messages page 1 (before)", messages_page),
    ("conversations page 1 (head flag)", threads_page),
    ("conversations level=HIGH (head flag)", threads_high),
    ("conversations page 1 without a flag (window)", threads_without_flag),
]


def open_store(backend: str, work: Path, n: int) -> tuple[Database, Callable[[], None]]:
    if backend == "sqlite":
        db = Database(f"sqlite:///{work / f'threads-{n}.db'}")
        db.migrate()
        return db, db.dispose
    name = f"beacon_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(Database(PG_ADMIN).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}")
    db.migrate()

    def drop() -> None:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return db, drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emails", type=int, default=50_000)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        try:
            for backend in args.backends.split(","):
                t0 = time.perf_counter()
                db, close = open_store(backend, Path(tmp), args.emails)
                stores[backend] = (db, close)
                build(db, args.emails)
                console.print(f"{backend}: {args.emails:,} emails built in {time.perf_counter() - t0:.1f} s")
            times: dict[tuple[str, str], list[float]] = {}
            rows: dict[tuple[str, str], int] = {}
            for _ in range(args.repeat + 1):  # the first round warms up
                for backend, (db, _close) in stores.items():
                    for name, fn in QUERIES:
                        t = time.perf_counter()
                        rows[backend, name] = fn(db)
                        times.setdefault((backend, name), []).append(time.perf_counter() - t)
            table = Table(title=f"Inbox page 1 at {args.emails:,} emails (median of {args.repeat}, ms)")
            for col in ("backend", "query", "rows", "ms", "x messages page 1"):
                table.add_column(col, justify="left" if col in ("backend", "query") else "right")
            for backend in stores:
                base = statistics.median(times[backend, QUERIES[0][0]][1:])
                for name, _fn in QUERIES:
                    ms = statistics.median(times[backend, name][1:])
                    table.add_row(backend, name, str(rows[backend, name]), f"{ms * 1000:.2f}", f"{ms / base:.2f}")
            console.print(table)
        finally:
            for _db, close in stores.values():
                close()


if __name__ == "__main__":
    main()
