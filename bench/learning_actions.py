"""How fast every triage action answers through the JSON API, on a store of a few thousand
analysed emails: p50 and p95 per action type (target: under 100 ms).

    python bench/learning_actions.py                      # SQLite
    python bench/learning_actions.py --database-url postgresql://beacon:beacon@127.0.0.1/beacon_bench

The store: the SpamAssassin training split (``easy-ham-2/``, ``spam-1/``, even-numbered
``hard-ham-1/``) imported into ``--copies`` accounts of one reader, each email with its real
analysis (cached by ``bench/learning_data.py``) and its real score. The app is the real one
(``create_app``, no NLP engine: actions need none) served by uvicorn, driven over HTTP by a
logged-in client with its CSRF token, a reader acting every ``--think`` seconds. Action types are interleaved round by round on mailing-list posts
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


def run(settings: Settings, posts: list[int], rounds: int, think: float) -> dict[str, list[float]]:
    """Time each POST until its answer arrives, from a real HTTP client to the real server
    (uvicorn in a thread of this process): work the server does after answering (the deferred
    re-score and learning) is not in the figure, but it competes with the next request, as it
    would for a reader who acts every ``think`` seconds."""
    import socket
    import threading

    import httpx
    import uvicorn

    from beacon.store.db import Database
    from beacon.web.app import create_app

    db = Database(settings.database_url_resolved)
    app = create_app(settings, db, engine_factory=None)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    timing: dict[str, list[float]] = {a: [] for a in ACTIONS}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            r = c.post("/api/login", json={"username": "reader", "password": PASSWORD})
            r.raise_for_status()
            h = {"X-CSRF-Token": r.json()["csrf_token"]}
            until = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
            step = max(1, len(posts) // (rounds + 1))
            for i in range(rounds):
                eid = posts[(i * step * 7919) % len(posts)]  # spread over the lists and the accounts
                last = None
                for action in ACTIONS:
                    time.sleep(think)
                    t0 = time.perf_counter()
                    if action == "undo":
                        resp = c.post(f"/api/actions/{last}/undo", headers=h)
                    else:
                        body = {"action": action, **({"until": until} if action == "snooze" else {})}
                        resp = c.post(f"/api/emails/{eid}/actions", json=body, headers=h)
                    timing[action].append((time.perf_counter() - t0) * 1000)
                    resp.raise_for_status()
                    if action != "undo":
                        last = resp.json()["actions"][0]["id"]
    finally:
        server.should_exit = True
        thread.join()
        db.dispose()
    return timing


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="a database to fill (default: a SQLite file in a temporary folder)")
    ap.add_argument("--copies", type=int, default=2, help="accounts holding a copy of the corpus (default 2)")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--think", type=float, default=0.3, help="seconds between two actions (default 0.3)")
    ap.add_argument("--keep", type=Path, help="build the SQLite store in this folder once and reuse it")
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
        print(f"store: {total} emails ({settings.database_url_resolved.split(':')[0]}), built in "
              f"{time.perf_counter() - t0:.0f} s; {args.rounds} rounds, action types interleaved\n", file=sys.stderr)
        timing = run(settings, posts, args.rounds, args.think)
    ok = True
    print(f"| action (POST through the API, {total} emails, think time {args.think} s) | p50 ms | p95 ms | target p95 < {TARGET_MS:.0f} ms |")
    print("|---|---|---|---|")
    for action, ms in timing.items():
        p50 = statistics.median(ms)
        p95 = statistics.quantiles(ms, n=20)[-1]
        met = p95 < TARGET_MS
        ok &= met
        print(f"| {action} | {p50:.1f} | {p95:.1f} | {'met' if met else 'MISSED'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
