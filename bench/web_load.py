"""Web load against a real ``beacon serve``, with and without an analysis running.

    python bench/web_load.py [--rounds 5] [--requests 3000] [--clients 20] [--emails 300]

A throwaway data directory gets the demo mailbox plus ``--emails`` SpamAssassin messages
(``easy-ham-2``, the training split: only a workload here) and a user; ``beacon serve`` runs on
it with its defaults (pool mode, two workers, ``worker_nice``). Everything is analysed once
before the rounds. Each round then has three phases, in this order:

- ``analysis alone``: the corpus's analyses are deleted and an analysis run redoes them with no
  web load: unloaded emails/s;
- ``idle``: ``--requests`` mixed requests from ``--clients`` concurrent clients (inbox pages,
  filters, search, email pages as JSON and HTML, ``/api/engine``, ``/metrics``) plus one SSE
  subscriber, nothing analysing;
- ``loaded``: the same, while an analysis run redoes the corpus again; requests go on until
  both the request count is reached and the run has ended: loaded emails/s.

After each round the main process's RSS is read. The table gives p50/p95/p99 per route (idle
vs loaded, all rounds), errors, RSS per round and both analysis rates, and checks the targets:
RSS after the last round <= after round 1 + 10 MB; loaded p95 of inbox and email pages <= 3x
idle; loaded analysis >= 70 % of unloaded. ``--env KEY=VALUE`` passes settings to the server
(e.g. ``--env BEACON_WORKER_NICE=0`` to compare priorities).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from sqlalchemy import delete, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from beacon.ingest.importer import import_items  # noqa: E402
from beacon.ingest.sources import detect  # noqa: E402
from beacon.settings import Settings  # noqa: E402
from beacon.store.db import Database  # noqa: E402
from beacon.store.schema import Account, AnalysisRow, EmailRow  # noqa: E402
from beacon.web.auth import create_user  # noqa: E402
from beacon.web.deps import CSRF_HEADER  # noqa: E402
from beacon.web.runtime import setup_demo  # noqa: E402
from testkit.corpora import iter_files, spamassassin_dir  # noqa: E402
from testkit.serve import ServeProcess  # noqa: E402

USER, PASSWORD = "bench", "bench-password-123"
CORPUS_ACCOUNT = "corpus"
SEARCH_WORDS = ["meeting", "invoice", "linux", "report", "free", "python", "update", "list", "money", "server"]
FILTERS = ["level=HIGH", "level=LOW", "kind=newsletter", "kind=notification", "needs_reply=true", "sort=date"]
# route -> weight in the mix
MIX = {"inbox": 20, "inbox html": 10, "filter": 15, "search": 15, "email": 15, "email html": 10,
       "engine": 7.5, "metrics": 7.5}
PAGE_ROUTES = ("inbox", "inbox html", "filter", "email", "email html")  # the 3x p95 target's routes


@dataclass
class Phase:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: int = 0
    seconds: float = 0.0
    sse_events: int = 0


@dataclass
class Round:
    n: int
    rss_mb: float
    unloaded_rate: float
    loaded_rate: float
    idle_rps: float
    loaded_rps: float


# -- set-up --------------------------------------------------------------------------------------
def prepare(data: Path, emails: int) -> Database:
    settings = Settings(data_dir=data)
    db = Database(settings.database_url_resolved)
    db.migrate()
    setup_demo(db, settings)
    mail = data.parent / "corpus-mail"
    mail.mkdir(exist_ok=True)
    for i, path in enumerate(list(iter_files(spamassassin_dir() / "easy-ham-2", "*.txt"))[:emails]):
        shutil.copy(path, mail / f"{i:05d}.eml")
    summary = import_items(db, detect(mail).iter_items(), account=CORPUS_ACCOUNT)
    with db.session() as s:
        create_user(s, USER, PASSWORD)
    print(f"store: demo mailbox + {summary.imported} corpus emails", flush=True)
    return db


def forget_corpus_analyses(db: Database) -> None:
    """Delete the corpus's analyses, so the next analysis run does them again."""
    with db.session() as s:
        account = s.scalar(select(Account.id).where(Account.name == CORPUS_ACCOUNT))
        ids = select(EmailRow.id).where(EmailRow.account_id == account)
        s.execute(delete(AnalysisRow).where(AnalysisRow.email_id.in_(ids)))


