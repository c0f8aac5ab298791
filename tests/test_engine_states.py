"""The engine's states, without spaCy: the executor's life cycle, the service's one run at a
time and final stop, and the worker handle's transitions on a real (tiny) child process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from beacon.engine import _protocol as protocol
from beacon.engine.executor import Batch, ExecutorState
from beacon.engine.handle import WorkerEvents, WorkerHandle, WorkerState
from beacon.engine.metrics import MetricsRecorder
from beacon.engine.service import EngineService, ServiceState
from beacon.errors import AnalysisBusy, BatchFailed, EngineUnavailable, WorkerStartFailed
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import Run
from tests.helpers import FakeExecutor, fake_analysis, outcome, store_messages, synthetic_message

# -- the executor's life cycle --------------------------------------------------------------------


class SlowStart(FakeExecutor):
    """Starting takes a while and can be told to fail, as loading the model can."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__(lambda b: [])
        self.fail = fail
        self.stops = 0

    def _start(self) -> None:
        time.sleep(0.2)
        super()._start()
        if self.fail:
            raise WorkerStartFailed("zygote did not become ready within 120s")

    def _stop(self) -> None:
        self.stops += 1


def test_concurrent_starts_start_once() -> None:
    ex = SlowStart()
    threads = [threading.Thread(target=ex.start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (ex.starts, ex.state) == (1, ExecutorState.RUNNING)


def test_a_stop_waits_for_the_start_under_way_and_stops_once() -> None:
    ex = SlowStart()
    starter = threading.Thread(target=ex.start)
    starter.start()
    time.sleep(0.05)
    assert ex.state is ExecutorState.STARTING
    ex.stop()
    starter.join()
    assert (ex.starts, ex.stops, ex.state) == (1, 1, ExecutorState.STOPPED)
    ex.stop()
    assert ex.stops == 1  # stopping a stopped executor does nothing


def test_a_failed_start_leaves_the_executor_stopped_and_startable() -> None:
    ex = SlowStart(fail=True)
    with pytest.raises(WorkerStartFailed):
        ex.start()
    assert (ex.state, ex.stops) == (ExecutorState.STOPPED, 1)  # what had started is torn down
    ex.fail = False
    ex.start()
    assert ex.state is ExecutorState.RUNNING and ex.starts == 2


def test_only_a_running_executor_accepts_batches() -> None:
    ex = FakeExecutor(lambda b: [{}] * len(b.emails))
    with pytest.raises(EngineUnavailable, match="the engine is stopped"):
        ex.submit(Batch([{}], 1)).result()
    ex.start()
    assert ex.submit(Batch([{}], 1)).result().analyses == [{}]
    ex.stop()
    with pytest.raises(EngineUnavailable, match="the engine is stopped"):
        ex.submit(Batch([{}], 1)).result()


# -- the service: one run at a time, a final stop -------------------------------------------------


def _service(db: Database, tmp_path: Path, gate: threading.Event | None = None,
             start_fails: bool = False) -> tuple[EngineService, list[FakeExecutor]]:
    settings = Settings(data_dir=tmp_path / "data", database_url=db.url, batch_size=2)
    made: list[FakeExecutor] = []

    def factory(s: Settings, recorder: MetricsRecorder) -> FakeExecutor:
        ex = FakeExecutor(lambda b: [fake_analysis(e, s) for e in b.emails], recorder, slots=1, gate=gate)
        if start_fails:
            def fail() -> None:
                raise WorkerStartFailed("worker 99 exited while starting (see its stderr)")
            ex._start = fail  # type: ignore[method-assign]
        made.append(ex)
        return ex

    return EngineService(settings, db, executor_factory=factory), made


def test_one_run_at_a_time_and_the_service_is_idle_again_after_it(sqlite_db: Database, tmp_path: Path) -> None:
    store_messages(sqlite_db, [synthetic_message(i) for i in range(6)])
    gate = threading.Event()
    svc, (ex,) = _service(sqlite_db, tmp_path, gate)
    assert svc.enqueue_missing() == 6
    run_id = svc.start_run_in_background()
    assert (svc.state, svc.active_run) == (ServiceState.ANALYSING, run_id)
    with pytest.raises(AnalysisBusy) as busy:
        svc.run()
    assert busy.value.run_id == run_id
    gate.set()
    assert svc.wait(30)
    assert (svc.state, svc.active_run, ex.state) == (ServiceState.IDLE, None, ExecutorState.RUNNING)
    assert outcome(sqlite_db)["done"] == 6
    assert svc.status().last_run["status"] == "done"
    svc.stop()


def test_stop_lets_the_run_hand_its_jobs_back_and_is_final(sqlite_db: Database, tmp_path: Path) -> None:
    store_messages(sqlite_db, [synthetic_message(i) for i in range(8)])
    gate = threading.Event()
    svc, (ex,) = _service(sqlite_db, tmp_path, gate)
    svc.enqueue_missing()
    run_id = svc.start_run_in_background()
    while len(ex.batches) < 2:  # two batches in flight, held by the gate
        time.sleep(0.01)
    stopper = threading.Thread(target=svc.stop)
    stopper.start()
    time.sleep(0.1)
    assert svc.state is ServiceState.STOPPING and stopper.is_alive()  # waits for the run
    gate.set()
    stopper.join(30)
    assert (svc.state, svc.active_run, ex.state) == (ServiceState.STOPPED, None, ExecutorState.STOPPED)
    with sqlite_db.session() as s:
        assert s.get(Run, run_id).status == "interrupted"
    assert outcome(sqlite_db) == {"emails": 8, "analyses": 4, "analysed": 4, "done": 4, "quarantined": 0,
                                  "pending": 4, "running": 0}
    # Final: nothing starts workers on a stopped service.
    for start in (svc.start, svc.run, svc.start_run_in_background):
        with pytest.raises(EngineUnavailable):
            start()
    assert ex.starts == 1


def test_stop_from_another_thread_waits_for_a_foreground_run(sqlite_db: Database, tmp_path: Path) -> None:
    store_messages(sqlite_db, [synthetic_message(i) for i in range(4)])
    gate = threading.Event()
    svc, (ex,) = _service(sqlite_db, tmp_path, gate)
    svc.enqueue_missing()
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(summary=svc.run()))
    runner.start()
    while not ex.batches:
        time.sleep(0.01)
    threading.Timer(0.2, gate.set).start()
    svc.stop()
    runner.join(10)
    assert result["summary"].status == "interrupted" and ex.state is ExecutorState.STOPPED


def test_a_run_whose_workers_cannot_start_ends_failed(sqlite_db: Database, tmp_path: Path) -> None:
    store_messages(sqlite_db, [synthetic_message(0)])
    svc, _ = _service(sqlite_db, tmp_path, start_fails=True)
    svc.enqueue_missing()
    run_id = svc.start_run_in_background()
    assert svc.wait(10) and svc.state is ServiceState.IDLE
    with sqlite_db.session() as s:
        run = s.get(Run, run_id)
        assert (run.status, run.error) == ("failed", "worker 99 exited while starting (see its stderr)")
    assert outcome(sqlite_db)["pending"] == 1
    svc.stop()


# -- the worker handle ------------------------------------------------------------------------------

CHILD = "import socket, sys, time; s = socket.socket(fileno=int(sys.argv[1])); time.sleep(float(sys.argv[2])); sys.exit(3)"


@pytest.fixture
def worker() -> Any:
    """A real child process on a socket pair that sleeps, then exits with status 3."""
    handles: list[WorkerHandle] = []
    recorder = MetricsRecorder()
    emitted: list[tuple[str, dict[str, Any]]] = []

    def make(sleep: float = 30.0) -> WorkerHandle:
        ours, theirs = protocol.socket_pair()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(theirs.fileno()), str(sleep)],
                                pass_fds=[theirs.fileno()])
        theirs.close()
        w = WorkerHandle(pid=proc.pid, conn=ours, proc=proc,
                         events=WorkerEvents(recorder, lambda kind, **data: emitted.append((kind, data))))
        handles.append(w)
        return w

    make.recorder, make.emitted = recorder, emitted  # type: ignore[attr-defined]
    yield make
    for w in handles:
        if w.proc is not None and w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def test_a_killed_worker_fails_its_batch_with_the_kill_reason(worker: Any) -> None:
    w = worker()
    w.begin_batch()
    assert w.state is WorkerState.BUSY
    assert w.kill("hard_limit", limit=1) and not w.kill("budget")  # once: the first reason stands
    assert w.state is WorkerState.KILLED
    assert w.conn.poll(5)
    with pytest.raises(EOFError):
        protocol.recv(w.conn)
    failure = w.died(emails=5)
    assert isinstance(failure, BatchFailed)
    assert (failure.reason, failure.worker) == ("hard_limit", w.pid)
    assert failure.detail == f"worker {w.pid} killed by SIGKILL (uss peak 0 MB)"
    assert w.state is WorkerState.DEAD
    assert worker.recorder.counters()[1] == {"hard_limit": 1}
    assert worker.emitted == [("worker_killed", {"worker": w.pid, "reason": "hard_limit",
                                                 "detail": "killed by SIGKILL", "uss": 0, "emails": 5})]


