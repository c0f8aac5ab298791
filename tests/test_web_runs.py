"""Runs as the web shows them: SSE streams hold no database connection, runs whose process died
are interrupted at start-up (with their final event), and the engine's states reach the API
as statuses (busy 409, unavailable 503) while a settings change swaps the engine safely."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from beacon.engine.executor import Batch
from beacon.engine.metrics import MetricsRecorder
from beacon.engine.service import EngineService, ServiceState
from beacon.errors import EngineUnavailable
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.owner import make_owner
from beacon.store.schema import Run, RunEvent
from beacon.web.app import create_app
from tests.helpers import FakeExecutor, Served, fake_analysis, make_served, wait_job


def test_open_event_stream_holds_no_pooled_connection(bare: Served) -> None:
    with bare.db.session() as s:
        run = Run(kind="import", status="running", total=1, params={"owner": make_owner()}, user_id=1)  # alice's
        s.add(run)
        s.flush()
        run_id = run.id
    c, _ = bare.login()
    result: dict[str, Any] = {}

    def listen() -> None:
        result["text"] = c.get(f"/api/jobs/{run_id}/events").text

    t = threading.Thread(target=listen)
    t.start()
    pool = bare.db.sql_engine.pool
    samples = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        samples.append(pool.checkedout())
        time.sleep(0.01)
    with bare.db.session() as s:
        s.get(Run, run_id).status = "done"
    t.join(10)
    assert not t.is_alive() and "event: end" in result["text"]
    # Polls borrow a connection for a moment; between them the stream holds none.
    assert min(samples) == 0 and samples.count(0) > len(samples) // 2, samples


def test_startup_interrupts_only_runs_whose_owner_is_gone(tmp_path: Path) -> None:
    srv, lifespan = make_served(tmp_path, engine=False)
    dead = make_owner().replace(f":{os.getpid()}:", ":999999999:")
    with srv.db.session() as s:
        runs = [Run(kind="import", status="running", params={"owner": dead}),
                Run(kind="analyze", status="running", params={"owner": dead}),
                Run(kind="sync", status="running", params={"owner": dead}),
                Run(kind="import", status="running", params={"owner": make_owner()}),  # another live server
                Run(kind="import", status="running", params={})]  # from before owners were recorded
        s.add_all(runs)
        s.flush()
        ids = [r.id for r in runs]
    with lifespan:
        pass
    with srv.db.session() as s:
        assert [s.get(Run, i).status for i in ids] == ["interrupted"] * 3 + ["running", "interrupted"]
        ends = s.execute(select(RunEvent.run_id, RunEvent.data).where(RunEvent.type == "run_end")).all()
    assert sorted(run_id for run_id, _ in ends) == [ids[0], ids[1], ids[2], ids[4]]
    assert all(data["status"] == "interrupted" for _, data in ends)
    srv.db.dispose()


class FakeEngines:
    """An engine factory for the app: real EngineServices over FakeExecutors whose batches wait
    for ``gate``; every service and executor made is kept."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.services: list[EngineService] = []
        self.executors: list[FakeExecutor] = []

    def __call__(self, settings: Settings, db: Database) -> EngineService:
        def executor(s: Settings, recorder: MetricsRecorder) -> FakeExecutor:
            ex = FakeExecutor(lambda b: _analyses(b, s), recorder, gate=self.gate)
            self.executors.append(ex)
            return ex

        svc = EngineService(settings, db, executor_factory=executor)
        self.services.append(svc)
        return svc


def _analyses(batch: Batch, settings: Settings) -> list[dict[str, Any]]:
    return [fake_analysis(e, settings) for e in batch.emails]


def _app_with(engines: FakeEngines, tmp_path: Path) -> tuple[Served, TestClient]:
    srv, _ = make_served(tmp_path, engine=False)
    app = create_app(srv.settings, srv.db, engine_factory=engines)
    return Served(app, srv.db, srv.settings), TestClient(app)


def test_a_second_analysis_while_one_runs_is_409(tmp_path: Path) -> None:
    engines = FakeEngines()
    srv, lifespan = _app_with(engines, tmp_path)
    with lifespan:
        c, h = srv.login(lifespan)
        first = c.post("/api/jobs/analyze", headers=h)
        assert first.status_code == 202
        second = c.post("/api/jobs/analyze", headers=h)
        assert second.status_code == 409
        assert second.json() == {"detail": f"analysis run {first.json()['run_id']} is already in progress"}
        engines.gate.set()
        job = wait_job(c, first.json()["run_id"], timeout=30)
        assert (job["status"], job["done"], job["failed"]) == ("done", 41, 0)
        # The run's row ends a moment before its thread leaves the service.
        assert srv.app.state.beacon.engine.service.wait(10)
        with srv.db.session() as s:
            runs = s.query(Run).count()
        again = c.post("/api/jobs/analyze", headers=h)  # idle again, and nothing left to do
        assert (again.status_code, again.json()["status"]) == (200, "nothing_to_do")
        with srv.db.session() as s:
            assert s.query(Run).count() == runs  # no run recorded for it
    srv.db.dispose()


def test_a_replaced_engine_never_starts_again(tmp_path: Path) -> None:
    engines = FakeEngines()
    engines.gate.set()
    srv, lifespan = _app_with(engines, tmp_path)
    with lifespan:
        c, h = srv.login(lifespan)
        host = srv.app.state.beacon.engine
        old = host.service
        assert c.patch("/api/settings", json={"batch_size": 3}, headers=h).status_code == 200
        host.settled(10)
        new = host.service
        assert new is not old and new.settings.batch_size == 3
        assert (old.state, new.state) == (ServiceState.STOPPED, ServiceState.IDLE)
        # A request that read the old service before the swap cannot start workers on it.
        try:
            old.start_run_in_background()
        except EngineUnavailable as exc:
            assert "stopping" in str(exc)
        else:
            raise AssertionError("a stopped service began a run")
        assert [e.starts for e in engines.executors] == [1, 1]
        assert [e.state for e in engines.executors] == ["stopped", "running"]
        r = c.post("/api/jobs/analyze", headers=h)
        assert r.status_code == 202
        assert wait_job(c, r.json()["run_id"], timeout=30)["done"] == 41
        assert {len(b.emails) for b in engines.executors[1].batches} == {3, 2}  # 41 = 13 x 3 + 2
    assert [e.state for e in engines.executors] == ["stopped", "stopped"]
    srv.db.dispose()
