"""How fast every triage action answers through the JSON API, on a store of a few thousand
analysed emails: p50 and p95 per action type (target: under 100 ms).

    python bench/learning_actions.py                      # SQLite
    python bench/learning_actions.py --database-url postgresql://beacon:beacon@127.0.0.1/beacon_bench

The store: the SpamAssassin training split (``easy-ham-2/``, ``spam-1/``, even-numbered
``hard-ham-1/``) imported into ``--copies`` accounts of one reader, each email with its real
analysis (cached by ``bench/learning_data.py``) and its real score. The app is the real one
(``create_app``, no NLP engine: actions need none) served by uvicorn in a process of its own,
driven over HTTP by a logged-in client with its CSRF token, a reader acting every ``--think``
seconds. ``--compare CHECKOUT`` serves another checkout too (main's, say) on a copy of the
store and sends every action to both in turns: a before/after measured in one run. Action types are interleaved round by round on mailing-list posts
(the mail whose feedback reaches most related mail), and each timed request is a whole POST.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
sys.path.insert(0, str(Path(__file__).resolve().parent))

from learning_data import SOURCES, load  # noqa: E402

from beacon.settings import Settings  # noqa: E402

TARGET_MS = 100.0
PASSWORD = "correct horse battery staple"
# (action, what it needs first): each round runs them in this order on fresh list posts.
ACTIONS = ("read", "unread", "important", "not_important", "clear_importance", "snooze", "unsnooze", "done",
           "undone", "replied", "undo")


def build(settings: Settings, copies: int) -> tuple[list[int], int]:
    """The store: ``copies`` accounts of the corpus, analysed; returns the list posts' ids and the size."""
    from sqlalchemy import func, select

    from beacon.ingest.importer import import_items
    from beacon.ingest.sources import RawItem
    from beacon.store.analyses import save_analysis
    from beacon.store.db import Database
    from beacon.store.schema import EmailRow
    from beacon.web.auth import create_user

    mails = {m.email.content_hash: m for m in load("spamassassin", settings)}
    raw = SOURCES["spamassassin"]()
    db = Database(settings.database_url_resolved)
    db.migrate()
    with db.session() as s:
        user = create_user(s, "reader", PASSWORD).id
    for k in range(copies):
        import_items(db, [RawItem(key, data) for key, data in raw], account=f"mail{k}", user_id=user, workers=0,
                     settings=settings)
    with db.session() as s:
        rows = list(s.scalars(select(EmailRow).order_by(EmailRow.date)))
        for row in rows:
            save_analysis(s, row.id, mails[row.content_hash].analysis, settings)
        posts = [r.id for r in rows if (r.data.get("list_headers") or {}).get("list_id")]
        total = s.scalar(select(func.count()).select_from(EmailRow))
    db.dispose()
    return posts, total