def test_a_worker_whose_pipe_closes_unasked_crashed(worker: Any) -> None:
    w = worker(sleep=0.0)
    w.begin_batch()
    assert w.conn.poll(5)
    failure = w.died(emails=1)
    assert (failure.reason, failure.detail) == ("crashed", f"worker {w.pid} exit code 3 (uss peak 0 MB)")
    assert worker.recorder.counters()[1] == {"crashed": 1}


def test_a_worker_killed_after_it_answered_keeps_its_answer(worker: Any) -> None:
    w = worker()
    w.begin_batch()
    assert w.kill("timeout")
    w.end_batch(emails=5, rss=1, uss=2)  # the answer was already on its way
    assert (w.state, w.tasks, w.emails) == (WorkerState.KILLED, 1, 5)
    assert not w.kill("budget")


def test_transitions_from_the_wrong_state_are_refused(worker: Any) -> None:
    w = worker(sleep=0.3)
    with pytest.raises(RuntimeError, match="end_batch while idle"):
        w.end_batch(emails=1, rss=0, uss=0)
    assert not w.kill("timeout")  # only a busy worker is killed
    w.retire("max_tasks")  # asked to stop, and reaped
    assert (w.state, w.proc.returncode) == (WorkerState.DEAD, 3)
    assert worker.recorder.counters()[0] == {"max_tasks": 1}
    assert worker.emitted == [("worker_recycled", {"worker": w.pid, "reason": "max_tasks", "tasks": 0, "uss": 0})]
    with pytest.raises(RuntimeError, match="begin_batch while dead"):
        w.begin_batch()


