"""Inbox, search and counts at 10k, 100k and 1M emails, on SQLite and PostgreSQL, through the API.

    python bench/store_scale.py [--sizes 10000,100000,1000000] [--backends sqlite,postgres]
                                [--base PATH] [--work DIR] [--phase all|build|measure]
                                [--pg-name NAME] [--port N]

How the stores are made: a base store of real mail (the 6,046 SpamAssassin messages, imported
and analysed by Beacon itself: ``--base``, built with ``beacon import`` + ``beacon analyze`` when
missing) is copied into each store, then replicated inside the database (INSERT ... SELECT) with
new ids, a message id suffix and the dates moved back 7 days per copy, until the store holds N
emails (raw bytes, attachments and analyses included). The search index triggers are off
during the copy; ``reindex`` then builds the index whole (the reindex time in the table, with
the machine's load as it started and ended and, on SQLite, its CPU time in this process), and
the bench's reader is added as the store's first user, adopting every email (timed too).

Every query is timed through the JSON API of a running ``beacon serve --no-analyze`` (one per
store, all running at once, on ports from ``--port``; rows interleaved), median of 3 after a warm-up; beside it, the
same page and count made by the store's own functions in this process (``store``: the
database's work plus the ORM, without the web process and HTTP), so load and HTTP overhead
show. Targets: each query
at the largest size <= 2x its time at the smallest, and < 100 ms; reindex of 1M < 10 min; index
<= 50 % of the text it indexes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from beacon.analysis.version import pipeline_version  # noqa: E402
from beacon.settings import Settings  # noqa: E402
from beacon.store import search_index  # noqa: E402
from beacon.store import statistics as planner_stats  # noqa: E402
from beacon.store.db import Database  # noqa: E402
from beacon.store.inbox import InboxFilter, _encode, inbox_count, inbox_page  # noqa: E402
from beacon.store.schema import Account, AnalysisRow, AttachmentRow, EmailRow, RawMessage, User  # noqa: E402

PG_ADMIN = os.environ.get("BEACON_TEST_POSTGRES_URL", "postgresql://beacon:beacon@127.0.0.1/beacon")
console = Console()
BENCH_USER, BENCH_PASSWORD = "bench", "bench-password-1"

QUERIES: list[tuple[str, dict[str, str]]] = [
    ("inbox page 1", {}),
    ("deep keyset page", {"cursor": "DEEP"}),
    ("level=HIGH", {"level": "HIGH"}),
    ("kind=personal", {"kind": "personal"}),
    ("needs_reply", {"needs_reply": "true"}),
    ("q=is:unread", {"q": "is:unread"}),
    ("q=has:attachment", {"q": "has:attachment"}),
    ("q=after:2002-09-01", {"q": "after:2002-09-01"}),
    ("search 1 word", {"q": "linux"}),
    ("search 2 words", {"q": "free software"}),
    ("search phrase", {"q": '"mailing list"'}),
    ("search from:", {"q": "from:pudge"}),
    ("search no hit", {"q": "zqxjvbnm"}),
    ("count only (per_page=1)", {"per_page": "1"}),
]


# -- building ------------------------------------------------------------------------------------
def ensure_base(base: Path) -> Path:
    """The analysed base store (SQLite, migrated to head)."""
    if not base.exists():
        from testkit.corpora import spamassassin_dir

        env = {**os.environ, "BEACON_DATABASE_URL": f"sqlite:///{base}", "BEACON_DATA_DIR": str(base.parent / "data")}
        for folder in sorted(spamassassin_dir().iterdir()):
            subprocess.run(["beacon", "import", str(folder)], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["beacon", "analyze"], check=True, env=env, stdout=subprocess.DEVNULL)
    Database(f"sqlite:///{base}").migrate()
    return base


def store_url(backend: str, n: int, work: Path, pg_name: str = "") -> str:
    """The store of ``n`` emails: a file in ``work``, or the PostgreSQL database
    ``beacon_scale_N`` (``beacon_scale_PGNAME_N`` given ``pg_name``: stores of their own for
    runs that share the server)."""
    if backend == "sqlite":
        return f"sqlite:///{work / f'scale-{n}.db'}"
    if not re.fullmatch(r"[A-Za-z0-9_-]*", pg_name):
        raise ValueError(f"--pg-name {pg_name!r}: letters, digits, _ and - only")
    return PG_ADMIN.rsplit("/", 1)[0] + f"/beacon_scale_{pg_name + '_' if pg_name else ''}{n}"


def _fresh(backend: str, url: str) -> Database:
    if backend == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
    else:
        name = url.rsplit("/", 1)[1]
        admin = create_engine(Database(PG_ADMIN).url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    db = Database(url)
    db.migrate()
    return db


def _copy_base(base: Database, db: Database) -> int:
    """Base rows into the empty store with ids 1..B; returns B."""
    with base.sql_engine.connect() as src, db.sql_engine.begin() as dst:
        search_index.pause_sync(dst)
        acc = src.execute(select(Account.__table__)).mappings().first()
        dst.execute(insert(Account.__table__), [dict(acc)])
        emails = [dict(r) for r in src.execute(select(EmailRow.__table__).order_by(EmailRow.id)).mappings()]
        new_id = {e["id"]: i + 1 for i, e in enumerate(emails)}
        for e in emails:
            e["id"] = new_id[e["id"]]
        dst.execute(insert(EmailRow.__table__), emails)
        for table, key in ((RawMessage.__table__, "email_id"), (AttachmentRow.__table__, "email_id"),
                           (AnalysisRow.__table__, "email_id")):
            rows = [dict(r) for r in src.execute(select(table)).mappings()]
            for r in rows:
                r[key] = new_id[r[key]]
                if "id" in r:
                    r.pop("id")
            if rows:
                dst.execute(insert(table), rows)
    return len(emails)


def _columns(db: Database, table: str) -> list[str]:
    from sqlalchemy import inspect

    return [c["name"] for c in inspect(db.sql_engine).get_columns(table)]


def _replicate(db: Database, backend: str, b: int, n: int) -> None:
    """Copies of rows 1..B with new ids until the store holds N emails."""
    sqlite = backend == "sqlite"

    def shifted(col: str) -> str:
        if sqlite:  # keep SQLAlchemy's text format (fraction included)
            return f"strftime('%Y-%m-%d %H:%M:%S', {col}, '-' || :days || ' days') || substr({col}, 20)"
        return f"{col} - make_interval(days => :days)"

    ecols = _columns(db, "emails")
    esel = [("id + :off" if c == "id" else "message_id || '.r' || :rep" if c == "message_id"
             else shifted("date") if c == "date" else c) for c in ecols]
    acols = [c for c in _columns(db, "analyses") if c != "id"]
    asel = [("email_id + :off" if c == "email_id" else shifted("email_date") if c == "email_date" else c) for c in acols]
    tcols = [c for c in _columns(db, "attachments") if c != "id"]
    tsel = ["email_id + :off" if c == "email_id" else c for c in tcols]
    rcols = _columns(db, "raw_messages")
    rsel = ["email_id + :off" if c == "email_id" else c for c in rcols]
    QUOTED = {"references": '"references"'}  # noqa: N806 - a reserved word as a column name

    def cl(cols: list[str]) -> str:
        return ", ".join(f'"{c}"' for c in cols)

    stmts = [
        f"INSERT INTO emails ({cl(ecols)}) SELECT {', '.join(QUOTED.get(s, s) for s in esel)} FROM emails WHERE id <= :lim",
        f"INSERT INTO raw_messages ({cl(rcols)}) SELECT {', '.join(rsel)} FROM raw_messages WHERE email_id <= :lim",
        f"INSERT INTO attachments ({cl(tcols)}) SELECT {', '.join(tsel)} FROM attachments WHERE email_id <= :lim",
        f"INSERT INTO analyses ({cl(acols)}) SELECT {', '.join(asel)} FROM analyses WHERE email_id <= :lim",
    ]
    rep = 1
    while rep * b < n:
        lim = min(b, n - rep * b)
        with db.sql_engine.begin() as c:
            for st in stmts:
                c.execute(text(st), {"off": rep * b, "rep": rep, "days": 7 * rep, "lim": lim})
        rep += 1
        if rep % 20 == 0:
            console.log(f"{backend} {n}: {rep * b:,} emails copied")


def build(backend: str, n: int, work: Path, base: Path, pg_name: str = "") -> dict[str, float]:
    url = store_url(backend, n, work, pg_name)
    t0 = time.perf_counter()
    db = _fresh(backend, url)
    b = _copy_base(Database(f"sqlite:///{base}"), db)
    _replicate(db, backend, b, n)
    copied = time.perf_counter() - t0
    load_before, cpu0 = os.getloadavg()[0], time.process_time()
    with db.sql_engine.begin() as c:
        search_index.resume_sync(c)
        result = search_index.reindex(c)
    # SQLite's reindex runs in this process, so its CPU time is a figure the machine's load
    # does not change (PostgreSQL's runs in the server's processes: only the load is kept).
    reindex_cpu = time.process_time() - cpu0 if backend == "sqlite" else None
    reindex_load = (load_before, os.getloadavg()[0])
    db.dispose()
    # The bench's reader is the store's first user: she adopts every email (the first
    # ``beacon user add`` of a store imported before any user existed), timed; vacuumed after.
    t0 = time.perf_counter()
    subprocess.run(["beacon", "user", "add", BENCH_USER, "--password", BENCH_PASSWORD], check=True,
                   env={**os.environ, "BEACON_DATABASE_URL": url, "BEACON_DATA_DIR": str(work / "data")},
                   stdout=subprocess.DEVNULL)
    user_add = time.perf_counter() - t0
    if backend == "postgres":
        with db.sql_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
    else:  # what beacon reindex leaves
        with db.sql_engine.begin() as c:
            planner_stats.refresh(c)
    info = {"build_s": copied, "reindex_s": result.seconds, "index_bytes": result.index_bytes,
            "text_bytes": _text_bytes(base) * n / b, "user_add_s": user_add,
            "reindex_cpu_s": reindex_cpu, "reindex_load": reindex_load}
    (work / f"{backend}-{n}.json").write_text(json.dumps(info))
    db.dispose()
    console.log(f"{backend} {n}: built in {copied:.0f} s, reindexed in {result.seconds:.0f} s")
    return info


def _text_bytes(base: Path) -> float:
    """UTF-8 bytes of the text the index holds, in the base store (copies hold the same)."""
    eng = create_engine(f"sqlite:///{base}")
    with eng.connect() as c:
        cols = " + ".join(f"length(CAST(coalesce({f}, '') AS BLOB))" for f in search_index.FIELDS)
        return float(c.execute(text(f"SELECT sum({cols}) FROM email_search_source")).scalar_one())


def db_bytes(backend: str, url: str) -> int:
    if backend == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    eng = create_engine(Database(url).url)
    with eng.connect() as c:
        return int(c.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


# -- measuring -----------------------------------------------------------------------------------
class Server:
    """``beacon serve`` on a store (``env``: more of its environment, e.g. the PYTHONPATH of
    another checkout); ``last`` is the answer to the latest :meth:`get`."""

    def __init__(self, url: str, port: int, work: Path, env: dict[str, str] | None = None) -> None:
        self.base = f"http://127.0.0.1:{port}"
        # Another run's server on the port would answer this bench's login (same user and
        # password) and be timed in place of this store's.
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise RuntimeError(f"port {port} is taken: choose others with --port")
        data = Path(tempfile.mkdtemp(dir=work, prefix="serve-"))
        # No periodic rescore: the copies' analyses are a snapshot, and a pass over the whole
        # store in the background would be timed with the queries.
        self.env = {**os.environ, **(env or {}), "BEACON_DATABASE_URL": url, "BEACON_DATA_DIR": str(data),
                    "BEACON_RESCORE_INTERVAL": "0"}
        self.last: httpx.Response | None = None
        # Made by the build; a store built before it was timed there gets her here.
        subprocess.run(["beacon", "user", "add", BENCH_USER, "--password", BENCH_PASSWORD],
                       env=self.env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.log = data / "serve.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(["beacon", "serve", "--no-analyze", "--port", str(port), "--log-level", "warning"],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.base, timeout=120)
        for _ in range(900):  # up to 3 minutes: a start on a loaded machine can take more than one
            try:
                if self.client.post("/api/login", json={"username": BENCH_USER, "password": BENCH_PASSWORD}).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"beacon serve on port {port} did not start (its output: {self.log})")

    def get(self, params: dict[str, str]) -> float:
        t = time.perf_counter()
        r = self.client.get("/api/emails", params=params)
        elapsed = (time.perf_counter() - t) * 1000
        r.raise_for_status()
        self.last = r
        return elapsed

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


class InProcess:
    """The API's store calls (one page, its count) made here, on the bench user's mail."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.version = pipeline_version(Settings())
        with self.db.session() as s:
            self.user = s.scalar(select(User.id).where(User.username == BENCH_USER))

    def get(self, params: dict[str, str]) -> float:
        f = InboxFilter(pipeline_version=self.version, scope=self.user, search=params.get("q"),
                        level=params.get("level"), kind=params.get("kind"),
                        needs_reply=True if params.get("needs_reply") else None)
        t = time.perf_counter()
        with self.db.session() as s:
            inbox_page(s, f, limit=int(params.get("per_page", 50)), cursor=params.get("cursor"))
            inbox_count(s, f)
        return (time.perf_counter() - t) * 1000

    def stop(self) -> None:
        self.db.dispose()


