"""Web load against a real ``beacon serve``, with and without an analysis running.

    python bench/web_load.py [--rounds 5] [--requests 3000] [--clients 20] [--emails 300]
                             [--rate 40] [--modes closed,paced] [--tracemalloc]

A throwaway data directory gets the demo mailbox plus ``--emails`` SpamAssassin messages
(``easy-ham-2``, the training split: only a workload here) and a user; ``beacon serve`` runs on
it with its defaults (pool mode, two workers, ``worker_nice``, ``worker_sched_batch``, the engine
in a process of its own: ``engine_process``; ``--env BEACON_ENGINE_PROCESS=false`` puts it back in the web
process).
Everything is analysed once before the rounds. Each round then has, in this order:

- ``analysis alone``: the corpus's analyses are deleted and an analysis run redoes them with no
  web load: unloaded emails/s;
- for each load of ``--modes``, an ``idle`` phase (``--requests`` mixed requests from
  ``--clients`` concurrent clients: inbox pages, filters, search, email pages as JSON and HTML,
  ``/api/engine``, ``/metrics``; plus one SSE subscriber; nothing analysing) and a ``loaded``
  phase (the same while an analysis run redoes the corpus again; requests go on until both the
  request count is reached and the run has ended: loaded emails/s).

Two loads: ``closed`` (each client sends its next request when the last one is answered, as
fast as the server goes: it always takes all the CPU the web process can use) and ``paced``
(the clients together aim at ``--rate`` requests/s with random think times, the ~40 requests/s
the issue observed from 20 users; at most one request in flight per client). The targets are
judged on the paced load (a server saturated by a closed loop leaves the analysis what the
kernel's priorities leave it, whatever the target); the closed loop's figures are printed
beside them.

After each round the main process's RSS is read, and split by kind from /proc/<pid>/smaps
(glibc's main heap, its per-thread arenas, other anonymous memory such as Python's object
arenas, mapped files; with ``--tracemalloc`` also what tracemalloc sees live): growth that
tracemalloc does not see is the allocator's or C libraries' (SQLite's page caches). Each failed
request is listed with its route, path, status or exception, and the server log's lines about
it. The tables give p50/p95/p99 per route (idle
vs loaded, all rounds), errors, where the CPU went in each kind of phase (the main process, its
engine processes, this load generator, and everyone else on the machine), RSS per round and
both analysis rates, and check the targets: RSS after the last round <= after round 1 + 10 MB;
loaded p95 of inbox and email pages <= 3x idle; loaded analysis >= 70 % of unloaded (median of
the rounds' ratios). ``--tracemalloc`` starts the server with ``BEACON_DEBUG_TRACEMALLOC`` and
prints, after each round, the allocation sites that grew most since the round before (tracing
slows the server: its latencies and rates are not comparable with a run without it).
``--env KEY=VALUE`` passes settings to the server (e.g. ``--env BEACON_WORKER_NICE=0``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpcore
import httpx
import psutil
from sqlalchemy import delete, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from beacon.ingest.importer import import_items  # noqa: E402
from beacon.ingest.sources import detect  # noqa: E402
from beacon.settings import Settings  # noqa: E402
from beacon.store.db import Database  # noqa: E402
from beacon.store.schema import Account, AnalysisRow, EmailRow, RunEvent  # noqa: E402
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
class Cpu:
    """CPU seconds used during a phase, by who used them."""

    main: float = 0.0  # the web/main process (all its threads)
    engine: float = 0.0  # its descendants: zygote, analysis workers (reaped ones included)
    bench: float = 0.0  # this process: the load generator and its clients
    machine: float = 0.0  # every process on the machine (other sessions' tests included)
    wall: float = 0.0

    def __add__(self, o: Cpu) -> Cpu:
        return Cpu(self.main + o.main, self.engine + o.engine, self.bench + o.bench,
                   self.machine + o.machine, self.wall + o.wall)

    def cores(self, what: str) -> float:
        return getattr(self, what) / self.wall if self.wall else float("nan")

    @property
    def others(self) -> float:
        return max(0.0, self.machine - self.main - self.engine - self.bench)


class CpuMeter:
    """Reads the CPU time of the server's tree, of this process and of the whole machine."""

    def __init__(self, main: psutil.Process) -> None:
        self.main = main

    def read(self) -> Cpu:
        t = self.main.cpu_times()
        # A reaped child's time lands in its parent's children_*; a live one's is its own.
        engine = t.children_user + t.children_system
        for k in self.main.children(recursive=True):
            try:
                kt = k.cpu_times()
            except psutil.Error:
                continue
            engine += kt.user + kt.system + kt.children_user + kt.children_system
        me = resource.getrusage(resource.RUSAGE_SELF)
        m = psutil.cpu_times()
        busy = m.user + m.nice + m.system + m.irq + m.softirq + getattr(m, "steal", 0.0)
        return Cpu(t.user + t.system, engine, me.ru_utime + me.ru_stime, busy, time.monotonic())

    @staticmethod
    def since(a: Cpu, b: Cpu) -> Cpu:
        return Cpu(b.main - a.main, b.engine - a.engine, b.bench - a.bench, b.machine - a.machine, b.wall - a.wall)


