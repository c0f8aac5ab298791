"""Faults with the real model and real processes: poison emails, kill -9, the memory budget,
and a restart of the main process mid-job. Nothing is lost and nothing is done twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
from sqlalchemy import select

from beacon.engine.memory import MB
from beacon.engine.processes import own_descendants
from beacon.engine.service import EngineService
from beacon.store.db import Database
from beacon.store.runs import RunEventData
from beacon.store.schema import AnalysisJob, EmailRow, Run
from tests.helpers import engine_settings, import_corpus, outcome

GOOD = 12


def _errors_by_subject(db: Database) -> dict[str, str]:
    with db.session() as s:
        rows = s.execute(
            select(EmailRow.subject, AnalysisJob.last_error)
            .join(AnalysisJob, AnalysisJob.email_id == EmailRow.id)
            .where(AnalysisJob.status == "quarantined")
        ).all()
    return {subject: error for subject, error in rows}


def test_poison_emails_are_quarantined_while_the_rest_finish(sqlite_db: Database, tmp_path: Path) -> None:
    import_corpus(sqlite_db, tmp_path, GOOD, faults=("hang", "alloc", "exit"))
    # Room for the engine on top of what already counts (this process, grown by earlier tests).
    budget = sum(_pss(p) for p in [psutil.Process(), *own_descendants()]) + 1000 * MB
    settings = engine_settings(tmp_path, sqlite_db, with_faults=True, batch_timeout=6.0,
                               memory_budget=budget, max_attempts=2)
    with EngineService(settings, sqlite_db) as svc:
        svc.enqueue_missing()
        summary = svc.run()
        metrics = svc.metrics()
    assert (summary.done, summary.quarantined) == (GOOD, 3)
    assert outcome(sqlite_db) == {"emails": GOOD + 3, "analyses": GOOD, "analysed": GOOD, "done": GOOD,
                                  "quarantined": 3, "pending": 0, "running": 0}
    errors = _errors_by_subject(sqlite_db)
    assert set(errors) == {"poison hang", "poison alloc", "poison exit"}
    assert "timeout:" in errors["poison hang"]
    assert "hard_limit:" in errors["poison alloc"]
    assert "crashed:" in errors["poison exit"]
    assert all(e.startswith("quarantined after 2 failed attempt(s) on its own") for e in errors.values())
    # Each poison email failed twice alone, and perhaps once in a batch (the three poison
    # emails may share one batch, which only the first fault to strike takes down).
    assert set(metrics.kills) == {"timeout", "hard_limit", "crashed"}
    assert all(2 <= k <= 3 for k in metrics.kills.values())
    # The watchdog acted before the budget was blown, sampling all processes together.
    assert metrics.peak_total_pss < budget


def _pss(p: psutil.Process) -> int:
    try:
        return p.memory_full_info().pss
    except psutil.Error:
        return 0


def test_budget_kills_the_biggest_worker_not_the_main_process(sqlite_db: Database, tmp_path: Path) -> None:
    import_corpus(sqlite_db, tmp_path, 4, faults=("alloc",))
    # What already counts against the budget before the engine starts: this process (which
    # earlier tests may have grown) and its own helpers (an import's parse workers live on).
    before = sum(_pss(p) for p in [psutil.Process(), *own_descendants()])
    budget = before + 700 * MB
    # No per-worker limit to speak of: only the budget for all processes together can act.
    settings = engine_settings(tmp_path, sqlite_db, with_faults=True, memory_budget=budget,
                               worker_hard_limit=64 * 1024 * MB, max_attempts=1)
    with EngineService(settings, sqlite_db) as svc:
        svc.enqueue_missing()
        summary = svc.run()
        metrics = svc.metrics()
    assert (summary.done, summary.quarantined) == (4, 1)
    assert "budget:" in _errors_by_subject(sqlite_db)["poison alloc"]
    assert metrics.kills == {"budget": 2}  # in its batch, then alone
    assert metrics.peak_total_pss < budget
    assert psutil.Process().is_running()


def test_kill_9_of_busy_workers_loses_nothing(sqlite_db: Database, tmp_path: Path) -> None:
    n = import_corpus(sqlite_db, tmp_path, 40)
    settings = engine_settings(tmp_path, sqlite_db)
    killed: list[int] = []
    strikes = threading.Semaphore(0)
    rng = random.Random(7)

    run_over = threading.Event()

    def mark_the_moments(ev: RunEventData) -> None:
        # Three moments of the run, counted in emails saved, so the kills never come too late
        # however fast the run goes: at each, 16 or more emails are still being analysed.
        if ev.type == "email_done" and ev.data["done"] in (8, 16, 24):
            strikes.release()

    with EngineService(settings, sqlite_db) as svc:
        svc.enqueue_missing()

        def killer() -> None:
            for _ in range(3):
                while not strikes.acquire(timeout=0.1):
                    if run_over.is_set():
                        return
                while not run_over.is_set():  # the next busy worker: the run goes on meanwhile
                    busy = [w.pid for w in svc.executor.metrics().workers if w.state == "busy"]
                    if busy:
                        pid = rng.choice(busy)
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        break
                    time.sleep(0.002)

        t = threading.Thread(target=killer)
        t.start()
        summary = svc.run(on_event=mark_the_moments)
        run_over.set()
        t.join(10)
        # A worker killed the moment it finished its batch dies idle: its slot counts it
        # within a poll (0.2 s), not necessarily before the run's last batch is saved.
        deadline = time.monotonic() + 5
        while svc.metrics().kills != {"crashed": 3} and time.monotonic() < deadline:
            time.sleep(0.05)
        metrics = svc.metrics()
    assert not t.is_alive() and len(killed) == 3
    assert (summary.status, summary.done, summary.quarantined) == ("done", n, 0)
    assert outcome(sqlite_db) == {"emails": n, "analyses": n, "analysed": n, "done": n,
                                  "quarantined": 0, "pending": 0, "running": 0}
    assert metrics.kills == {"crashed": 3}


_RUNNER = textwrap.dedent(
    """
    import sys
    from beacon.settings import Settings
    from beacon.store.db import Database
    from beacon.engine.service import EngineService
    settings = Settings.model_validate_json(sys.stdin.read())
    svc = EngineService(settings, Database(settings.database_url))
    svc.enqueue_missing()
    svc.run()
    """
)


def test_restart_mid_job_resumes_it(sqlite_db: Database, tmp_path: Path) -> None:
    n = import_corpus(sqlite_db, tmp_path, 30)
    settings = engine_settings(tmp_path, sqlite_db)
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER], stdin=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write(settings.model_dump_json())
    proc.stdin.close()
    deadline = time.monotonic() + 300
    while outcome(sqlite_db)["done"] < 8:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 3  # the zygote and two workers
    proc.send_signal(signal.SIGKILL)  # the main process dies mid-job
    proc.wait()
    before = outcome(sqlite_db)
    assert before["running"] > 0 and before["done"] < n
    # Its zygote sees the supervisor gone and takes its workers down with it.
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive

    with EngineService(settings, sqlite_db) as svc:
        assert svc.enqueue_missing() == 0  # the jobs are already there
        summary = svc.run()
    assert summary.done == n - before["done"]
    assert outcome(sqlite_db) == {"emails": n, "analyses": n, "analysed": n, "done": n,
                                  "quarantined": 0, "pending": 0, "running": 0}
    with sqlite_db.session() as s:
        runs = s.execute(select(Run.status).order_by(Run.id)).scalars().all()
    assert runs == ["interrupted", "done"]


def test_data_limit_stops_a_burst_the_watchdog_does_not_see(sqlite_db: Database, tmp_path: Path) -> None:
    import_corpus(sqlite_db, tmp_path, 4, faults=("alloc",))
    # The watchdog samples only every 30 s here: the kernel's RLIMIT_DATA must stop the burst.
    settings = engine_settings(tmp_path, sqlite_db, with_faults=True, memory_sample_interval=30.0,
                               worker_hard_limit=300 * MB, max_attempts=1)
    with EngineService(settings, sqlite_db) as svc:
        svc.enqueue_missing()
        summary = svc.run()
        metrics = svc.metrics()
    assert (summary.done, summary.quarantined) == (4, 1)
    assert "data_limit: worker" in _errors_by_subject(sqlite_db)["poison alloc"]
    assert metrics.kills == {}
    assert metrics.recycles == {"data_limit": 2}  # its batch's worker, then its own
