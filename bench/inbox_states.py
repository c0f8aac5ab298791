"""The inbox's first page with done, snoozed and own mail left out, at 50k emails, on SQLite and
PostgreSQL: does leaving them out keep page 1 an index walk?

    python bench/inbox_states.py [--emails 50000] [--repeat 15] [--backends sqlite,postgres]

One user's store of N emails with analyses (synthetic rows inserted in bulk: the query reads only
the index keys and the page's rows), in states that make the walk harder step by step:

- ``fresh``: no states (the walk of issue #16);
- ``typical``: 10 % done and 2 % snoozed at random, 5 % the reader's own mail;
- ``inbox zero``: the top 90 % by score done (the walk must pass all of it: the worst case);

Timed, interleaved per round, median of ``--repeat``: page 1 of the inbox (50 rows, priority
order) and its count, as the inbox leaves done/snoozed/own mail out (``after``) and with
nothing left out (``before``: ``--all``, the walk as it was before states existed), plus the
``is:done`` view and a woken snooze on top. Target: ``after`` page 1 within 2x of ``before``
in the fresh and typical stores, and < 50 ms everywhere.
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

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from beacon.store.db import Database  # noqa: E402
from beacon.store.inbox import InboxFilter, inbox_count, inbox_page  # noqa: E402
from beacon.store.schema import Account, AnalysisRow, EmailRow, EmailStateRow, User  # noqa: E402

PG_ADMIN = os.environ.get("BEACON_TEST_POSTGRES_URL", "postgresql://beacon:beacon@127.0.0.1/beacon")
VERSION = "bench"
OWN = "reader@example.com"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
SCENARIOS = ("fresh", "typical", "inbox zero")
console = Console()


def _fresh_db(backend: str, work: Path, name: str) -> tuple[Database, object]:
    if backend == "sqlite":
        db = Database(f"sqlite:///{work / (name + '.db')}")
        db.migrate()
        return db, None
    admin = create_engine(Database(PG_ADMIN).url, isolation_level="AUTOCOMMIT")
    dbname = f"beacon_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{dbname}"'))
    db = Database(PG_ADMIN.rsplit("/", 1)[0] + "/" + dbname)
    db.migrate()
    return db, (admin, dbname)


def build(db: Database, n: int, scenario: str, rng: random.Random) -> int:
    """The store; returns the user id."""
    with db.session() as s:
        user = User(username="reader", password_hash="-")
        s.add(user)
        s.flush()
        acc = Account(user_id=user.id, name="inbox", kind="local", addresses=[OWN], folders=["INBOX"])
        s.add(acc)
        s.flush()
        uid, acc_id = user.id, acc.id
    scores = [rng.randint(0, 100) for _ in range(n)]
    own = set(rng.sample(range(n), n // 20)) if scenario == "typical" else set()
    base = datetime(2020, 1, 1, tzinfo=timezone.utc)
    chunk = 5_000
    with db.sql_engine.begin() as c:
        for start in range(0, n, chunk):
            rows = []
            for i in range(start, min(n, start + chunk)):
                date = base + timedelta(minutes=37 * i)
                rows.append(dict(
                    id=i + 1, account_id=acc_id, message_id=f"<m{i}@bench>", message_id_synthetic=False,
                    content_hash=f"{i:064d}", thread_id=f"<m{i}@bench>", in_reply_to=None, references=[],
                    subject=f"Message {i}", from_name="Sender", from_addr=OWN if i in own else f"s{i % 997}@example.org",
                    recipients=OWN, date=date, date_source="header", size=1000, has_attachments=False,
                    problem_count=0, data={}, source=None, folder="INBOX", imported_at=date,
                    analysed_version=VERSION, seen=False, answered=False, flagged=False, deleted=False))
            c.execute(insert(EmailRow.__table__), rows)
            c.execute(insert(AnalysisRow.__table__), [dict(
                email_id=r["id"], pipeline_version=VERSION, score=scores[r["id"] - 1], level="MEDIUM",
                kind="personal", category="work", needs_reply=False, data={}, email_date=r["date"], due_at=None,
                created_at=r["date"], user_id=uid) for r in rows])
        states: list[dict[str, object]] = []
        if scenario == "typical":
            picked = rng.sample(range(n), n * 12 // 100)
            for j, i in enumerate(picked):
                snoozed = j < n * 2 // 100
                states.append(dict(email_id=i + 1, done_at=None if snoozed else NOW,
                                   snoozed_until=NOW + timedelta(days=2) if snoozed else None, updated_at=NOW))
            # One woken snooze, which stands on top of page 1.
            states.append(dict(email_id=picked[-1] + 2 if picked[-1] + 2 <= n else 1, done_at=None,
                               snoozed_until=NOW - timedelta(hours=1), updated_at=NOW))
        elif scenario == "inbox zero":
            top = sorted(range(n), key=lambda i: -scores[i])[: n * 9 // 10]
            states = [dict(email_id=i + 1, done_at=NOW, updated_at=NOW) for i in top]
        seen: set[object] = set()
        states = [st for st in states if not (st["email_id"] in seen or seen.add(st["email_id"]))]
        for start in range(0, len(states), chunk):
            c.execute(insert(EmailStateRow.__table__), states[start:start + chunk])
        # The analyses' away copy, as beacon.triage.states.write_state keeps it (and 0010 fills it).
        c.execute(text("UPDATE analyses SET away = true WHERE email_id IN (SELECT email_id FROM email_states"
                       " WHERE done_at IS NOT NULL OR snoozed_until IS NOT NULL)"))
        if db.sql_engine.dialect.name == "sqlite":
            c.execute(text("ANALYZE"))
    if db.sql_engine.dialect.name == "postgresql":  # as autovacuum leaves a table that stopped changing
        with db.sql_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    return uid


def _timed(db: Database, f: InboxFilter, count: bool) -> tuple[float, int]:
    with db.session() as s:
        t = time.perf_counter()
        rows = inbox_count(s, f).n if count else len(inbox_page(s, f, limit=50).rows)
        return (time.perf_counter() - t) * 1000, rows


def _filters(uid: int) -> dict[str, InboxFilter]:
    common = dict(pipeline_version=VERSION, scope=uid, now=NOW, own_addresses=(OWN,))
    return {
        "before (--all)": InboxFilter(include_hidden=True, **common),  # type: ignore[arg-type]
        "after (inbox)": InboxFilter(**common),  # type: ignore[arg-type]
        "is:done": InboxFilter(search="is:done", **common),  # type: ignore[arg-type]
    }


def _plan(db: Database, f: InboxFilter) -> str:
    """SQLite's plan of the page-1 walk: the index it walks, and whether it sorts."""
    from sqlalchemy.dialects import sqlite

    from beacon.store import inbox as inbox_mod

    with db.session() as s:
        base, _ = inbox_mod._compiled(s, f)
        cols = inbox_mod._ORDERS["priority"]
        from sqlalchemy import select

        q = (select(AnalysisRow.email_id, *cols).select_from(inbox_mod._from(base)).where(base)
             .order_by(*(c.desc() for c in cols)).limit(51))
        sql = str(q.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
        return " | ".join(str(r[3]) for r in s.execute(text("EXPLAIN QUERY PLAN " + sql)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emails", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--stores", default=",".join(SCENARIOS), help="which of: " + ", ".join(SCENARIOS))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="beacon-inbox-states-"))
    stores: dict[tuple[str, str], tuple[Database, int, object]] = {}
    try:
        for backend in args.backends.split(","):
            for scenario in args.stores.split(","):
                t = time.perf_counter()
                db, drop = _fresh_db(backend, work, scenario.replace(" ", "_"))
                uid = build(db, args.emails, scenario, random.Random(14))
                stores[(backend, scenario)] = (db, uid, drop)
                console.print(f"built {backend} {scenario}: {args.emails:,} emails in {time.perf_counter() - t:.1f} s")
        times: dict[tuple[str, str, str, bool], list[float]] = {}
        rows: dict[tuple[str, str, str, bool], int] = {}
        for _ in range(args.repeat + 1):  # the first round warms the caches and is dropped
            for (backend, scenario), (db, uid, _drop) in stores.items():
                for name, f in _filters(uid).items():
                    for count in (False, True):
                        ms, n = _timed(db, f, count)
                        times.setdefault((backend, scenario, name, count), []).append(ms)
                        rows[(backend, scenario, name, count)] = n
        table = Table(title=f"Inbox page 1 (50 rows, priority) and its count at {args.emails:,} emails: "
                            f"median ms of {args.repeat}, rounds interleaved")
        for col in ("backend", "store", "query", "page 1 ms", "rows", "count ms", "count", "page 1 vs before"):
            table.add_column(col, justify="left" if col in ("backend", "store", "query") else "right")
        for (backend, scenario), (_db, uid, _d) in stores.items():
            before = statistics.median(times[(backend, scenario, "before (--all)", False)][1:])
            for name in _filters(uid):
                page = statistics.median(times[(backend, scenario, name, False)][1:])
                cnt = statistics.median(times[(backend, scenario, name, True)][1:])
                table.add_row(backend, scenario, name, f"{page:.1f}", str(rows[(backend, scenario, name, False)]),
                              f"{cnt:.1f}", str(rows[(backend, scenario, name, True)]), f"{page / before:.2f}x")
        console.print(table)
        if ("sqlite", "typical") in stores:
            db, uid, _ = stores[("sqlite", "typical")]
            console.print("SQLite plan, typical store, inbox page 1: " + _plan(db, _filters(uid)["after (inbox)"]))
    finally:
        for db, _uid, drop in stores.values():
            db.dispose()
            if drop is not None:
                admin, dbname = drop  # type: ignore[misc]
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