@dataclass
class Sched:
    """The server's processes by kind: CPU seconds, and seconds runnable but waiting for a CPU
    (the kernel's run delay, ``/proc/<pid>/task/*/schedstat``, a lower bound: threads that
    ended are not counted). A single-threaded worker's wall time that is neither was spent
    asleep (waiting for work, a pipe, a lock)."""

    run: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    wait: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    pids: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    thread_wait: dict[tuple[str, int], float] = field(default_factory=dict)  # (kind, tid) -> s
    wall: float = 0.0

    @classmethod
    def read(cls, main: psutil.Process) -> Sched:
        s = cls(wall=time.monotonic())
        for k in [main, *main.children(recursive=True)]:
            try:
                kind = "main" if k.pid == main.pid else k.name()
                if not kind.startswith(("main", "beacon-")):
                    kind = "engine" if "beacon.engine.remote" in " ".join(k.cmdline()) else kind
                # CPU time from the process (its ended threads included); the run delay is kept
                # per thread only, so that of threads that ended in between is not counted.
                ct = k.cpu_times()
                s.run[kind] += ct.user + ct.system
                for stat in Path(f"/proc/{k.pid}/task").glob("*/schedstat"):
                    s.thread_wait[(kind, int(stat.parent.name))] = int(stat.read_text().split()[1]) / 1e9
                s.pids[kind].add(k.pid)
            except (psutil.Error, OSError, ValueError):
                continue
        return s

    def since(self, before: Sched) -> Sched:
        """What was used in between, by the processes alive at both readings (a worker replaced
        in between is left out: its count in ``pids`` drops)."""
        out = Sched(wall=self.wall - before.wall)
        for kind, pids in self.pids.items():
            out.pids[kind] = pids & before.pids.get(kind, set())
            if out.pids[kind] == pids == before.pids.get(kind, set()):
                out.run[kind] = self.run[kind] - before.run[kind]
        for (kind, tid), waited in self.thread_wait.items():
            if kind in out.run:  # a thread started in between waited all its life in between
                out.wait[kind] += waited - before.thread_wait.get((kind, tid), 0.0)
        return out


@dataclass
class RequestError:
    """One failed request: what was asked, what came back (a status, or the exception when no
    answer came), and the server log's lines about it (its request line, warnings, errors)."""

    phase: str
    route: str
    path: str
    what: str  # "HTTP 500" | "ReadTimeout: ..." | "RemoteProtocolError: ..."
    seconds: float  # from sending to the failure
    log_from: int  # server.log size when the request was sent ...
    log_to: int  # ... and when it failed
    log: list[str] = field(default_factory=list)


@dataclass
class Phase:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failures: list[RequestError] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    sse_events: int = 0
    cpu: Cpu = field(default_factory=Cpu)

    def add(self, other: Phase) -> None:
        for route, values in other.latencies.items():
            self.latencies[route].extend(values)
        for route, k in other.errors.items():
            self.errors[route] += k
        self.failures.extend(other.failures)
        self.requests += other.requests
        self.seconds += other.seconds
        self.sse_events += other.sse_events
        self.cpu = self.cpu + other.cpu


@dataclass
class RunWindow:
    """The CPU and scheduler figures of one analysis run's own span (from its start to the poll
    that saw it end): a phase's figures also cover the requests after the run ended."""

    cpu: Cpu
    sched: Sched