_SERVER = """
import sys, uvicorn
from beacon.settings import Settings
from beacon.web.app import create_app
settings = Settings(data_dir=sys.argv[1], database_url=sys.argv[2], sync_interval=0)
uvicorn.run(create_app(settings, engine_factory=None), host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""


class Server:
    """The real app (``create_app``, no NLP engine: actions need none) served by uvicorn in a
    process of its own, importing Beacon from ``tree`` (None: this checkout)."""

    def __init__(self, settings: Settings, tree: Path | None) -> None:
        import os
        import socket
        import subprocess

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        root = tree or Path(__file__).resolve().parents[1]
        env = {**os.environ, "PYTHONPATH": str(root)}
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(settings.data_dir), settings.database_url,
                                      str(self.port)], env=env)
        self.label = str(tree) if tree else "this checkout"

    def client(self):  # noqa: ANN201 -- an httpx.Client logged in, with its CSRF header
        import httpx

        c = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        for _ in range(600):
            try:
                r = c.post("/api/login", json={"username": "reader", "password": PASSWORD})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        r.raise_for_status()
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def run(servers: list[Server], posts: list[int], rounds: int, think: float) -> list[dict[str, list[float]]]:
    """Time each POST until its answer arrives, from a real HTTP client to each real server:
    work a server does after answering (the deferred learning and re-score) is not in the
    figure, but it competes with the next request, as it would for a reader who acts every
    ``think`` seconds. With two servers (``--compare``), each action goes to both, in turns
    (which goes first alternates), so the machine's load falls on both alike."""
    timing: list[dict[str, list[float]]] = [{a: [] for a in ACTIONS} for _ in servers]
    clients = [srv.client() for srv in servers]
    try:
        until = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
        step = max(1, len(posts) // (rounds + 1))
        last: list[int | None] = [None] * len(servers)
        for i in range(rounds):
            eid = posts[(i * step * 7919) % len(posts)]  # spread over the lists and the accounts
            for action in ACTIONS:
                time.sleep(think)
                order = list(range(len(servers)))
                if i % 2:
                    order.reverse()
                for k in order:
                    c = clients[k]
                    t0 = time.perf_counter()
                    if action == "undo":
                        resp = c.post(f"/api/actions/{last[k]}/undo")
                    else:
                        body = {"action": action, **({"until": until} if action == "snooze" else {})}
                        resp = c.post(f"/api/emails/{eid}/actions", json=body)
                    timing[k][action].append((time.perf_counter() - t0) * 1000)
                    resp.raise_for_status()
                    if action != "undo":
                        last[k] = resp.json()["actions"][0]["id"]
    finally:
        for c in clients:
            c.close()
    return timing


def _copy_store(settings: Settings, into: Path, database_url: str | None) -> Settings:
    """A second store like the first, for the other server of ``--compare``: the SQLite file
    copied, or a PostgreSQL database made from the first as its template."""
    import shutil

    into.mkdir(parents=True, exist_ok=True)
    if database_url is None:
        src = Path(settings.data_dir)
        for name in ("bench.db", "bench.db-wal", "bench.db-shm"):
            if (src / name).exists():
                shutil.copy2(src / name, into / name)
        return Settings(data_dir=into, database_url=f"sqlite:///{into}/bench.db", sync_interval=0)
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    twin = f"{url.database}_compare"
    with psycopg.connect(url.set(database="postgres").render_as_string(hide_password=False)
                         .replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{twin}"')
        conn.execute(f'CREATE DATABASE "{twin}" TEMPLATE "{url.database}"')
    return Settings(data_dir=into, database_url=url.set(database=twin).render_as_string(hide_password=False),
                    sync_interval=0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="a database to fill (default: a SQLite file in a temporary folder)")
    ap.add_argument("--copies", type=int, default=2, help="accounts holding a copy of the corpus (default 2)")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--think", type=float, default=0.3, help="seconds between two actions (default 0.3)")
    ap.add_argument("--keep", type=Path, help="build the store once (SQLite: in this folder) and reuse it")
    ap.add_argument("--compare", type=Path, metavar="CHECKOUT",
                    help="also serve another checkout of Beacon (e.g. main's) on a copy of the store, the same "
                         "actions sent to both in turns: the two columns are measured in one run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        settings = Settings(data_dir=tmp, database_url=args.database_url or f"sqlite:///{tmp}/bench.db",
                            sync_interval=0)
        t0 = time.perf_counter()
        built = tmp / "built.json"
        if args.keep and built.exists():
            posts, total = json.loads(built.read_text())
        else:
            posts, total = build(settings, args.copies)
            built.write_text(json.dumps([posts, total]))
        stores = [(None, settings)]
        if args.compare:
            stores.append((args.compare.resolve(), _copy_store(settings, Path(scratch) / "compare", args.database_url)))
        print(f"store: {total} emails ({settings.database_url_resolved.split(':')[0]}), built in "
              f"{time.perf_counter() - t0:.0f} s; {args.rounds} rounds, action types interleaved\n", file=sys.stderr)
        servers = [Server(st, tree) for tree, st in stores]
        try:
            timing = run(servers, posts, args.rounds, args.think)
        finally:
            for srv in servers:
                srv.stop()
    ok = True
    head = " | ".join(f"p50 ms | p95 ms ({srv.label})" for srv in servers[1:])
    print(f"| action (POST through the API, {total} emails, think time {args.think} s) | p50 ms | p95 ms | "
          f"target p95 < {TARGET_MS:.0f} ms |" + (f" {head} |" if head else ""))
    print("|---|---|---|---|" + "---|---|" * (len(servers) - 1))
    for action in ACTIONS:
        row = []
        for k, t in enumerate(timing):
            p50, p95 = statistics.median(t[action]), statistics.quantiles(t[action], n=20)[-1]
            row.append(f"{p50:.1f} | {p95:.1f}")
            if k == 0:
                met = p95 < TARGET_MS
                ok &= met
                row.append("met" if met else "MISSED")
        print(f"| {action} | " + " | ".join(row) + " |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
