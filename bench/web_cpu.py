"""The web process's CPU per request, per route, of a real ``beacon serve`` (and of another
checkout's, on the same store, in the same run).

    python bench/web_cpu.py [--requests 400] [--clients 20] [--repeat 4] [--compare CHECKOUT]
                            [--routes inbox,search] [--profile DIR] [--data DIR] [--emails 300]

The store is ``bench/web_load.py``'s (the demo mailbox plus ``--emails`` SpamAssassin
``easy-ham-2`` messages, analysed once; ``--data DIR`` keeps it for the next run). This
checkout's server and ``--compare``'s (e.g. ``/work/main``) run at once on that store and take
turns, phase by phase, in ``--repeat`` passes, so that what else the machine runs weighs on
both alike. The phases: seconds with no request (the background threads' CPU per second), the
same with only web_load's SSE subscriber, then for each of web_load's routes ``--requests``
requests from ``--clients`` concurrent clients (a closed loop: what matters is the CPU a
request costs, not how fast it comes back), then ``--requests`` of web_load's mix with its SSE
subscriber (what web_load's "main CPU ms/request" measures). Nothing analyses meanwhile. The
CPU is the main process's own (user + system, all its threads; not its engine's processes),
read from the kernel before and after each phase, divided by the requests answered; both
servers get the same requests (one seed per phase). ``--profile DIR`` samples each server's
main process with py-spy during the first mix phase and writes the collapsed stacks there.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from beacon.web.deps import CSRF_HEADER  # noqa: E402
from testkit.serve import ServeProcess  # noqa: E402
from web_load import MIX, PASSWORD, USER, CpuMeter, Load, Phase, prepare, start_analysis, wait_run  # noqa: E402


def main_cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


async def one_route(load: Load, route: str, n: int, seed: int) -> tuple[int, int]:
    """``n`` requests of ``route`` from ``load.clients`` clients; (answered, failed)."""
    rng = random.Random(seed)
    paths = []
    while len(paths) < n:
        r, p = load._request(rng)
        if r == route:
            paths.append(p)
    queue = iter(paths)
    failed = 0
    async with httpx.AsyncClient(base_url=load.url, cookies=load.cookies, timeout=60,
                                 limits=httpx.Limits(max_connections=load.clients)) as client:
        async def worker() -> None:
            nonlocal failed
            for path in queue:
                r = await client.get(path)
                await r.aread()
                failed += r.status_code >= 400
        await asyncio.gather(*(worker() for _ in range(load.clients)))
    return n, failed


async def sse_only(load: Load, seconds: float) -> None:
    """web_load's SSE subscriber, alone, for ``seconds``."""
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=load.url, cookies=load.cookies, timeout=60) as client:
        task = asyncio.create_task(load._sse(client, Phase(), stop))
        await asyncio.sleep(seconds)
        stop.set()
        await task


