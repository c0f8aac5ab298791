"""One owner of the engine's life cycle: settings changes raced against analysis starts.

The process tree is counted, not the engine's own bookkeeping: the cheap rounds use an executor
whose "workers" are one real child process per start (a leak is a live process), and a round
on the real pool counts the zygote and workers while a settings change and an analysis start
race each other through the web API.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from beacon.engine.host import EngineHost
from beacon.engine.metrics import MetricsRecorder
from beacon.engine.processes import descendants, own_descendants, process_table
from beacon.engine.service import EngineService
from beacon.errors import AnalysisBusy, EngineUnavailable, NothingToAnalyse
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import Run
from tests.helpers import FakeExecutor, fake_analysis, make_served, outcome, store_messages, synthetic_message, wait_job

MARKER = "beacon-test-engine-child"
ROUNDS = 300


class ChildProcessExecutor(FakeExecutor):
    """Batches are answered without NLP, but starting it starts a real child process and
    stopping it kills and reaps that process: an engine nobody stopped is a live process."""

    def __init__(self, settings: Settings, recorder: MetricsRecorder, registry: list[ChildProcessExecutor]) -> None:
        super().__init__(lambda b: [fake_analysis(e, settings) for e in b.emails], recorder, slots=1)
        self.proc: subprocess.Popen[bytes] | None = None
        self.stops = 0
        registry.append(self)

    def _start(self) -> None:
        super()._start()
        time.sleep(random.random() * 0.005)  # widen the window a replacement can hit
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", MARKER])

    def _stop(self) -> None:
        self.stops += 1
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def _children() -> list[psutil.Process]:
    out = []
    for p in descendants():
        try:
            if MARKER in p.cmdline():
                out.append(p)
        except psutil.Error:
            pass
    return out


def test_settings_changes_raced_against_analysis_starts_leak_no_process(sqlite_db: Database, tmp_path: Path) -> None:
    made: list[ChildProcessExecutor] = []

    def factory(settings: Settings, db: Database) -> EngineService:
        return EngineService(settings, db, executor_factory=lambda s, r: ChildProcessExecutor(s, r, made))

    base = Settings(data_dir=tmp_path / "data", database_url=sqlite_db.url, batch_size=2)
    host = EngineHost(sqlite_db, factory)
    host.start(base)
    most_alive = 0
    outcomes: dict[str, int] = {}
    try:
        for i in range(ROUNDS):
            store_messages(sqlite_db, [synthetic_message(10_000 + i)])
            settings = base.model_copy(update={"batch_size": 1 + i % 3})
            barrier = threading.Barrier(2)

            def start() -> None:
                barrier.wait()
                try:
                    host.start_run()
                    outcomes["started"] = outcomes.get("started", 0) + 1
                except (AnalysisBusy, NothingToAnalyse, EngineUnavailable) as exc:
                    outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1

            def replace() -> None:
                barrier.wait()
                time.sleep(random.random() * 0.003)
                host.replace_soon(settings)

            threads = [threading.Thread(target=start), threading.Thread(target=replace)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            most_alive = max(most_alive, len(_children()))
            if i % 10 == 9:
                host.settled(30)
                svc = host.service
                assert svc is not None
                # Only the current engine may have a process, and only one.
                live = [e for e in made if e.proc is not None]
                assert all(e is svc.executor for e in live)
                assert len(_children()) == len(live) <= 1
        host.settled(30)
        svc = host.service
        assert svc is not None
        assert svc.wait(60)
        host.resume()  # whatever the last replacement left pending
        assert svc.wait(60)
    finally:
        host.stop()
    assert _children() == []
    assert most_alive <= 1, f"{most_alive} engines' processes alive at once"
    # A stopped engine never started again, and every engine made was stopped.
    assert all(e.starts <= 1 for e in made), [e.starts for e in made]
    assert all(e.state == "stopped" for e in made)
    assert len(made) == ROUNDS + 1
    assert outcomes.get("started", 0) > 0
    # Every email analysed exactly once, across all the interrupted and resumed runs.
    result = outcome(sqlite_db)
    assert result["emails"] == result["analyses"] == result["analysed"] == result["done"] == ROUNDS
    assert result["pending"] == result["running"] == 0


def test_an_analysis_with_nothing_to_do_records_no_run(sqlite_db: Database, tmp_path: Path) -> None:
    made: list[ChildProcessExecutor] = []
    settings = Settings(data_dir=tmp_path / "data", database_url=sqlite_db.url)
    host = EngineHost(sqlite_db, lambda s, db: EngineService(
        s, db, executor_factory=lambda s2, r: ChildProcessExecutor(s2, r, made)))
    host.start(settings)
    try:
        with pytest.raises(NothingToAnalyse):
            host.start_run()
        store_messages(sqlite_db, [synthetic_message(1)])
        host.start_run()
        assert host.service is not None and host.service.wait(30)
        for _ in range(5):
            with pytest.raises(NothingToAnalyse):
                host.start_run()
        assert host.resume() is None
    finally:
        host.stop()
    with sqlite_db.session() as s:
        assert s.query(Run).count() == 1


def test_real_pool_settings_change_raced_against_analysis(tmp_path: Path) -> None:
    """The real pool (zygote + workers, spaCy) through the web API: a batch-size change and an
    analysis start at the same moment, three times; every process is listed in /api/engine,
    one engine's worth at most, none left after shutdown, and the demo mail is analysed."""
    srv, lifespan = make_served(tmp_path, engine=True)
    with lifespan:
        c, h = srv.login(lifespan)
        runs: list[int] = []
        for size in (3, 4, 5):
            barrier = threading.Barrier(2)
            answers: dict[str, int] = {}

            def patch(size: int = size) -> None:
                barrier.wait()
                answers["patch"] = c.patch("/api/settings", json={"batch_size": size}, headers=h).status_code

            def analyse() -> None:
                barrier.wait()
                r = c.post("/api/jobs/analyze", headers=h)
                answers["analyze"] = r.status_code
                if r.status_code == 202:
                    runs.append(r.json()["run_id"])

            threads = [threading.Thread(target=patch), threading.Thread(target=analyse)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert answers["patch"] == 200 and answers["analyze"] in (200, 202, 409), answers  # 409: the carried-over run
            srv.app.state.beacon.engine.settled(120)
            listed = c.get("/api/engine").json()["processes"]
            # The engine's processes (named by prctl) as the kernel sees them, all listed as
            # the engine's; other processes of the test run (earlier tests' imports, a browser
            # test's own server with its engine) may come and go meanwhile.
            tree = {p.pid for p in own_descendants() if p.name().startswith("beacon-")}
            assert {p["pid"] for p in listed if p["role"] in ("zygote", "worker")} == tree
            assert sum(p["role"] == "zygote" for p in listed) <= 1
            # Analysis runs behind the web process: worker_nice (10) above its priority, as
            # batch work for the kernel's scheduler (worker_sched_batch).
            engine = [p for p in listed if p["role"] in ("zygote", "worker")]
            assert engine and all(p["nice"] == min(19, os.nice(0) + 10) for p in engine), engine
            assert all(p["policy"] == "batch" for p in engine), engine
        # The run carried over each replacement; wait for the last one to finish.
        svc = srv.app.state.beacon.engine.service
        assert svc is not None and svc.wait(240)
        for run_id in runs:
            assert wait_job(c, run_id)["status"] in ("done", "interrupted")
        result = outcome(srv.db)
        assert result["analyses"] == result["analysed"] == result["emails"] == result["done"]
    # What is left is the imports' multiprocessing fork server (it lives as long as the process).
    assert {p.role for p in process_table(set(), set())} <= {"forkserver", "resource-tracker"}
    srv.db.dispose()


def test_readyz_reports_an_engine_that_cannot_work(tmp_path: Path) -> None:
    """Workers that fail to start leave the server up (the mail stays readable) but not ready,
    with the reason; a stopped engine is not ready either."""
    from beacon.errors import WorkerStartFailed
    from beacon.web.app import create_app

    class NoWorkers(FakeExecutor):
        def _start(self) -> None:
            raise WorkerStartFailed("zygote did not become ready within 120s")

    srv, _ = make_served(tmp_path, engine=False)
    app = create_app(srv.settings, srv.db, engine_factory=lambda s, db: EngineService(
        s, db, executor_factory=lambda s2, r: NoWorkers(lambda b: [], r)))
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"] == {"database": "ok",
                                      "engine": "workers failed to start: zygote did not become ready within 120s"}
        assert c.get("/healthz").status_code == 200
        app.state.beacon.engine.service.stop()
        assert c.get("/readyz").json()["checks"]["engine"] == "stopped"
    srv.db.dispose()
