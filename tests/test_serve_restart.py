"""A real ``beacon serve`` stopped mid-analysis, by SIGTERM and then by SIGKILL: every email is
analysed exactly once, the run resumes by itself each time the server starts, a graceful stop
answers the requests in flight, ends SSE streams with ``end`` and stays within its deadline.

Each email carries the ``slow`` fault marker (a fifth of a second more in the worker, real spaCy
otherwise), so the run is long enough to be interrupted twice.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from beacon.settings import Settings
from beacon.store.db import Database
from beacon.web.auth import create_user
from beacon.web.deps import CSRF_HEADER
from testkit import faults
from testkit.serve import ServeProcess
from tests.helpers import PASSWORD, outcome, store_messages, synthetic_message

EMAILS = 60


def _login(url: str) -> tuple[httpx.Client, dict[str, str]]:
    c = httpx.Client(base_url=url, timeout=30)
    r = c.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c, {CSRF_HEADER: r.json()["csrf_token"]}


def _analyse_run(c: httpx.Client, timeout: float = 120) -> dict[str, Any]:
    """The newest analysis run once it has analysed something."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in c.get("/api/jobs").json() if r["kind"] == "analyze"]
        if runs and runs[0]["status"] == "running" and runs[0]["done"] >= 4:
            return runs[0]
        time.sleep(0.2)
    raise AssertionError("no analysis run made progress")


def _sse(url: str, cookies: httpx.Cookies, run_id: int, into: list[tuple[str, str]]) -> None:
    with httpx.Client(base_url=url, cookies=cookies, timeout=60) as c, \
            c.stream("GET", f"/api/jobs/{run_id}/events") as r:
        event = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:") and event:
                into.append((event, line.partition(":")[2].strip()))
                event = ""


def _slow_server(tmp_path: Path, engine_process: bool) -> tuple[Database, ServeProcess]:
    """EMAILS slow emails, user alice, and a server (not started) of one worker over them."""
    data = tmp_path / "data"
    data.mkdir()
    db = Database(f"sqlite:///{data / 'beacon.db'}")
    db.migrate()
    store_messages(db, [synthetic_message(i, subject=f"Report {i} {faults.MARKER}slow") for i in range(EMAILS)])
    with db.session() as s:
        create_user(s, "alice", PASSWORD)
    env = {"BEACON_WORKERS": "1", "BEACON_BATCH_SIZE": "2", "BEACON_ANALYSIS_LOADER": faults.LOADER,
           "BEACON_ENGINE_PROCESS": str(engine_process).lower()}
    return db, ServeProcess(data, env=env)