class Target:
    """One running server, logged in, with web_load's request generator pointed at it."""

    def __init__(self, root: Path | None, data: Path, clients: int) -> None:
        self.label = str(root or ROOT)
        self.srv = ServeProcess(data, root=root).start()
        self.c = httpx.Client(base_url=self.srv.url, timeout=60)
        r = self.c.post("/api/login", json={"username": USER, "password": PASSWORD})
        r.raise_for_status()
        self.csrf = r.json()["csrf_token"]
        self.proc = psutil.Process(self.srv.pid)
        self.clients = clients
        self.load: Load | None = None

    def ready(self) -> Load:
        total = self.c.get("/api/emails?per_page=1").json()["total"]
        ids = [e["id"] for p in range(1, total // 200 + 2)
               for e in self.c.get(f"/api/emails?per_page=200&page={p}").json()["items"]]
        self.load = Load(self.srv.url, self.c.cookies, ids, max(1, total // 50), self.clients, CpuMeter(self.proc),
                         self.srv.log)
        return self.load


async def measure(targets: list[Target], args: argparse.Namespace) -> list[dict[str, list[float]]]:
    """Per server, route -> [main-process CPU seconds, requests, failed]. The servers take
    turns, phase by phase and in ``--repeat`` passes, so that what else the machine runs
    weighs on each alike."""
    out: list[dict[str, list[float]]] = [{} for _ in targets]

    def add(k: int, key: str, cpu: float, n: int, failed: int = 0) -> None:
        acc = out[k].setdefault(key, [0.0, 0, 0])
        acc[0] += cpu
        acc[1] += n
        acc[2] += failed

    loads = [t.ready() for t in targets]
    for load in loads:
        await one_route(load, "inbox", 2 * args.clients, seed=99)  # warm-up: imports, caches, templates
    await asyncio.sleep(1.0)
    per = max(1, args.requests // args.repeat)
    for rep in range(args.repeat):
        for k, t in enumerate(targets):
            cpu0 = main_cpu(t.proc)
            await asyncio.sleep(args.quiet / args.repeat)
            add(k, "no requests (ms/s)", main_cpu(t.proc) - cpu0, args.quiet / args.repeat)
            cpu0 = main_cpu(t.proc)
            await sse_only(loads[k], args.quiet / args.repeat)
            add(k, "SSE subscriber alone (ms/s)", main_cpu(t.proc) - cpu0, args.quiet / args.repeat)
        for j, route in enumerate(MIX):
            if args.routes and route not in args.routes:
                continue
            for k, t in enumerate(targets):
                cpu0 = main_cpu(t.proc)
                n, failed = await one_route(loads[k], route, per, seed=rep * 100 + j)
                add(k, route, main_cpu(t.proc) - cpu0, n, failed)
        for k, t in enumerate(targets):
            profiler = None
            if args.profile and rep == 0:
                args.profile.mkdir(parents=True, exist_ok=True)
                name = args.profile / f"{t.label.strip('/').replace('/', '_')}.txt"
                profiler = subprocess.Popen(["py-spy", "record", "--pid", str(t.proc.pid), "--format", "raw",
                                             "--rate", "200", "--threads", "--output", str(name), "--nonblocking"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1.0)
            cpu0 = main_cpu(t.proc)
            phase = await loads[k].run("mix", per, seed=7 + rep)
            add(k, "mix + SSE", main_cpu(t.proc) - cpu0, phase.requests, sum(phase.errors.values()))
            if profiler is not None:
                profiler.send_signal(2)  # SIGINT: py-spy writes its file and exits
                profiler.wait(30)
    return out


async def bench(args: argparse.Namespace) -> int:
    tmp = args.data or Path(tempfile.mkdtemp(prefix="beacon-web-cpu-"))
    data = tmp / "data"
    fresh = not data.exists()
    try:
        if fresh:
            data.mkdir(parents=True)
            prepare(data, args.emails).dispose()
        roots: list[Path | None] = [None] + ([args.compare.resolve()] if args.compare else [])
        targets: list[Target] = []
        try:
            for root in roots:
                targets.append(Target(root, data, args.clients))
            if fresh:
                t0 = time.monotonic()
                wait_run(targets[0].c, start_analysis(targets[0].c, {CSRF_HEADER: targets[0].csrf}))
                print(f"analysis of everything: {time.monotonic() - t0:.0f}s", flush=True)
            totals = await measure(targets, args)
        finally:
            for t in targets:
                t.srv.stop()
        results = [{key: (cpu / n * 1000, int(failed)) for key, (cpu, n, failed) in r.items()} for r in totals]
        labels = ["this checkout"] + ([str(args.compare)] if args.compare else [])
        print(f"\n{args.requests} requests per route, {args.clients} concurrent clients; "
              f"main-process CPU ms per request (failed requests)\n")
        print("| route | " + " | ".join(labels) + (" | ratio |" if len(labels) == 2 else ""))
        print("|---|" + "---:|" * len(labels) + ("---:|" if len(labels) == 2 else ""))
        for route in results[0]:
            cells = [f"{r[route][0]:.1f} ({r[route][1]})" for r in results]
            ratio = ""
            if len(results) == 2:
                ratio = f" {results[1][route][0] / results[0][route][0]:.1f}x |" if results[0][route][0] else " |"
            print(f"| {route} | " + " | ".join(cells) + " |" + ratio)
        return 1 if any(f for r in results for _ms, f in r.values()) else 0
    finally:
        if args.keep or args.data:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--emails", type=int, default=300)
    ap.add_argument("--compare", type=Path, metavar="CHECKOUT", help="another checkout to serve the same store")
    ap.add_argument("--profile", type=Path, metavar="DIR", help="py-spy's collapsed stacks of the mix phase")
    ap.add_argument("--routes", type=lambda v: v.split(","), default=None,
                    help="only these of web_load's routes (comma-separated; the mix phase always runs)")
    ap.add_argument("--repeat", type=int, default=4, help="passes the requests (and quiet seconds) are split into")
    ap.add_argument("--quiet", type=float, default=10.0,
                    help="seconds of no requests, then of the SSE subscriber alone (CPU per second)")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    ap.add_argument("--data", type=Path, metavar="DIR",
                    help="the store's directory, kept: made and analysed on first use, reused after")
    args = ap.parse_args()
    sys.exit(asyncio.run(bench(args)))


if __name__ == "__main__":
    main()
