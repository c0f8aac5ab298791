"""The engine process's CPU per analysed email, of a real ``beacon serve`` (and of another
checkout's, on a copy of the same store, in the same run).

    python bench/engine_cpu.py [--emails 300] [--repeat 3] [--compare CHECKOUT] [--profile DIR]

The store is ``bench/web_load.py``'s (the demo mailbox plus ``--emails`` SpamAssassin
``easy-ham-2`` messages). Each server analyses everything once (warm-up: the model loads,
the workers start), then in ``--repeat`` passes, the servers taking turns, the corpus's
analyses are deleted and an analysis run redoes them with no web load. Per run the CPU
(user + system, all threads) of the engine process alone (``beacon.engine.remote``: the
runner, the supervisor's slot threads, the watchdog), of the web process, and of the engine's
descendants (zygote, workers) is read from the kernel before and after, and divided by the
emails analysed. CPU time is valid on a loaded machine; the wall-clock rate is not (say the
load beside it). ``--profile DIR`` samples each engine process with py-spy during the first
pass and writes its collapsed stacks there.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from beacon.store.db import Database  # noqa: E402
from beacon.web.deps import CSRF_HEADER  # noqa: E402
from web_cpu import Target as Served, main_cpu as cpu  # noqa: E402
from web_load import forget_corpus_analyses, prepare, start_analysis, wait_run  # noqa: E402


def tree_cpu(p: psutil.Process) -> float:
    """CPU of ``p``'s descendants, the reaped ones (recycled workers) included."""
    total = 0.0
    for k in p.children(recursive=True):
        try:
            t = k.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return total


class Target(Served):
    """One server (logged in) on its own copy of the store."""

    def __init__(self, root: Path | None, data: Path) -> None:
        super().__init__(root, data, clients=1)
        self.h = {CSRF_HEADER: self.csrf}
        self.web = self.proc
        self.db = Database(f"sqlite:///{data / 'beacon.db'}")

    def engine(self) -> psutil.Process:
        for k in self.web.children():
            if "beacon.engine.remote" in " ".join(k.cmdline()):
                return k
        raise RuntimeError("no engine process (engine_process off?)")

    def run(self, profile: Path | None) -> dict[str, float]:
        forget_corpus_analyses(self.db)
        eng = self.engine()
        profiler = None
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
            out = profile / f"{self.label.strip('/').replace('/', '_')}.txt"
            profiler = subprocess.Popen(["py-spy", "record", "--pid", str(eng.pid), "--format", "raw", "--rate", "200",
                                         "--threads", "--output", str(out), "--nonblocking"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        e0, w0, k0, t0 = cpu(eng), cpu(self.web), tree_cpu(eng), time.monotonic()
        job = wait_run(self.c, start_analysis(self.c, self.h))
        e1, w1, k1, t1 = cpu(eng), cpu(self.web), tree_cpu(eng), time.monotonic()
        if profiler is not None:
            profiler.send_signal(2)  # SIGINT: py-spy writes its file and exits
            profiler.wait(30)
        n = int(job.get("done") or 0)  # type: ignore[call-overload]
        return {"emails": n, "engine": (e1 - e0) / n * 1000, "web": (w1 - w0) / n * 1000,
                "workers": (k1 - k0) / n * 1000, "rate": n / (t1 - t0)}

    def stop(self) -> None:
        self.srv.stop()
        self.db.dispose()


def bench(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="beacon-engine-cpu-"))
    try:
        base = tmp / "base"
        base.mkdir()
        prepare(base, args.emails).dispose()
        roots: list[Path | None] = [None] + ([args.compare.resolve()] if args.compare else [])
        targets: list[Target] = []
        try:
            for k, root in enumerate(roots):
                data = tmp / f"data{k}"
                shutil.copytree(base, data)
                t = Target(root, data)
                targets.append(t)
                wait_run(t.c, start_analysis(t.c, t.h))  # warm-up: everything analysed once
            runs: list[list[dict[str, float]]] = [[] for _ in targets]
            for rep in range(args.repeat):
                for k, t in enumerate(targets):
                    r = t.run(args.profile if rep == 0 else None)
                    runs[k].append(r)
                    print(f"pass {rep + 1} {t.label}: {r['emails']:.0f} emails, engine {r['engine']:.1f} ms/email, "
                          f"web {r['web']:.1f}, workers {r['workers']:.1f}, {r['rate']:.1f} emails/s "
                          f"(load {psutil.getloadavg()[0]:.2f})", flush=True)
        finally:
            for t in targets:
                t.stop()
        print("\nCPU ms per analysed email (median of the passes; min-max)\n")
        print("| checkout | engine process | web process | zygote + workers | emails/s (wall) |")
        print("|---|---:|---:|---:|---:|")
        for t, rs in zip(targets, runs, strict=True):
            cells = []
            for key in ("engine", "web", "workers", "rate"):
                v = [r[key] for r in rs]
                cells.append(f"{statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})")
            print(f"| {t.label} | " + " | ".join(cells) + " |")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emails", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare", type=Path, metavar="CHECKOUT", help="another checkout, on a copy of the store")
    ap.add_argument("--profile", type=Path, metavar="DIR", help="py-spy's collapsed stacks of the engine process")
    sys.exit(bench(ap.parse_args()))


if __name__ == "__main__":
    main()
