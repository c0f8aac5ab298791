"""Engine benchmark: the three modes against ``nlp.pipe(n_process=2)``, memory over a long run,
and kill -9 chaos. One command runs everything and prints the tables::

    python bench/engine.py                      # throughput + long run + chaos
    python bench/engine.py throughput --emails 400
    python bench/engine.py long --analyses 20000 --budget-mb 1024
    python bench/engine.py chaos --emails 2000 --every 3
    python bench/engine.py machine [--before REV]   # light path for machine mail vs the full parse
    python bench/engine.py celery --emails 400      # celery nodes vs pool, one core per node
    python bench/engine.py celery-chaos --emails 2000 --every 3   # two nodes under kill -9

Corpus: the SpamAssassin public corpus (``testkit.corpora``), parsed by
``beacon.parse.parse_message``. Each throughput row runs in its own fresh process, so no mode
inherits another's memory or its imported spaCy; a sampler thread in that process adds up the
RSS of it and all its descendants every 100 ms, and their PSS every 5 s carried forward by RSS
(peak total memory).
The long and chaos runs drive ``EngineService`` over a real SQLite store (jobs, analyses, events),
as ``beacon analyze`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

MB = 1024 * 1024
PSS_EVERY = 5.0  # seconds between page-table walks of one process (TreeSampler)
HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))  # the repository root: testkit (corpora)

# name -> settings overrides; "reference" is nlp.pipe(n_process=2) over the pipeline the engine
# loads (spaCy only, no analysis code), "spacy-1-process" the same in one process,
# "reference-stock" nlp.pipe(n_process=2) over the model as spacy.load() gives it (all its
# components, none of Beacon's); the others are engine modes running the full analysis.
SPACY_ONLY = ("reference", "spacy-1-process", "reference-stock")
MODES: dict[str, dict[str, Any]] = {
    "reference": {},
    "reference-stock": {},
    "spacy-1-process": {},  # nlp.pipe in one process: what the parallel modes multiply
    "inprocess": {"nlp_mode": "inprocess"},
    "oneshot": {"nlp_mode": "oneshot"},
    "pool": {"nlp_mode": "pool"},
    "pool-spawn": {"nlp_mode": "pool", "pool_start": "spawn"},
    "pool-malloc-tuned": {"nlp_mode": "pool", "malloc_arena_max": 2},
    # The same engine with every English email through the full spaCy parse (no light path).
    "pool-full-parse": {"nlp_mode": "pool", "light_machine_mail": False},
    "inprocess-full-parse": {"nlp_mode": "inprocess", "light_machine_mail": False},
}
BEFORE = "before@"  # a row running the code of another git revision (``--before REV``)


# --- helpers ------------------------------------------------------------------------------------
class TreeSampler:
    """Peak of (RSS, PSS) summed over this process and all its descendants.

    Sampled as the engine's watchdog does (``MemoryGauge``): RSS every tick, PSS from a
    page-table walk every 5 s per process and carried forward by RSS in between, so that
    measuring costs the measured processes next to nothing (full walks of every process at
    every tick took a sixth of a core). Descendants come from ``/proc/<pid>/task/*/children``
    rather than a scan of every process on the machine."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        from beacon.engine.memory import GaugeSet

        self._gauges = GaugeSet(PSS_EVERY)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TreeSampler:
        self._t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._t.join()

    @staticmethod
    def tree(root: int) -> list[int]:
        pids, todo = [], [root]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{tid}/children") as f:
                        todo += [int(c) for c in f.read().split()]
            except OSError:
                continue  # gone meanwhile
        return pids

    def sample(self) -> tuple[int, int]:
        now = time.monotonic()
        pids = self.tree(os.getpid())
        rss = pss = 0
        for pid in pids:
            m = self._gauges.read(pid, now)
            if m is not None:
                rss += m.rss
                pss += m.pss
        self._gauges.keep(set(pids))
        return rss, pss

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss, pss = self.sample()
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)


def rss_mb(pid: int | None = None) -> float:
    return psutil.Process(pid or os.getpid()).memory_info().rss / MB


def load_corpus(n: int | None) -> list[dict[str, Any]]:
    from beacon.parse import parse_message
    from testkit.corpora import iter_files, spamassassin_dir

    files = list(iter_files(spamassassin_dir(), "*.txt"))
    files = files if n is None else random.Random(1).sample(files, min(n, len(files)))
    return [parse_message(p.read_bytes()).email.model_dump(mode="json", by_alias=True) for p in files]


def settings_for(overrides: dict[str, Any], workdir: Path, **extra: Any):  # type: ignore[no-untyped-def]
    from beacon.settings import Settings

    return Settings(data_dir=workdir, database_url=f"sqlite:///{workdir / 'bench.db'}",
                    **{**overrides, **extra})


# --- one throughput row (runs in a fresh child process) ------------------------------------------
def child_mode(name: str, corpus_path: str, batch: int) -> dict[str, Any]:
    from beacon.models import Email

    emails_json = json.loads(Path(corpus_path).read_text())
    emails = [Email.model_validate(e) for e in emails_json]
    workdir = Path(tempfile.mkdtemp(prefix="beacon-bench-"))
    settings = settings_for(MODES[name], workdir, batch_size=batch, workers=2)
    main_start = rss_mb()
    cpu0 = sum(psutil.Process().cpu_times()[:2])
    child_cpu0 = sum(psutil.Process().cpu_times()[2:4])
    sampler = TreeSampler().start()
    row: dict[str, Any] = {"mode": name, "emails": len(emails), "main_rss_start": main_start}
    if name in SPACY_ONLY:
        from beacon.analysis.pipeline import Pipeline
        from beacon.analysis.text import select_text

        t0 = time.perf_counter()
        if name == "reference-stock":
            import spacy

            nlp = spacy.load(settings.spacy_model)
        else:
            nlp = Pipeline.load(settings).nlp
        texts = [select_text(e, settings.max_text_chars).text for e in emails]
        row["startup_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        procs = 1 if name == "spacy-1-process" else 2
        n = sum(1 for _ in nlp.pipe(texts, n_process=procs, batch_size=batch))
        elapsed = time.perf_counter() - t0
        assert n == len(emails)
        row.update(recycles={}, kills={})
    else:
        from beacon.engine.analyzer import EngineAnalyzer

        t0 = time.perf_counter()
        analyzer = EngineAnalyzer(settings)
        row["startup_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = analyzer.analyze(emails)
        elapsed = time.perf_counter() - t0
        assert len(out) == len(emails)
        m = analyzer.executor.metrics()
        row.update(recycles=m.recycles, kills=m.kills,
                   worker_start_s=[round(w.start_s, 3) for w in m.workers],
                   worker_uss=[round(w.uss / MB, 1) for w in m.workers],
                   spacy_in_main="spacy" in sys.modules)
        analyzer.close()
    sampler.stop()
    # CPU of every process the mode ran, start-up included: children count once reaped, and
    # all of them are by now (workers by the zygote, the zygote and spaCy's children by us).
    cpu = psutil.Process().cpu_times()
    row.update(elapsed=elapsed, rate=len(emails) / elapsed, main_rss_end=rss_mb(),
               main_cpu_s=cpu.user + cpu.system - cpu0,
               total_cpu_ms=1000 * (cpu.user + cpu.system + cpu.children_user + cpu.children_system
                                    - cpu0 - child_cpu0) / len(emails),
               peak_total_rss=sampler.peak_rss / MB, peak_total_pss=sampler.peak_pss / MB)
    shutil.rmtree(workdir, ignore_errors=True)
    return row


def _checkout(rev: str, into: Path) -> Path:
    """The tree of git revision ``rev`` of this repository, unpacked under ``into``."""
    root = HERE.parents[1]
    target = into / f"rev-{rev}"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(root), "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def _row_command(mode: str, path: Path, batch: int, tmp: Path) -> tuple[list[str], dict[str, str], str | None]:
    env = dict(os.environ)
    if not mode.startswith(BEFORE):
        return [sys.executable, str(HERE), "_mode", mode, str(path), str(batch)], env, None
    # Another revision's own bench child, in its default pool mode, importing that revision's code
    # (its workers inherit PYTHONPATH, and run in its tree: ``python -m`` puts the cwd first).
    rev = mode.removeprefix(BEFORE)
    tree = tmp / f"rev-{rev}"
    if not tree.exists():
        _checkout(rev, tmp)
    env["PYTHONPATH"] = str(tree)
    return [sys.executable, str(tree / "bench" / "engine.py"), "_mode", "pool", str(path), str(batch)], env, str(tree)


def run_throughput(n: int | None, batch: int, modes: list[str], rounds: int) -> list[dict[str, Any]]:
    corpus = load_corpus(n)
    chars = sum(len(e.get("new_text") or e.get("text") or "") for e in corpus)
    print(f"\n## Throughput: {len(corpus)} SpamAssassin emails (~{chars // 1000}k chars of text), "
          f"batch {batch}, 2 workers, {os.cpu_count()} CPUs, median of {rounds} interleaved round(s)",
          flush=True)
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.json"
        path.write_text(json.dumps(corpus))
        for r in range(rounds):  # interleaved, so a busy spell of the machine hits every mode
            for mode in modes:
                cmd, env, cwd = _row_command(mode, path, batch, Path(tmp))
                out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=cwd)
                if out.returncode != 0:
                    print(f"{mode}: FAILED\n{out.stderr[-3000:]}", flush=True)
                    continue
                runs[mode].append({**json.loads(out.stdout.strip().splitlines()[-1]), "mode": mode})
                print(f"  round {r + 1} {mode}: {runs[mode][-1]['rate']:.1f} emails/s", flush=True)
    rows = [sorted(rs, key=lambda x: x["rate"])[len(rs) // 2] for rs in runs.values() if rs]
    ref = next((r["rate"] for r in rows if r["mode"] == "reference"), None)
    print("\n| mode | emails/s | × reference | CPU ms/email (all processes) | startup s "
          "| main RSS start → end MB | peak total RSS MB | peak total PSS MB | recycles | kills |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['rate'] / ref:.2f}" if ref else "-"
        print(f"| {r['mode']} | {r['rate']:.1f} | {ratio} | {r['total_cpu_ms']:.0f} | {r['startup_s']:.2f} "
              f"| {r['main_rss_start']:.0f} → {r['main_rss_end']:.0f} | {r['peak_total_rss']:.0f} "
              f"| {r['peak_total_pss']:.0f} | {_counts(r['recycles'])} | {_counts(r['kills'])} |")
    pool = next((r for r in rows if r["mode"] == "pool"), None)
    oneshot = next((r for r in rows if r["mode"] == "oneshot"), None)
    if pool and oneshot:
        print(f"\npool / oneshot = {pool['rate'] / oneshot['rate']:.1f}×", flush=True)
    for other in rows:
        if pool and (other["mode"] == "pool-full-parse" or other["mode"].startswith(BEFORE)):
            print(f"\npool (light path for machine mail) / {other['mode']} = {pool['rate'] / other['rate']:.2f}× "
                  f"emails/s, {other['total_cpu_ms'] / pool['total_cpu_ms']:.2f}× less CPU per email", flush=True)
    for r in rows:
        if r.get("worker_start_s"):
            print(f"{r['mode']}: worker start {r['worker_start_s']} s, worker USS {r['worker_uss']} MB, "
                  f"spaCy in main: {r['spacy_in_main']}")
    for r in rows:
        print(f"{r['mode']}: main-process CPU {r['main_cpu_s']:.1f} s over {r['elapsed']:.1f} s")
    return rows


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "0"


# --- the store-driven runs (long memory run, chaos) ------------------------------------------------
def _store(workdir: Path, copies: int) -> tuple[Any, int]:
    """A SQLite store with the SpamAssassin corpus imported ``copies`` times (one account each)."""
    from beacon.ingest.importer import import_items
    from beacon.ingest.sources import detect
    from beacon.store.db import Database
    from testkit.corpora import spamassassin_dir

    db = Database(f"sqlite:///{workdir / 'bench.db'}")
    db.migrate()
    total = 0
    for i in range(copies):
        total += import_items(db, detect(spamassassin_dir()).iter_items(), account=f"copy{i}").imported
    return db, total


def _forget(db: Any) -> None:
    from sqlalchemy import text

    with db.session() as s:
        s.execute(text("delete from analyses"))
        s.execute(text("delete from analysis_jobs"))


def run_long(analyses: int, budget_mb: int) -> None:
    from beacon.engine.service import EngineService

    workdir = Path(tempfile.mkdtemp(prefix="beacon-bench-long-"))
    db, n = _store(workdir, 1)
    settings = settings_for({"nlp_mode": "pool"}, workdir, memory_budget=budget_mb * MB)
    print(f"\n## Long run: {analyses} analyses over {n} emails (corpus repeated), pool mode, "
          f"budget {budget_mb} MB, store: SQLite", flush=True)
    print("| emails | main RSS MB | workers RSS MB | total PSS MB (all processes) | emails/s |")
    print("|---|---|---|---|---|")
    svc = EngineService(settings, db)
    sampler = TreeSampler().start()
    done_total = 0
    next_mark = 0
    t0 = time.perf_counter()
    main_start = None

    def on_event(ev: Any) -> None:
        nonlocal done_total, next_mark
        if ev.type != "email_done":
            return
        done_total += 1
        if done_total >= next_mark:
            m = svc.executor.metrics()
            workers = " / ".join(f"{w.rss / MB:.0f}" for w in m.workers) or "-"
            print(f"| {done_total} | {rss_mb():.1f} | {workers} | {m.total_pss / MB:.0f} "
                  f"| {done_total / (time.perf_counter() - t0):.1f} |", flush=True)
            next_mark += 1000

    svc.start()
    main_start = rss_mb()
    t0 = time.perf_counter()
    passes = 0
    while done_total < analyses:
        if passes:
            _forget(db)
        svc.enqueue_missing()
        summary = svc.run(on_event=on_event)
        passes += 1
        if summary.status != "done":
            print(f"run ended {summary.status}: {summary.error}")
            break
    m = svc.executor.metrics()
    svc.stop()
    sampler.stop()
    print(f"\nmain RSS: {main_start:.1f} MB after start → {rss_mb():.1f} MB after {done_total} analyses "
          f"(+{rss_mb() - main_start:.1f} MB); peak total PSS {sampler.peak_pss / MB:.0f} MB, "
          f"peak total RSS {sampler.peak_rss / MB:.0f} MB (budget {budget_mb} MB; engine's own peak "
          f"{m.peak_total_pss / MB:.0f} MB); recycles {_counts(m.recycles)}; kills {_counts(m.kills)}; "
          f"quarantined {m.quarantined}", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)


def run_chaos(n: int, every: float) -> None:
    from sqlalchemy import func, select

    from beacon.engine.service import EngineService
    from beacon.store.schema import AnalysisJob, AnalysisRow

    workdir = Path(tempfile.mkdtemp(prefix="beacon-bench-chaos-"))
    db, total = _store(workdir, 1)
    settings = settings_for({"nlp_mode": "pool"}, workdir)
    svc = EngineService(settings, db)
    svc.enqueue_missing()
    # Keep exactly n jobs: the rest of the corpus is not part of this run.
    with db.session() as s:
        keep = select(AnalysisJob.id).order_by(AnalysisJob.id).limit(n).scalar_subquery()
        s.execute(AnalysisJob.__table__.delete().where(AnalysisJob.id.not_in(keep)))
    print(f"\n## Chaos: kill -9 of a random busy worker every {every:.0f} s during a {n}-email run", flush=True)
    stop = threading.Event()
    killed: list[int] = []

    def killer() -> None:
        rng = random.Random(3)
        while not stop.wait(every):
            busy = [w.pid for w in svc.executor.metrics().workers if w.state == "busy"]
            if busy:
                pid = rng.choice(busy)
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass

    t = threading.Thread(target=killer, daemon=True)
    svc.start()
    t.start()
    summary = svc.run()
    stop.set()
    t.join()
    svc.stop()
    with db.session() as s:
        rows = s.scalar(select(func.count(AnalysisRow.id)))
        distinct = s.scalar(select(func.count(func.distinct(AnalysisRow.email_id))))
        statuses = dict(s.execute(select(AnalysisJob.status, func.count()).group_by(AnalysisJob.status)).all())
    print("| jobs | killed workers | done | quarantined | analyses rows | distinct emails | retried | elapsed s |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {n} | {len(killed)} | {statuses.get('done', 0)} | {statuses.get('quarantined', 0)} | {rows} "
          f"| {distinct} | {summary.retried} | {summary.elapsed:.0f} |", flush=True)
    ok = rows == distinct == n == statuses.get("done", 0)
    print("exactly once: " + ("yes" if ok else "NO"), flush=True)
    shutil.rmtree(workdir, ignore_errors=True)


# --- celery mode: nodes pinned to cores against the pool on the same cores ---------------------------
# row -> (cores of each `beacon worker` node, or None for the pool; cores of the pool's processes)
CELERY_ROWS: dict[str, tuple[list[str] | None, set[int]]] = {
    "pool-1-core": (None, {0}),
    "celery-1-node": (["0"], {0}),
    "pool-2-cores": (None, {0, 1}),
    "celery-2-nodes": (["0", "1"], {0, 1}),
}


def child_celery_row(name: str, corpus_path: str, batch: int) -> dict[str, Any]:
    """One row in this (fresh) process: the pool with its zygote and workers on the row's cores,
    or a fresh redis-server and one `beacon worker` per core (``taskset``), each with one slot.
    The main process (job submission, results) is not pinned in either."""
    from beacon.engine.analyzer import EngineAnalyzer
    from beacon.models import Email
    from testkit.cluster import RedisServer, start_node

    emails = [Email.model_validate(e) for e in json.loads(Path(corpus_path).read_text())]
    node_cores, cores = CELERY_ROWS[name]
    workdir = Path(tempfile.mkdtemp(prefix="beacon-bench-celery-"))
    redis_server = nodes = None
    everything = os.sched_getaffinity(0)
    try:
        if node_cores is None:
            settings = settings_for({"nlp_mode": "pool"}, workdir, batch_size=batch, workers=len(cores))
            os.sched_setaffinity(0, cores)  # the zygote and its workers inherit these cores
            analyzer = EngineAnalyzer(settings)
            os.sched_setaffinity(0, everything)
        else:
            redis_server = RedisServer(workdir / "redis").start()
            nodes = [start_node(f"bench-{c}", redis_server.url, {"BEACON_DATA_DIR": str(workdir / c)}, slots=1,
                                cpus=c, budget_share=round(1 / len(node_cores), 2), quiet=True) for c in node_cores]
            settings = settings_for({"nlp_mode": "celery"}, workdir, batch_size=batch, broker_url=redis_server.url)
            analyzer = EngineAnalyzer(settings)
            deadline = time.monotonic() + 120  # every node up, not only the first
            while len([n for n in analyzer.executor.metrics().nodes if n.state == "up"]) < len(node_cores):
                assert time.monotonic() < deadline, "nodes did not come up"
                time.sleep(0.2)
        cpu0 = _tree_cpu()
        t0 = time.perf_counter()
        out = analyzer.analyze(emails)
        elapsed = time.perf_counter() - t0
        cpu = _tree_cpu() - cpu0
        assert len(out) == len(emails)
        m = analyzer.executor.metrics()
        analyzer.close()
        return {"mode": name, "emails": len(emails), "elapsed": elapsed, "rate": len(emails) / elapsed,
                "cpu_ms": 1000 * cpu / len(emails), "cores_used": cpu / elapsed,
                "kills": m.kills, "recycles": m.recycles,
                "workers": sorted({w.node or "pool" for w in m.workers})}
    finally:
        for n in nodes or []:
            n.stop()
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _tree_cpu() -> float:
    """CPU seconds (user + system) used so far by this process and every live descendant
    (redis-server, the nodes, zygotes and workers alike)."""
    total = 0.0
    for pid in TreeSampler.tree(os.getpid()):
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def run_celery(n: int | None, batch: int, rounds: int) -> None:
    corpus = load_corpus(n)
    print(f"\n## Celery nodes against the pool: {len(corpus)} SpamAssassin emails, batch {batch}, one slot per "
          f"core (nodes pinned with taskset, pool processes by affinity), median of {rounds} interleaved "
          f"round(s)", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in CELERY_ROWS}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.json"
        path.write_text(json.dumps(corpus))
        for r in range(rounds):
            for mode in CELERY_ROWS:
                out = subprocess.run([sys.executable, str(HERE), "_celery", mode, str(path), str(batch)],
                                     capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    print(f"{mode}: FAILED\n{out.stderr[-3000:]}", flush=True)
                    continue
                runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"  round {r + 1} {mode}: {runs[mode][-1]['rate']:.2f} emails/s", flush=True)
    rows = {m: sorted(rs, key=lambda x: x["rate"])[len(rs) // 2] for m, rs in runs.items() if rs}
    # "cores busy": CPU seconds of all the row's processes per second of the run; below the
    # cores given, the row was starved (other load on the machine) or waited on something.
    print("\n| row | cores | emails/s | elapsed s | CPU ms/email (all processes) | cores busy | kills | recycles |")
    print("|---|---|---|---|---|---|---|---|")
    for m, r in rows.items():
        print(f"| {m} | {len(CELERY_ROWS[m][1])} | {r['rate']:.2f} | {r['elapsed']:.1f} | {r['cpu_ms']:.0f} "
              f"| {r['cores_used']:.2f} | {_counts(r['kills'])} | {_counts(r['recycles'])} |")
    targets = [("celery-1-node", "pool-1-core", 0.9), ("celery-2-nodes", "celery-1-node", 1.8),
               ("celery-2-nodes", "pool-2-cores", None)]
    print("\n| ratio | measured | target | |")
    print("|---|---|---|---|")
    for a, b, target in targets:
        if a in rows and b in rows:
            ratio = rows[a]["rate"] / rows[b]["rate"]
            verdict = "-" if target is None else ("met" if ratio >= target else "MISSED")
            print(f"| {a} / {b} | {ratio:.2f}× | {'≥ %.1f×' % target if target else '-'} | {verdict} |", flush=True)


def run_celery_chaos(n: int, every: float) -> None:
    """Two nodes (one slot each) over a store of n jobs; kill -9 of a random node's analysis child
    every ``every`` s and, halfway, of a whole node (replaced by a new one). PostgreSQL when
    BEACON_TEST_POSTGRES_URL names a server (a fresh database, dropped after), else SQLite."""
    from sqlalchemy import create_engine, func, select, text

    from beacon.engine.service import EngineService
    from beacon.store.db import Database
    from beacon.store.schema import AnalysisJob, AnalysisRow
    from testkit.cluster import RedisServer, kill_random_child, start_node

    workdir = Path(tempfile.mkdtemp(prefix="beacon-bench-celery-chaos-"))
    admin_url = os.environ.get("BEACON_TEST_POSTGRES_URL")
    pg_name = f"beacon_bench_{os.getpid()}"
    if admin_url:
        admin = create_engine(Database(admin_url).url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        db_url = f"{admin_url.rsplit('/', 1)[0]}/{pg_name}"
    else:
        db_url = f"sqlite:///{workdir / 'bench.db'}"
    db = Database(db_url)
    db.migrate()
    from beacon.ingest.importer import import_items
    from beacon.ingest.sources import detect
    from testkit.corpora import spamassassin_dir

    import_items(db, detect(spamassassin_dir()).iter_items(), account="bench")
    redis_server = RedisServer(workdir / "redis").start()
    env = {"BEACON_NODE_BUDGET_SHARE": "0.5"}
    nodes = [start_node(name, redis_server.url, {**env, "BEACON_DATA_DIR": str(workdir / name)}, slots=1,
                        quiet=True) for name in ("node-a", "node-b")]
    settings = settings_for({"nlp_mode": "celery"}, workdir, broker_url=redis_server.url, max_attempts=4,
                            celery_node_timeout=5.0, celery_requeue_after=15.0).model_copy(
        update={"database_url": db_url})
    svc = EngineService(settings, db)
    svc.enqueue_missing()
    with db.session() as s:
        keep = select(AnalysisJob.id).order_by(AnalysisJob.id).limit(n).scalar_subquery()
        s.execute(AnalysisJob.__table__.delete().where(AnalysisJob.id.not_in(keep)))
    store = "PostgreSQL" if admin_url else "SQLite"
    print(f"\n## Celery chaos: two nodes, kill -9 of a random node's child every {every:.0f} s and of a whole "
          f"node once, during a {n}-email run ({store})", flush=True)
    stop = threading.Event()
    killed: list[str] = []

    def killer() -> None:
        rng = random.Random(5)
        node_killed = False
        while not stop.wait(every):
            live = [nd for nd in nodes if nd.proc.poll() is None]
            if not node_killed and svc.metrics().done >= n // 2:
                victim = rng.choice(live)
                victim.kill()
                killed.append(f"node {victim.name}")
                nodes.append(start_node(f"{victim.name}-2", redis_server.url,
                                        {**env, "BEACON_DATA_DIR": str(workdir / f"{victim.name}-2")}, slots=1,
                                        quiet=True))
                node_killed = True
                continue
            pid = kill_random_child(live, rng)
            if pid is not None:
                killed.append(f"child {pid}")

    t = threading.Thread(target=killer, daemon=True)
    svc.start()
    t.start()
    try:
        summary = svc.run()
    finally:
        stop.set()
        t.join()
        svc.stop()
        for nd in nodes:
            nd.stop()
        redis_server.stop()
    with db.session() as s:
        rows = s.scalar(select(func.count(AnalysisRow.id)))
        distinct = s.scalar(select(func.count(func.distinct(AnalysisRow.email_id))))
        statuses = dict(s.execute(select(AnalysisJob.status, func.count()).group_by(AnalysisJob.status)).all())
        max_attempts = s.scalar(select(func.max(AnalysisJob.attempts)))
    db.dispose()
    if admin_url:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    print("| jobs | killed children | killed nodes | done | quarantined | pending+running | analyses rows "
          "| distinct emails | retried | max attempts | kills seen | elapsed s | emails/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    children_killed = sum(1 for k in killed if k.startswith("child"))
    print(f"| {n} | {children_killed} | {len(killed) - children_killed} | {statuses.get('done', 0)} "
          f"| {statuses.get('quarantined', 0)} | {statuses.get('pending', 0) + statuses.get('running', 0)} | {rows} "
          f"| {distinct} | {summary.retried} | {max_attempts} | {_counts(summary.kills)} | {summary.elapsed:.0f} "
          f"| {summary.rate:.2f} |", flush=True)
    ok = rows == distinct == n == statuses.get("done", 0)
    print("exactly once, none stuck: " + ("yes" if ok else "NO"), flush=True)
    shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_mode":
        print(json.dumps(child_mode(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_celery":
        print(json.dumps(child_celery_row(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", default="all", choices=["all", "throughput", "long", "chaos", "machine", "celery", "celery-chaos"])
    ap.add_argument("--emails", type=int, default=400,
                    help="throughput corpus size, 0 = all (chaos: jobs; machine: default all)")
    ap.add_argument("--before", default="", help="machine: also run the pool of this git revision (e.g. main)")
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1, help="throughput rounds (median reported)")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--analyses", type=int, default=20_000)
    ap.add_argument("--budget-mb", type=int, default=1024)
    ap.add_argument("--every", type=float, default=3.0)
    args = ap.parse_args()
    if args.what == "machine":
        # The whole SpamAssassin mix, same settings, one run: the full parse for every email
        # against the light path for notifications, newsletters, marketing and spam.
        modes = ["pool-full-parse", "pool"] + ([BEFORE + args.before] if args.before else [])
        n = None if "--emails" not in sys.argv else (args.emails or None)
        run_throughput(n, args.batch, modes, args.rounds)
        return
    if args.what == "celery":
        run_celery(args.emails or None, args.batch, args.rounds)
        return
    if args.what == "celery-chaos":
        run_celery_chaos(args.emails if "--emails" in sys.argv else 2000, args.every)
        return
    if args.what in ("all", "throughput"):
        modes = [m for m in args.modes.split(",") if m not in ("pool-full-parse", "inprocess-full-parse")] \
            if "--modes" not in sys.argv else args.modes.split(",")
        run_throughput(args.emails or None, args.batch, modes, args.rounds)
    if args.what in ("all", "chaos"):
        run_chaos(args.emails if args.what == "chaos" else 2000, args.every)
    if args.what in ("all", "long"):
        run_long(args.analyses, args.budget_mb)


if __name__ == "__main__":
    main()