# -- requests ------------------------------------------------------------------------------------
class Load:
    def __init__(self, url: str, cookies: httpx.Cookies, email_ids: list[int], pages: int, clients: int) -> None:
        self.url = url
        self.cookies = cookies
        self.email_ids = email_ids
        self.pages = pages
        self.clients = clients

    def _request(self, rng: random.Random) -> tuple[str, str]:
        route = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        page = rng.randint(1, self.pages)
        if route == "inbox":
            return route, f"/api/emails?page={page}&per_page=50"
        if route == "inbox html":
            return route, f"/?page={page}"
        if route == "filter":
            return route, f"/api/emails?{rng.choice(FILTERS)}&per_page=50"
        if route == "search":
            return route, f"/api/emails?q={rng.choice(SEARCH_WORDS)}&per_page=50"
        if route == "email":
            return route, f"/api/emails/{rng.choice(self.email_ids)}"
        if route == "email html":
            return route, f"/emails/{rng.choice(self.email_ids)}"
        return route, "/api/engine" if route == "engine" else "/metrics"

    async def run(self, n: int, until: asyncio.Event | None = None, seed: int = 0) -> Phase:
        """``n`` requests (and, with ``until``, on until it is set) from ``clients`` workers."""
        phase = Phase()
        rng = random.Random(seed)
        done_issuing = asyncio.Event()
        counter = {"issued": 0}

        def more() -> bool:
            if counter["issued"] < n:
                return True
            return until is not None and not until.is_set()

        async with httpx.AsyncClient(base_url=self.url, cookies=self.cookies, timeout=60,
                                     limits=httpx.Limits(max_connections=self.clients + 2)) as client:
            async def worker() -> None:
                while more():
                    counter["issued"] += 1
                    route, path = self._request(rng)
                    t0 = time.perf_counter()
                    try:
                        r = await client.get(path)
                        await r.aread()
                        if r.status_code >= 400:
                            phase.errors[route] += 1
                    except httpx.HTTPError:
                        phase.errors[route] += 1
                    phase.latencies[route].append(time.perf_counter() - t0)
                    phase.requests += 1

            sse = asyncio.create_task(self._sse(client, phase, done_issuing))
            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(self.clients)))
            phase.seconds = time.perf_counter() - t0
            done_issuing.set()
            await sse
        return phase

    async def _sse(self, client: httpx.AsyncClient, phase: Phase, stop: asyncio.Event) -> None:
        """One subscriber to the newest job's events, reconnecting (with ``Last-Event-ID``, as
        a browser does) when a stream ends."""
        seen: dict[int, str] = {}
        while not stop.is_set():
            runs = (await client.get("/api/jobs?limit=1")).json()
            if not runs:
                await asyncio.sleep(0.5)
                continue
            run_id = runs[0]["id"]
            headers = {"Last-Event-ID": seen[run_id]} if run_id in seen else {}
            try:
                async with client.stream("GET", f"/api/jobs/{run_id}/events", headers=headers) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("event:"):
                            phase.sse_events += 1
                        elif line.startswith("id:"):
                            seen[run_id] = line.partition(":")[2].strip()
                        if stop.is_set():
                            return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)


# -- analysis runs -------------------------------------------------------------------------------
def start_analysis(c: httpx.Client, h: dict[str, str]) -> int:
    r = c.post("/api/jobs/analyze", headers=h)
    if r.status_code != 202:
        raise RuntimeError(f"analysis did not start: {r.status_code} {r.text}")
    return int(r.json()["run_id"])


def wait_run(c: httpx.Client, run_id: int, timeout: float = 1800) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{run_id}").json()
        if job["status"] != "running":
            return job
        time.sleep(0.5)
    raise RuntimeError(f"run {run_id} still running after {timeout}s")


async def wait_run_async(c: httpx.Client, run_id: int, done: asyncio.Event) -> dict[str, object]:
    job = await asyncio.to_thread(wait_run, c, run_id)
    done.set()
    return job


def run_rate(job: dict[str, object]) -> float:
    summary = job.get("summary") or {}
    assert isinstance(summary, dict)
    return float(summary.get("rate", job.get("rate", 0.0)))