async def measured_run(c: httpx.Client, h: dict[str, str], meter: CpuMeter,
                       done: asyncio.Event | None = None) -> tuple[dict[str, object], RunWindow]:
    cpu0, sched0 = meter.read(), Sched.read(meter.main)
    job = await asyncio.to_thread(wait_run, c, start_analysis(c, h))
    window = RunWindow(meter.since(cpu0, meter.read()), Sched.read(meter.main).since(sched0))
    if done is not None:
        done.set()
    return job, window


@dataclass
class ModeRound:
    loaded_rate: float  # analysis emails/s while this load ran
    loaded_busy: float  # worker-seconds of analysis per second of that run (see workers_busy)
    idle_rps: float
    loaded_rps: float
    window: RunWindow | None = None  # the analysis run's own span under this load


ARENA_ALIGN = 64 * 2**20  # glibc's thread arenas live in heaps aligned to HEAP_MAX_SIZE (64 MiB)


@dataclass(frozen=True)
class MemoryParts:
    """Where a process's resident memory is, from /proc/<pid>/smaps (MiB): glibc's main heap
    (brk), its per-thread arenas (how many, and their resident size), the other anonymous
    mappings (Python's object arenas, thread stacks, large allocations), and mapped files."""

    rss: float
    brk_heap: float
    arenas: int
    arena_mb: float
    other_anon: float
    files: float
    threads: int
    traced: float | None = None  # what tracemalloc sees live (with --tracemalloc)

    @classmethod
    def read(cls, pid: int, traced: float | None = None) -> MemoryParts:
        sizes = {"brk": 0, "arena": 0, "anon": 0, "file": 0}
        arenas = 0
        kind = "file"
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split()
                if not head[0].endswith(":"):  # a mapping's first line: "start-end perms offset dev inode [path]"
                    path = head[5] if len(head) > 5 else ""
                    start = int(head[0].split("-")[0], 16)
                    if path == "[heap]":
                        kind = "brk"
                    elif not path and start % ARENA_ALIGN == 0 and head[1].startswith("rw"):
                        kind, arenas = "arena", arenas + 1
                    elif not path or path.startswith("["):
                        kind = "anon"
                    else:
                        kind = "file"
                elif head[0] == "Rss:":
                    sizes[kind] += int(head[1]) * 1024
        mib = 2**20
        return cls(sum(sizes.values()) / mib, sizes["brk"] / mib, arenas, sizes["arena"] / mib, sizes["anon"] / mib,
                   sizes["file"] / mib, psutil.Process(pid).num_threads(), traced)


@dataclass
class Round:
    n: int
    rss_mb: float
    parts: MemoryParts
    unloaded_rate: float
    unloaded_busy: float
    modes: dict[str, ModeRound]


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
        create_user(s, USER, PASSWORD, admin=True)  # admin: --tracemalloc reads an admin route
    print(f"store: demo mailbox + {summary.imported} corpus emails", flush=True)
    return db


def wal_state(data: Path) -> tuple[int, int]:
    """The write-ahead log's modification time and size: unchanged across a phase of GETs with
    no analysis running means none of them wrote (a writer would hold SQLite's one write lock,
    which the engine's result saves wait for)."""
    try:
        st = (data / "beacon.db-wal").stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def forget_corpus_analyses(db: Database) -> None:
    """Delete the corpus's analyses, so the next analysis run does them again."""
    with db.session() as s:
        account = s.scalar(select(Account.id).where(Account.name == CORPUS_ACCOUNT))
        ids = select(EmailRow.id).where(EmailRow.account_id == account)
        s.execute(delete(AnalysisRow).where(AnalysisRow.email_id.in_(ids)))


# -- requests ------------------------------------------------------------------------------------
# What httpx sends with every request (besides Host and the cookie): the generator's requests
# are the same on the wire whichever layer sends them.
with httpx.Client() as _client:
    _HEADERS = [(k.encode(), v.encode()) for k, v in _client.headers.items()]
_TIMEOUT = {"timeout": {"connect": 60.0, "read": 60.0, "write": 60.0, "pool": 60.0}}