def _reset(exc: BaseException) -> bool:
    """Whether a connection reset (RST) lies under ``exc``, rather than a close after accepting."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionResetError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reads(url: str, cookies: httpx.Cookies, stop: threading.Event, results: dict[str, int]) -> None:
    """Inbox pages, each on a new connection, until the server refuses connections: every
    request it accepted must be answered whole."""
    while not stop.is_set():
        try:
            r = httpx.get(url + "/api/emails?per_page=100", cookies=cookies, headers={"Connection": "close"},
                          timeout=30)
            results[str(r.status_code)] = results.get(str(r.status_code), 0) + 1
        except httpx.ConnectError:
            results["refused"] = results.get("refused", 0) + 1
            return
        except httpx.TransportError as exc:
            # The kernel completes a handshake before the server accepts it: closing the listening
            # socket resets what still waits in its backlog, which the server never saw (refused).
            # Anything else is a request accepted, then cut without an answer.
            key = "refused" if isinstance(exc, httpx.ReadError) and _reset(exc) else f"cut: {type(exc).__name__}"
            results[key] = results.get(key, 0) + 1
            return


@pytest.mark.parametrize("engine_process", [False, True], ids=["engine-in-web-process", "engine-process"])
def test_sigterm_and_sigkill_mid_analysis_lose_and_repeat_nothing(tmp_path: Path, engine_process: bool) -> None:
    db, srv = _slow_server(tmp_path, engine_process)
    deadline = Settings().shutdown_timeout

    # 1. Start a run; SIGTERM while it runs, with a stream open and reads in flight.
    srv.start()
    c, h = _login(srv.url)
    assert c.post("/api/jobs/analyze", headers=h).status_code == 202
    run = _analyse_run(c)
    events: list[tuple[str, str]] = []
    stream = threading.Thread(target=_sse, args=(srv.url, c.cookies, run["id"], events))
    stream.start()
    reads: dict[str, int] = {}
    stop_reads = threading.Event()
    readers = [threading.Thread(target=_reads, args=(srv.url, c.cookies, stop_reads, reads)) for _ in range(3)]
    for t in readers:
        t.start()
    time.sleep(1.0)
    took = srv.stop(signal.SIGTERM)
    stop_reads.set()
    for t in [stream, *readers]:
        t.join(30)
    assert took <= deadline + 1.0, f"SIGTERM took {took:.1f}s (shutdown_timeout {deadline}s)\n{srv.log_tail()}"
    # uvicorn ends by re-raising the signal it handled, after the lifespan's shutdown.
    assert srv.proc is not None and srv.proc.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in srv.log_tail(), srv.log_tail()
    assert not [k for k in reads if k.startswith("cut")], reads
    assert reads.get("200", 0) > 0
    assert events and events[-1][0] == "end" and json.loads(events[-1][1]).get("shutdown") is True, events[-3:]
    after_term = outcome(db)
    assert after_term["running"] == 0  # a graceful stop hands every leased job back
    assert 0 < after_term["done"] < EMAILS, after_term

    # 2. Start again: the run resumes by itself; SIGKILL the main process mid-run.
    srv.start()
    c, h = _login(srv.url)
    resumed = _analyse_run(c)
    assert resumed["id"] != run["id"]
    engine = c.get("/api/engine").json()
    children = [psutil.Process(p["pid"]) for p in engine["processes"] if p["role"] in ("engine", "zygote", "worker")]
    roles = sorted(p["role"] for p in engine["processes"])
    assert roles == (["engine", "worker", "zygote"] if engine_process else ["worker", "zygote"]), engine["processes"]
    time.sleep(1.0)
    srv.stop(signal.SIGKILL)
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"engine processes outlived a SIGKILLed main process: {alive}"
    after_kill = outcome(db)
    assert after_term["done"] < after_kill["done"] < EMAILS, after_kill

    # 3. Start again: leases of the dead process are reclaimed at once and the run finishes.
    srv.start()
    try:
        c, h = _login(srv.url)
        _wait_settled(db)
        assert c.post("/api/jobs/analyze", headers=h).json()["status"] == "nothing_to_do"
    finally:
        srv.stop(signal.SIGTERM)
    _assert_each_analysed_once(db)


def _assert_each_analysed_once(db: Database) -> None:
    final = outcome(db)
    assert final == {"emails": EMAILS, "analyses": EMAILS, "analysed": EMAILS, "done": EMAILS,
                     "quarantined": 0, "pending": 0, "running": 0}, final
    db.dispose()


def _wait_settled(db: Database, timeout: float = 180) -> None:
    """Until every email is done or quarantined and no job is running (or the time is up: the
    caller's exact assertions then say what is missing)."""
    finish = time.monotonic() + timeout
    while time.monotonic() < finish:
        now = outcome(db)
        if now["done"] + now["quarantined"] == EMAILS and now["running"] == 0:
            return
        time.sleep(0.5)


def test_a_killed_engine_process_is_replaced_and_its_run_resumes(tmp_path: Path) -> None:
    """The engine process (``engine_process``) SIGKILLed mid-run, as the OOM killer would: its
    zygote and workers go with it, the web process starts a new engine, and the run goes on to
    analyse every email exactly once."""
    db, srv = _slow_server(tmp_path, engine_process=True)
    srv.start()
    try:
        c, h = _login(srv.url)
        assert c.post("/api/jobs/analyze", headers=h).status_code == 202
        _analyse_run(c)
        processes = c.get("/api/engine").json()["processes"]
        engine = [psutil.Process(p["pid"]) for p in processes if p["role"] == "engine"]
        below = [psutil.Process(p["pid"]) for p in processes if p["role"] in ("zygote", "worker")]
        assert len(engine) == 1 and below, processes
        engine[0].kill()
        _, alive = psutil.wait_procs(engine + below, timeout=15)
        assert not alive, f"outlived their engine process: {alive}"
        _wait_settled(db)
        now_engine = [p for p in c.get("/api/engine").json()["processes"] if p["role"] == "engine"]
        assert len(now_engine) == 1 and now_engine[0]["pid"] != engine[0].pid, now_engine
        assert c.get("/readyz").status_code == 200
    finally:
        srv.stop(signal.SIGTERM)
    _assert_each_analysed_once(db)
