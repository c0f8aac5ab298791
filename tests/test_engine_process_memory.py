"""With the engine in a process of its own (``engine_process``, the default), each process is
shown and counted as what it is: the memory plot's main line is the web process (not the
engine process), the engine process and the zygote have lines of their own, ``/metrics`` gives
every process's RSS by role, and the budget counts what the web process started beside the
engine (an import's fork server and parse workers)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
import psutil

from beacon.engine.remote import EngineProcess
from beacon.store.db import Database
from beacon.web.auth import create_user
from testkit.serve import ServeProcess
from tests.helpers import PASSWORD, engine_settings, store_messages, synthetic_message

MIB = 2**20


def _wait(check, timeout: float = 120.0, what: str = ""):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_plot_and_metrics_name_each_process(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = Database(f"sqlite:///{data / 'beacon.db'}")
    db.migrate()
    store_messages(db, [synthetic_message(i) for i in range(4)])
    with db.session() as s:
        create_user(s, "alice", PASSWORD)
    with ServeProcess(data, env={"BEACON_WORKERS": "1"}) as srv:
        c = httpx.Client(base_url=srv.url, timeout=30)
        assert c.post("/api/login", json={"username": "alice", "password": PASSWORD}).status_code == 200

        def engine() -> dict | None:  # type: ignore[type-arg]
            e = c.get("/api/engine").json()
            history = e.get("metrics", {}).get("history", [])
            return e if history and history[-1]["zygote_rss"] and history[-1]["workers"] else None

        _wait(engine, what="a plot point with the zygote and a worker")
        time.sleep(2)  # points taken after the first requests' transient growth
        e = c.get("/api/engine").json()
        roles = {p["role"]: p["pid"] for p in e["processes"]}
        assert {"engine", "zygote", "worker"} <= set(roles), e["processes"]
        web_rss = psutil.Process(srv.pid).memory_info().rss
        engine_rss = psutil.Process(roles["engine"]).memory_info().rss
        point = e["metrics"]["history"][-1]
        # The engine process and the web process differ by far more than either moves in a second.
        assert abs(web_rss - engine_rss) > 20 * MIB, (web_rss, engine_rss)
        assert abs(point["main_rss"] - web_rss) < abs(point["main_rss"] - engine_rss), (point, web_rss)
        assert abs(point["engine_rss"] - engine_rss) < 10 * MIB, (point, engine_rss)
        assert abs(e["metrics"]["engine_rss"] - engine_rss) < 10 * MIB
        assert abs(e["metrics"]["main_rss"] - web_rss) < abs(e["metrics"]["main_rss"] - engine_rss)

        text = c.get("/metrics").text
        found = dict(re.findall(r'beacon_process_rss_bytes\{pid="(\d+)",role="([a-z-]+)"\}', text))
        assert found[str(srv.pid)] == "web"
        assert found[str(roles["engine"])] == "engine"
        assert found[str(roles["zygote"])] == "zygote"
        assert found[str(roles["worker"])] == "worker"
    db.dispose()


def test_budget_counts_what_the_web_process_started(tmp_path: Path, sqlite_db: Database) -> None:
    """This test's process plays the web process: a fork of it holding 200 MiB (as an import's
    parse worker would) shows in the engine process's total at once."""
    settings = engine_settings(tmp_path, sqlite_db, workers=1, memory_sample_interval=0.1)
    engine = EngineProcess(settings, sqlite_db)
    child = 0
    try:
        engine.start()
        before = _wait(lambda: engine.metrics().total_pss, what="a first total")
        child = os.fork()
        if child == 0:  # pragma: no cover - the child only holds memory until it is killed
            held = bytearray(os.urandom(1024)) * (200 * 1024)
            while held:
                time.sleep(1)
            os._exit(0)
        # (No upper bound: in a big test process the fork's copy-on-write pages add their own.)
        _wait(lambda: engine.metrics().total_pss > before + 150 * MIB, timeout=30,
              what="the fork's 200 MiB in the total")
    finally:
        if child:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
        engine.stop(0.0)