class Load:
    """``clients`` concurrent clients. Closed loop (``rate`` None): each sends its next request
    as soon as the last one is answered, as fast as the server goes. Paced: together they aim at
    ``rate`` requests/s, each client waiting a random (exponential) think time between its
    requests, and sending at once when the server is behind (a person does not click twice
    before the page came back, so at most ``clients`` requests are in flight)."""

    def __init__(self, url: str, cookies: httpx.Cookies, email_ids: list[int], pages: int, clients: int,
                 meter: CpuMeter, server_log: Path) -> None:
        self.server_log = server_log
        self.url = url
        self.cookies = cookies
        self.email_ids = email_ids
        self.pages = pages
        self.clients = clients
        self.meter = meter

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

    def _log_size(self) -> int:
        try:
            return self.server_log.stat().st_size
        except OSError:
            return 0

    async def run(self, name: str, n: int, until: asyncio.Event | None = None, seed: int = 0,
                  rate: float | None = None) -> Phase:
        """``n`` requests (and, with ``until``, on until it is set) from ``clients`` workers."""
        phase = Phase()
        rng = random.Random(seed)
        done_issuing = asyncio.Event()
        counter = {"issued": 0}

        def more() -> bool:
            if counter["issued"] < n:
                return True
            return until is not None and not until.is_set()

        # The clients' requests go through httpcore, the connection pool under httpx, with the
        # headers httpx sends (the same requests on the wire): httpx's own layers (URL merging,
        # the cookie jar, request and response models) cost the load generator ~40 % of its
        # CPU per request, taken from the two cores the server and its analysis share. The SSE
        # subscriber keeps httpx (line iteration, reconnects).
        async with httpx.AsyncClient(base_url=self.url, cookies=self.cookies, timeout=60) as client, \
                httpcore.AsyncConnectionPool(max_connections=self.clients + 2) as pool:
            headers = [(b"Host", httpx.URL(self.url).netloc), *_HEADERS,
                       (b"Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()).encode())]

            async def worker(k: int) -> None:
                think = random.Random(seed * 1000 + k)
                next_at = time.perf_counter() + (think.expovariate(rate / self.clients) if rate else 0.0)
                while more():
                    if rate:
                        delay = next_at - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                            if not more():
                                return
                        next_at = max(next_at, time.perf_counter() - 1.0) + think.expovariate(rate / self.clients)
                    counter["issued"] += 1
                    route, path = self._request(rng)
                    log_from = self._log_size()
                    t0 = time.perf_counter()
                    failed = None
                    try:
                        r = await pool.request("GET", self.url + path, headers=headers, extensions=_TIMEOUT)
                        if r.status >= 400:
                            failed = f"HTTP {r.status}"
                    except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
                        failed = f"{type(exc).__name__}: {exc}"
                    elapsed = time.perf_counter() - t0
                    if failed is not None:
                        phase.errors[route] += 1
                        phase.failures.append(RequestError(name, route, path, failed, elapsed, log_from,
                                                           self._log_size()))
                    phase.latencies[route].append(elapsed)
                    phase.requests += 1

            sse = asyncio.create_task(self._sse(client, phase, done_issuing))
            cpu0 = self.meter.read()
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(k) for k in range(self.clients)))
            phase.seconds = time.perf_counter() - t0
            phase.cpu = self.meter.since(cpu0, self.meter.read())
            done_issuing.set()
            await sse
        await asyncio.sleep(0.5)  # the server's log lines about the last failures are written
        for failure in phase.failures:
            failure.log = log_excerpt(self.server_log, failure)
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


LOG_PROBLEM = (" WARNING ", " ERROR ", " CRITICAL ", "Traceback", "  File ", "Error:", "Exception")


def log_excerpt(log: Path, failure: RequestError, limit: int = 15) -> list[str]:
    """The server log's lines written while the failed request was under way (and just after):
    its own request line (path and status), and every warning, error and traceback."""
    try:
        with log.open("rb") as f:
            f.seek(failure.log_from)
            text = f.read(failure.log_to - failure.log_from + 4096).decode(errors="replace")
    except OSError:
        return []
    base = failure.path.split("?", 1)[0]
    status = failure.what.removeprefix("HTTP ") if failure.what.startswith("HTTP ") else None
    mine = f"GET {base} {status} " if status else None
    kept = [line for line in text.splitlines()
            if (mine and mine in line) or any(k in line for k in LOG_PROBLEM)]
    return kept[:limit]


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