def deep_cursor(url: str, n: int) -> str:
    """The cursor of the row halfway down the priority order."""
    db = Database(url)
    v = pipeline_version(Settings())
    with db.session() as s:
        row = s.execute(select(AnalysisRow.score, AnalysisRow.email_date, AnalysisRow.email_id)
                        .where(AnalysisRow.pipeline_version == v)
                        .order_by(AnalysisRow.score.desc(), AnalysisRow.email_date.desc(), AnalysisRow.email_id.desc())
                        .offset(n // 2).limit(1)).one()
    db.dispose()
    return _encode("priority", list(row))


def measure(backend: str, sizes: list[int], work: Path, pg_name: str = "", port: int = 8700) -> None:
    servers = {n: Server(store_url(backend, n, work, pg_name), port + i + (0 if backend == "sqlite" else 10), work)
               for i, n in enumerate(sizes)}
    local = {n: InProcess(store_url(backend, n, work, pg_name)) for n in sizes}
    cursors = {n: deep_cursor(store_url(backend, n, work, pg_name), n) for n in sizes}
    times: dict[str, dict[int, list[float]]] = {label: {n: [] for n in sizes} for label, _ in QUERIES}
    store_times: dict[str, dict[int, list[float]]] = {label: {n: [] for n in sizes} for label, _ in QUERIES}
    try:
        for label, params in QUERIES:
            for rep in range(4):
                for n in sizes:
                    p = {k: (cursors[n] if v == "DEEP" else v) for k, v in params.items()}
                    ms = servers[n].get(p)
                    store_ms = local[n].get(p)
                    if rep:  # the first is a warm-up
                        times[label][n].append(ms)
                        store_times[label][n].append(store_ms)
    finally:
        for srv in (*servers.values(), *local.values()):
            srv.stop()
    table = Table(title=f"{backend}: GET /api/emails through beacon serve (API) and the store's calls in "
                        "this process (store), median of 3 (ms)")
    table.add_column("query")
    for n in sizes:
        table.add_column(f"{n:,} API", justify="right")
        table.add_column(f"{n:,} store", justify="right")
    table.add_column(f"{sizes[-1]:,} / {sizes[0]:,} API", justify="right")
    table.add_column("targets (API: <=2x, <100 ms)")
    for label, _ in QUERIES:
        med = {n: statistics.median(times[label][n]) for n in sizes}
        local_med = {n: statistics.median(store_times[label][n]) for n in sizes}
        ratio = med[sizes[-1]] / med[sizes[0]]
        ok = ratio <= 2 and med[sizes[-1]] < 100
        table.add_row(label, *(f"{x:.1f}" for n in sizes for x in (med[n], local_med[n])), f"{ratio:.2f}",
                      "met" if ok else f"MISSED ({'ratio' if ratio > 2 else ''}{' ' if ratio > 2 and med[sizes[-1]] >= 100 else ''}{'time' if med[sizes[-1]] >= 100 else ''})")
    console.print(table)
    sizes_table = Table(title=f"{backend}: store size, reindex, index vs text")
    for col in ("emails", "DB bytes/email", "reindex s", "reindex CPU s", "load (1 min) at reindex start, end",
                "first user add s", "index MB", "text MB", "index/text", "targets"):
        sizes_table.add_column(col, justify="right")
    for n in sizes:
        info = json.loads((work / f"{backend}-{n}.json").read_text())
        ratio = info["index_bytes"] / info["text_bytes"]
        notes = []
        if n >= 1_000_000:
            notes.append("reindex " + ("met" if info["reindex_s"] < 600 else "MISSED"))
        notes.append("index " + ("met" if ratio <= 0.5 else "MISSED"))
        sizes_table.add_row(f"{n:,}", f"{db_bytes(backend, store_url(backend, n, work, pg_name)) / n:,.0f}",
                            f"{info['reindex_s']:.1f}",
                            "" if info.get("reindex_cpu_s") is None else f"{info['reindex_cpu_s']:.1f}",
                            ", ".join(f"{x:.1f}" for x in info.get("reindex_load", ())),
                            f"{info.get('user_add_s', float('nan')):.1f}",
                            f"{info['index_bytes'] / 1e6:,.1f}",
                            f"{info['text_bytes'] / 1e6:,.1f}", f"{ratio:.0%}", ", ".join(notes))
    console.print(sizes_table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--base", type=Path, default=Path(tempfile.gettempdir()) / "beacon-scale" / "base.db")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "beacon-scale")
    ap.add_argument("--phase", choices=("all", "build", "measure"), default="all")
    ap.add_argument("--pg-name", default="", help="PostgreSQL stores beacon_scale_NAME_N (default beacon_scale_N)")
    ap.add_argument("--port", type=int, default=8700, help="the first server's port (PostgreSQL's from PORT + 10)")
    args = ap.parse_args()
    sizes = sorted(int(x) for x in args.sizes.split(","))
    args.work.mkdir(parents=True, exist_ok=True)
    if args.phase in ("all", "build"):
        base = ensure_base(args.base)
        for backend in args.backends.split(","):
            for n in sizes:
                build(backend, n, args.work, base, args.pg_name)
    if args.phase in ("all", "measure"):
        for backend in args.backends.split(","):
            measure(backend, sizes, args.work, args.pg_name, args.port)
    if args.phase == "all" and os.environ.get("BENCH_CLEANUP"):
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