def test_a_background_run_drives_its_batches_at_the_analysis_priority(sqlite_db: Database, tmp_path: Path) -> None:
    """The thread that claims jobs and saves results runs as analysis work (``worker_nice``,
    SCHED_BATCH): the web's threads, and the watchdog started with the executor before it, keep
    their priority. Linux keeps both per thread: read on the thread itself."""
    store_messages(sqlite_db, [synthetic_message(i) for i in range(4)])
    settings = Settings(data_dir=tmp_path / "data", database_url=sqlite_db.url, batch_size=2, worker_nice=7)
    seen: list[tuple[int, int]] = []
    threads: list[tuple[int, int]] = []

    def handler(b: Batch, s: Settings = settings) -> list[dict[str, Any]]:
        seen.append((os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)))
        return [fake_analysis(e, s) for e in b.emails]

    def factory(s: Settings, recorder: MetricsRecorder) -> FakeExecutor:
        ex = FakeExecutor(handler, recorder, slots=1)
        # A thread the executor starts (as the pool starts its watchdog): before the run lowers itself.
        ex._start = lambda: threads.append((os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)))  # type: ignore[method-assign]
        return ex

    svc = EngineService(settings, sqlite_db, executor_factory=factory)
    mine = (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0))
    svc.enqueue_missing()
    svc.start_run_in_background()
    assert svc.wait(30)
    svc.stop()
    assert outcome(sqlite_db)["done"] == 4
    assert seen and set(seen) == {(min(19, mine[0] + 7), os.SCHED_BATCH)}  # 19: the lowest there is
    assert threads == [mine]  # the executor started at the caller's priority
    assert (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)) == mine  # this thread untouched