def tracemalloc_diff(c: httpx.Client, n: int, top: int = 12) -> tuple[str, float]:
    """The server's allocation sites that grew most since the last round (by allocating line),
    as a table, and the MiB tracemalloc sees live."""
    r = c.get("/api/admin/debug/allocations", params={"limit": top})
    r.raise_for_status()
    d = r.json()
    head = (f"tracemalloc after round {n}: {d['traced'] / 2**20:.1f} MiB traced ({d['traced_diff'] / 2**20:+.2f} MiB "
            f"since the last snapshot), peak {d['peak'] / 2**20:.1f} MiB")
    lines = [head, "| growth KiB | blocks | live KiB | where |", "|---:|---:|---:|---|"]
    root = str(ROOT) + "/"
    for site in d["sites"]:
        lines.append(f"| {site['size_diff'] / 1024:+.0f} | {site['count_diff']:+d} | {site['size'] / 1024:.0f} | "
                     f"{site['where'].replace(root, '')} |")
    return "\n".join(lines), d["traced"] / 2**20


def run_rate(job: dict[str, object]) -> float:
    summary = job.get("summary") or {}
    assert isinstance(summary, dict)
    return float(summary.get("rate", job.get("rate", 0.0)))


def workers_busy(db: Database, job: dict[str, object]) -> float:
    """Seconds the workers spent analysing (their own timing of each batch) per second of the
    run: with 2 workers, 2.0 means never idle. A rate that falls while this stays up is CPU the
    workers did not get; a rate that falls with it is workers waiting for the main process."""
    summary = job.get("summary") or {}
    assert isinstance(summary, dict)
    elapsed = float(summary.get("elapsed") or 0.0)
    with db.session() as s:
        batches = s.scalars(select(RunEvent.data).where(RunEvent.run_id == job["id"], RunEvent.type == "batch_done"))
        busy = sum(float(d.get("elapsed", 0.0)) for d in batches)
    return busy / elapsed if elapsed else float("nan")


# -- report --------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def route_table(idle: Phase, loaded: Phase) -> None:
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