# -- report --------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def report(idle: Phase, loaded: Phase, rounds: list[Round], server_env: dict[str, str]) -> int:
    print(f"\nserver settings: {server_env or 'defaults'}")
    print("\n| route | idle p50 ms | idle p95 | idle p99 | loaded p50 | loaded p95 | loaded p99 | p95 ratio | "
          "requests (idle/loaded) | errors (idle/loaded) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for route in MIX:
        a, b = idle.latencies[route], loaded.latencies[route]
        ratio = pct(b, 95) / pct(a, 95) if a and b else float("nan")
        print(f"| {route} | {pct(a, 50) * 1000:.0f} | {pct(a, 95) * 1000:.0f} | {pct(a, 99) * 1000:.0f} | "
              f"{pct(b, 50) * 1000:.0f} | {pct(b, 95) * 1000:.0f} | {pct(b, 99) * 1000:.0f} | {ratio:.2f} | "
              f"{len(a)}/{len(b)} | {idle.errors[route]}/{loaded.errors[route]} |")
    print(f"\nSSE events received: idle {idle.sse_events}, loaded {loaded.sse_events}")
    print("\n| round | main RSS after (MB) | analysis alone (emails/s) | analysis under load (emails/s) | "
          "kept | idle req/s | loaded req/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rounds:
        kept = r.loaded_rate / r.unloaded_rate if r.unloaded_rate else float("nan")
        print(f"| {r.n} | {r.rss_mb:.1f} | {r.unloaded_rate:.1f} | {r.loaded_rate:.1f} | {kept:.0%} | "
              f"{r.idle_rps:.0f} | {r.loaded_rps:.0f} |")
    unloaded = statistics.median(r.unloaded_rate for r in rounds)
    loaded_rate = statistics.median(r.loaded_rate for r in rounds)
    growth = rounds[-1].rss_mb - rounds[0].rss_mb
    page_ratio = max(pct(loaded.latencies[r], 95) / pct(idle.latencies[r], 95) for r in PAGE_ROUTES)
    errors = sum(idle.errors.values()) + sum(loaded.errors.values())
    targets = [
        (f"main RSS after round {rounds[-1].n} <= round 1 + 10 MB", f"{growth:+.1f} MB", growth <= 10),
        ("loaded p95 of inbox and email pages <= 3x idle", f"worst {page_ratio:.2f}x", page_ratio <= 3),
        ("analysis under load >= 70 % of unloaded (medians)", f"{loaded_rate / unloaded:.0%}",
         loaded_rate >= 0.7 * unloaded),
        ("no request errors", f"{errors}", errors == 0),
    ]
    print("\n| target | measured | |\n|---|---:|---|")
    for name, value, ok in targets:
        print(f"| {name} | {value} | {'met' if ok else 'MISSED'} |")
    return 0 if all(ok for *_, ok in targets) else 1


# -- main ----------------------------------------------------------------------------------------
async def bench(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="beacon-web-load-"))
    data = tmp / "data"
    data.mkdir()
    db = prepare(data, args.emails)
    env = dict(kv.split("=", 1) for kv in args.env)
    srv = ServeProcess(data, env=env)
    srv.start()
    try:
        c = httpx.Client(base_url=srv.url, timeout=60)
        r = c.post("/api/login", json={"username": USER, "password": PASSWORD})
        r.raise_for_status()
        h = {CSRF_HEADER: r.json()["csrf_token"]}
        t0 = time.monotonic()
        wait_run(c, start_analysis(c, h))
        print(f"first analysis of everything: {time.monotonic() - t0:.0f}s", flush=True)
        total = c.get("/api/emails?per_page=1").json()["total"]
        ids = [e["id"] for p in range(1, total // 200 + 2)
               for e in c.get(f"/api/emails?per_page=200&page={p}").json()["items"]]
        load = Load(srv.url, c.cookies, ids, max(1, total // 50), args.clients)
        main = psutil.Process(srv.pid)
        idle_all, loaded_all, rounds = Phase(), Phase(), []
        for n in range(1, args.rounds + 1):
            forget_corpus_analyses(db)
            unloaded = wait_run(c, start_analysis(c, h))
            idle = await load.run(args.requests, seed=n)
            forget_corpus_analyses(db)
            ended = asyncio.Event()
            run_task = asyncio.create_task(wait_run_async(c, start_analysis(c, h), ended))
            loaded = await load.run(args.requests, until=ended, seed=1000 + n)
            job = await run_task
            await asyncio.sleep(1.0)
            rnd = Round(n, main.memory_info().rss / 2**20, run_rate(unloaded), run_rate(job),
                        idle.requests / idle.seconds, loaded.requests / loaded.seconds)
            rounds.append(rnd)
            print(f"round {n}: rss {rnd.rss_mb:.1f} MB, analysis {rnd.unloaded_rate:.1f} -> {rnd.loaded_rate:.1f}"
                  f" emails/s, {rnd.idle_rps:.0f} / {rnd.loaded_rps:.0f} req/s", flush=True)
            for src, dst in ((idle, idle_all), (loaded, loaded_all)):
                for route, values in src.latencies.items():
                    dst.latencies[route].extend(values)
                for route, k in src.errors.items():
                    dst.errors[route] += k
                dst.sse_events += src.sse_events
        return report(idle_all, loaded_all, rounds, env)
    finally:
        srv.stop()
        db.dispose()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--emails", type=int, default=300)
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="a setting for the server")
    ap.add_argument("--keep", action="store_true", help="keep the data directory (its server.log)")
    args = ap.parse_args()
    sys.exit(asyncio.run(bench(args)))


if __name__ == "__main__":
    main()