def cpu_table(rows: list[tuple[str, Phase | None, Cpu]]) -> None:
    """Where the two cores went in each kind of phase (all rounds): cores used on average,
    and CPU ms per request of the main process and of the load generator."""
    print("\n| phase | wall s | main cores | engine cores | load generator cores | others' cores | "
          "main CPU ms/request | generator CPU ms/request |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, phase, cpu in rows:
        n = phase.requests if phase else 0
        main_ms, gen_ms = (f"{cpu.main / n * 1000:.1f}", f"{cpu.bench / n * 1000:.1f}") if n else ("", "")
        print(f"| {name} | {cpu.wall:.0f} | {cpu.cores('main'):.2f} | {cpu.cores('engine'):.2f} | "
              f"{cpu.cores('bench'):.2f} | {cpu.others / cpu.wall if cpu.wall else 0:.2f} | {main_ms} | {gen_ms} |")


def sched_table(windows: list[tuple[str, RunWindow]]) -> None:
    """Each analysis run's own span: the cores the machine used, and per kind of process the
    cores it ran, the cores it waited runnable for a CPU (the kernel's run delay) and, for the
    workers, the cores they slept (neither: waiting for a batch or the pipe)."""
    print("\n| run | wall s | machine cores | main run / wait | engine run / wait | "
          "workers run / wait / asleep | workers counted |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, w in windows:
        s, wall = w.sched, w.sched.wall or float("nan")
        n = len(s.pids.get("beacon-worker", ()))

        def rw(kind: str) -> str:
            return f"{s.run.get(kind, 0.0) / wall:.2f} / {s.wait.get(kind, 0.0) / wall:.2f}"

        asleep = n - (s.run.get("beacon-worker", 0.0) + s.wait.get("beacon-worker", 0.0)) / wall
        print(f"| {name} | {wall:.1f} | {w.cpu.cores('machine'):.2f} | {rw('main')} | {rw('engine')} | "
              f"{rw('beacon-worker')} / {asleep:.2f} | {n} |")
        for kind in sorted(set(s.run) - {"main", "engine", "beacon-worker"}):
            print(f"|   {kind} ({len(s.pids[kind])}) | | | run / wait {rw(kind)} | | | |")


def memory_table(rounds: list[Round]) -> None:
    """The main process's memory after each round, by kind (see MemoryParts), in MiB."""
    traced = any(r.parts.traced is not None for r in rounds)
    print("\n| round | RSS | glibc main heap (brk) | glibc thread arenas | other anonymous | files | threads |"
          + (" tracemalloc live |" if traced else ""))
    print("|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if traced else ""))
    for r in rounds:
        m = r.parts
        print(f"| {r.n} | {m.rss:.1f} | {m.brk_heap:.1f} | {m.arena_mb:.1f} ({m.arenas}) | {m.other_anon:.1f} | "
              f"{m.files:.1f} | {m.threads} |" + (f" {m.traced:.1f} |" if traced else ""))


def error_list(failures: list[RequestError]) -> None:
    print(f"\nrequest errors: {len(failures)}")
    for e in failures:
        print(f"- {e.phase}, {e.route} `{e.path}`: {e.what} after {e.seconds:.2f}s")
        for line in e.log:
            print(f"    {line}")
        if not e.log:
            print("    (nothing in the server log about it: the request did not reach the app)")


def report(modes: dict[str, tuple[Phase, Phase]], alone: Cpu, rounds: list[Round], judged: str,
           rates: dict[str, float | None], server_env: dict[str, str], alone_emails: int) -> int:
    print(f"\nserver settings: {server_env or 'defaults'}")
    for mode, (idle, loaded) in modes.items():
        rate = rates[mode]
        print(f"\n### {mode} load: " + (f"paced at {rate:g} requests/s" if rate else "closed loop, as fast as possible"))
        route_table(idle, loaded)
    cpu_table([("analysis alone", None, alone)]
              + [row for mode, (idle, loaded) in modes.items()
                 for row in ((f"{mode} idle", idle, idle.cpu), (f"{mode} loaded", loaded, loaded.cpu))])
    if alone_emails:
        # With the engine in the web process (engine_process=false) the runner saves every
        # result there, beside the request threads: the Python CPU it needs per email, against
        # the one GIL the process has. With the engine process it is in the engine column.
        per_email = alone.main / alone_emails
        rate = statistics.median(r.unloaded_rate for r in rounds)
        print(f"\nmain process CPU per analysed email (analysis alone): {per_email * 1000:.1f} ms, i.e. "
              f"{per_email * rate:.2f} of a core at the unloaded {rate:.1f} emails/s")
    names = list(modes)
    print("\n| round | main RSS after (MB) | analysis alone (emails/s) | workers busy alone | "
          + " | ".join(f"{m}: under load (emails/s) | {m}: kept | {m}: workers busy | {m}: idle/loaded req/s"
                       for m in names) + " |")
    print("|---:|---:|---:|---:|" + "---:|---:|---:|---:|" * len(names))
    for r in rounds:
        cells = []
        for m in names:
            mr = r.modes[m]
            kept = mr.loaded_rate / r.unloaded_rate if r.unloaded_rate else float("nan")
            cells.append(f"{mr.loaded_rate:.1f} | {kept:.0%} | {mr.loaded_busy:.2f} | "
                         f"{mr.idle_rps:.0f}/{mr.loaded_rps:.0f}")
        print(f"| {r.n} | {r.rss_mb:.1f} | {r.unloaded_rate:.1f} | {r.unloaded_busy:.2f} | " + " | ".join(cells) + " |")
    memory_table(rounds)
    error_list([e for idle, loaded in modes.values() for e in (*idle.failures, *loaded.failures)])
    unloaded = statistics.median(r.unloaded_rate for r in rounds)
    growth = rounds[-1].rss_mb - rounds[0].rss_mb
    targets = [(f"main RSS after round {rounds[-1].n} <= round 1 + 10 MB", "", f"{growth:+.1f} MB", growth <= 10)]
    for m, (idle, loaded) in modes.items():
        page_ratio = max(pct(loaded.latencies[r], 95) / pct(idle.latencies[r], 95) for r in PAGE_ROUTES)
        kept = [r.modes[m].loaded_rate / r.unloaded_rate for r in rounds if r.unloaded_rate]
        median_kept = statistics.median(kept) if kept else float("nan")
        errors = sum(idle.errors.values()) + sum(loaded.errors.values())
        targets += [
            ("loaded p95 of inbox and email pages <= 3x idle", m, f"worst {page_ratio:.2f}x", page_ratio <= 3),
            ("analysis under load >= 70 % of unloaded (median of rounds' ratios)", m,
             f"{median_kept:.0%} (rounds {min(kept):.0%}-{max(kept):.0%})", median_kept >= 0.7),
            ("no request errors", m, f"{errors}", errors == 0),
        ]
    print(f"\nunloaded analysis median {unloaded:.1f} emails/s. Targets are judged on the {judged} load.")
    print("\n| target | load | measured | |\n|---|---|---:|---|")
    for name, m, value, ok in targets:
        verdict = "met" if ok else "MISSED"
        if m and m != judged:
            verdict += " (not judged)"
        print(f"| {name} | {m or 'all'} | {value} | {verdict} |")
    return 0 if all(ok for _, m, _, ok in targets if m in ("", judged)) else 1


# -- main ----------------------------------------------------------------------------------------
async def bench(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="beacon-web-load-"))
    data = tmp / "data"
    data.mkdir()
    db = prepare(data, args.emails)
    env = dict(kv.split("=", 1) for kv in args.env)
    if args.tracemalloc:
        env.setdefault("BEACON_DEBUG_TRACEMALLOC", "1")
    srv = ServeProcess(data, env=env)
    srv.start()
    rates: dict[str, float | None] = {"closed": None, "paced": args.rate}
    modes = [m for m in args.modes.split(",") if m]
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
        main = psutil.Process(srv.pid)
        meter = CpuMeter(main)
        load = Load(srv.url, c.cookies, ids, max(1, total // 50), args.clients, meter, srv.log)
        totals = {m: (Phase(), Phase()) for m in modes}
        if args.tracemalloc:
            tracemalloc_diff(c, 0)  # the baseline the first round is diffed against
        alone, alone_emails, rounds = Cpu(), 0, []
        windows: list[tuple[str, RunWindow]] = []
        for n in range(1, args.rounds + 1):
            forget_corpus_analyses(db)
            unloaded, alone_window = await measured_run(c, h, meter)
            alone = alone + alone_window.cpu
            windows.append(("analysis alone", alone_window))
            alone_emails += int(unloaded.get("done") or 0)  # type: ignore[call-overload]
            results = {}
            for k, mode in enumerate(modes):
                wal0 = wal_state(data)
                idle = await load.run(f"round {n} {mode} idle", args.requests, seed=n * 10 + k, rate=rates[mode])
                if wal_state(data) != wal0:
                    print(f"round {n} {mode} idle: the database was written during the read-only requests",
                          flush=True)
                forget_corpus_analyses(db)
                ended = asyncio.Event()
                run_task = asyncio.create_task(measured_run(c, h, meter, ended))
                loaded = await load.run(f"round {n} {mode} loaded", args.requests, until=ended,
                                        seed=1000 + n * 10 + k, rate=rates[mode])
                job, window = await run_task
                windows.append((f"{mode} loaded", window))
                results[mode] = ModeRound(run_rate(job), workers_busy(db, job), idle.requests / idle.seconds,
                                          loaded.requests / loaded.seconds, window)
                totals[mode][0].add(idle)
                totals[mode][1].add(loaded)
            await asyncio.sleep(1.0)
            parts = MemoryParts.read(srv.pid)
            diff = None
            if args.tracemalloc:
                diff, traced = tracemalloc_diff(c, n)
                parts = replace(parts, traced=traced)
            rnd = Round(n, parts.rss, parts, run_rate(unloaded), workers_busy(db, unloaded), results)
            rounds.append(rnd)
            print(f"round {n}: rss {rnd.rss_mb:.1f} MB, analysis alone {rnd.unloaded_rate:.1f} emails/s "
                  f"(workers busy {rnd.unloaded_busy:.2f}); "
                  + "; ".join(f"{m}: {mr.loaded_rate:.1f} emails/s under load (workers busy {mr.loaded_busy:.2f}), "
                              f"{mr.idle_rps:.0f}/{mr.loaded_rps:.0f} req/s" for m, mr in results.items()), flush=True)
            for mode in modes:
                for phase in totals[mode]:
                    for e in phase.failures:
                        if e.phase.startswith(f"round {n} "):
                            print(f"  error: {e.phase} {e.route} {e.path}: {e.what} after {e.seconds:.2f}s", flush=True)
            if diff is not None:
                print(diff, flush=True)
        judged = "paced" if "paced" in modes else modes[0]
        code = report(totals, alone, rounds, judged, rates, env, alone_emails)
        sched_table(windows)
        return code
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
    ap.add_argument("--rate", type=float, default=40.0,
                    help="requests/s of the paced load (the issue's observed ~40 requests/s)")
    ap.add_argument("--modes", default="closed,paced", help="loads to run in each round: closed, paced or both")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="the server traces its allocations; print the top growing sites after each round")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="a setting for the server")
    ap.add_argument("--keep", action="store_true", help="keep the data directory (its server.log)")
    args = ap.parse_args()
    sys.exit(asyncio.run(bench(args)))


if __name__ == "__main__":
    main()
