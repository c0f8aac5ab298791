"""The engine in a process of its own (``engine_process``): the web process keeps the API.

Why: the job runner saves every result (scoring, thread heads, events: ~15 ms of Python per
email) and the supervisor threads wait on pipes; in the web process they share one GIL with
the request threads, and under ~35 requests/s the workers sat idle waiting for the runner.
Here a child process (``python -m beacon.engine.remote``) owns a real
:class:`~beacon.engine.service.EngineService` (runner, supervisor, watchdog, its own database
connections), and :class:`EngineProcess` offers the web process the calls it makes on a
service (start, stop, runs, health, metrics, status), each a message over one pipe.

Who owns what: the web process starts the engine process and is in charge of its life (the
:class:`~beacon.engine.host.EngineHost` replaces it after a settings change as it replaces a
service); the engine process ends when the web process's end of the pipe closes (also after
a SIGKILL of the web process: the kernel closes its end), handing its jobs back. An engine
process that dies by itself is replaced (and resumes its run). The budget covers both: the
engine process's watchdog counts the web process among the processes it charges, and
``/api/engine`` lists the engine process (role ``engine``) beside the zygote.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from enum import StrEnum
from multiprocessing.connection import Connection
from typing import Any

from beacon.analysis.version import pipeline_version
from beacon.engine.memory import MemoryGauge, rss
from beacon.engine.metrics import HISTORY_LEN, EngineMetrics, MemoryPoint
from beacon.engine.modes import make_executor
from beacon.engine.runner import RunSummary
from beacon.engine.service import EngineService, EngineStatus, ServiceState
from beacon.errors import (
    AnalysisBusy, BeaconError, EngineError, EngineUnavailable, InvalidInput, NotFound, NothingToAnalyse,
)
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import Run
from beacon.store.tenancy import EVERYONE, UserScope

__all__ = ["EngineProcess"]

log = logging.getLogger("beacon.engine.remote")

# The calls the web process may make; anything else is refused by the engine process.
OPS = ("start", "stop", "enqueue_missing", "start_run_in_background", "wait", "health", "metrics", "status")
# Errors that cross the pipe as themselves (their message is safe to show); others become EngineError.
ERRORS: dict[str, type[BeaconError]] = {
    e.__name__: e for e in (EngineError, EngineUnavailable, NothingToAnalyse, NotFound, InvalidInput)
}
START_TIMEOUT = 60.0  # seconds for the engine process to come up (imports, no model yet)
# Seconds a metrics answer is reused: /metrics and /api/engine under load would otherwise each
# cross the pipe (and the memory plot gains one point a second anyway).
METRICS_TTL = 1.0


class PipeState(StrEnum):
    """The web process's side of the pipe: OPEN takes calls; STOPPING after ``stop()`` (its end
    is expected); GONE once the pipe reached its end (no answer will come any more). A GONE
    reached from OPEN is an unexpected death, which the EngineHost is told of."""

    OPEN = "open"
    STOPPING = "stopping"
    GONE = "gone"


class EngineProcess:
    """The web process's side: the :class:`~beacon.engine.service.EngineService` calls, answered
    by the engine process. Calls may come from any thread at once (each waits for its own
    answer); when the engine process is gone every call raises EngineUnavailable."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.version = pipeline_version(settings)
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()  # the pending map and sending
        self._gauge = MemoryGauge(os.getpid(), full_every=10.0)
        # The plot's history is kept here and only its new points cross the pipe: sending all
        # of it (up to HISTORY_LEN points) with every call made the web process unpickle ~1 MB
        # per /metrics or /api/engine request.
        self._history: deque[MemoryPoint] = deque(maxlen=HISTORY_LEN)
        self._metrics_lock = threading.Lock()  # one metrics call in flight; the others reuse it
        self._metrics: tuple[float, EngineMetrics] | None = None  # (monotonic time, answer)
        self._state = PipeState.OPEN  # changed under _lock
        self.started = False  # start() succeeded once: a death from then on is worth a restart
        # Called (from the pipe's reader thread) when the engine process ends without being
        # stopped: a crash, the OOM killer. The EngineHost starts a new one, which resumes.
        self.on_exit: Callable[[], None] | None = None
        ours, theirs = socket.socketpair()
        self._conn = Connection(ours.detach())
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "beacon.engine.remote", str(theirs.fileno())], pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        self._conn.send(settings.model_dump())
        self._reader = threading.Thread(target=self._read, name="beacon-engine-process", daemon=True)
        self._reader.start()
        try:
            self._call("health", timeout=START_TIMEOUT)  # answered once the service exists
        except (EngineError, TimeoutError) as exc:
            # As for workers that fail to start: the server still serves the mail, and
            # /readyz says why there is no engine.
            log.error("the engine process did not start: %s", exc)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    # -- the service's calls ---------------------------------------------------------------------
    def start(self) -> None:
        self._call("start")
        self.started = True

    def stop(self, grace: float | None = None) -> None:
        """Stop the service (final, as for a service), then let the engine process end."""
        with self._lock:
            if self._state is PipeState.OPEN:
                self._state = PipeState.STOPPING
        try:
            self._call("stop", grace)
        except EngineUnavailable:
            pass  # already gone
        self._hang_up()  # the engine process leaves when its pipe closes
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def enqueue_missing(self, account: str | None = None, scope: UserScope = EVERYONE) -> int:
        return int(self._call("enqueue_missing", account, scope))

    def start_run_in_background(self) -> int:
        return int(self._call("start_run_in_background"))

    def run(self) -> RunSummary:
        """A run of what is pending, waited for (``beacon serve --demo``); its summary is read
        back from its row (progress events stay in the store, for the SSE stream)."""
        run_id = self.start_run_in_background()
        self.wait()
        with self.db.session() as s:
            row = s.get(Run, run_id)
            assert row is not None
            return RunSummary.from_row(row)

    def wait(self, timeout: float | None = None) -> bool:
        return bool(self._call("wait", timeout))

    def health(self) -> str:
        try:
            return str(self._call("health"))
        except EngineUnavailable as exc:
            return str(exc)

    def status(self) -> EngineStatus:
        try:
            return self._call("status")  # type: ignore[no-any-return]
        except EngineUnavailable:
            return EngineStatus(self.settings.nlp_mode, ServiceState.STOPPED, False, None, self.version, {}, None)

    def metrics(self) -> EngineMetrics:
        """The engine's metrics with this (the web) process as the main process; the engine
        process is counted with the engine's own processes (``helper_pss``, ``zygotes``) and
        shown as itself (``engine_rss``). Reused for ``METRICS_TTL`` seconds."""
        with self._metrics_lock:
            now = time.monotonic()
            if self._metrics is not None and now - self._metrics[0] < METRICS_TTL:
                return self._metrics[1]
            since = self._history[-1].timestamp if self._history else 0.0
            m: EngineMetrics = self._call("metrics", since)
            self._history.extend(m.history)
            m = replace(m, history=list(self._history))
            me = self._gauge.read(now)
            if me is not None:
                m = replace(m, main_rss=me.rss, main_uss=me.uss)
            self._metrics = (now, m)
            return m

    # -- the pipe --------------------------------------------------------------------------------
    def _hang_up(self) -> None:
        # shutdown, not only close: our reader thread is blocked in recv on this socket, and a
        # close alone leaves the socket open under it (the engine process would never see EOF).
        try:
            with socket.socket(fileno=os.dup(self._conn.fileno())) as s:
                s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._conn.close()

    def _call(self, op: str, *args: Any, timeout: float | None = None) -> Any:
        fut: Future[Any] = Future()
        with self._lock:
            if self._state is PipeState.GONE or self._conn.closed or not self.alive:
                raise EngineUnavailable("the engine process is not running")
            n = next(self._ids)
            self._pending[n] = fut
            try:
                self._conn.send((n, op, args))
            except OSError as exc:
                self._pending.pop(n, None)
                raise EngineUnavailable("the engine process is not running") from exc
        return fut.result(timeout)

    def _read(self) -> None:
        while True:
            try:
                n, ok, value = self._conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                fut = self._pending.pop(n, None)
            if fut is None:
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(_error(*value))
        with self._lock:
            unexpected = self._state is PipeState.OPEN
            self._state = PipeState.GONE
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            fut.set_exception(EngineUnavailable("the engine process exited"))
        if unexpected and self.on_exit is not None:
            log.error("the engine process %d exited (%s)", self.pid, self._proc.wait())
            self.on_exit()


def _error(kind: str, message: str, run_id: int | None) -> BaseException:
    if kind == "AnalysisBusy":
        return AnalysisBusy(run_id)
    return ERRORS.get(kind, EngineError)(message)


def _as_error(exc: BaseException) -> tuple[str, str, int | None]:
    if isinstance(exc, AnalysisBusy):
        return "AnalysisBusy", str(exc), exc.run_id
    if isinstance(exc, BeaconError):
        known = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in ERRORS), "EngineError")
        return known, str(exc), None
    return "EngineError", f"{type(exc).__name__}: {exc}", None


# -- the engine process ----------------------------------------------------------------------------
def _signals() -> None:
    """SIGTERM ends the loop like a closed pipe, so the jobs go back and the workers are reaped;
    Ctrl-C reaches the web process, which stops us. (No parent-death signal: Linux sends it when
    the *thread* that started us ends, and a web server's threads come and go. The pipe's end
    closing is the signal: the kernel closes it however the web process dies.)"""
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _exit(*_: object) -> None:
    raise SystemExit(0)


def serve(conn: Connection) -> None:
    """Answer the web process's calls, each on a thread of its own (a start loads the model
    while ``/api/engine`` still reads metrics), until the pipe closes; then stop the service."""
    parent = os.getppid()
    settings = Settings(**conn.recv())
    db = Database(settings.database_url_resolved)
    svc = EngineService(settings, db,
                        executor_factory=lambda s, r: make_executor(s, r, web_pid=parent))
    send_lock = threading.Lock()

    def answer(n: int, op: str, args: tuple[Any, ...]) -> None:
        try:
            if op not in OPS:
                raise EngineError(f"unknown engine call {op!r}")
            value = _metrics(svc, *args) if op == "metrics" else getattr(svc, op)(*args)
            reply: tuple[int, bool, Any] = (n, True, value)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            reply = (n, False, _as_error(exc))
        with send_lock:
            try:
                conn.send(reply)
            except OSError:
                pass  # the web process is gone: the loop below ends

    try:
        while True:
            try:
                n, op, args = conn.recv()
            except (EOFError, OSError):
                break
            threading.Thread(target=answer, args=(n, op, args), name=f"beacon-engine-call-{op}", daemon=True).start()
    finally:
        svc.stop(0.0)  # the web process is gone or done: hand the jobs back, reap the workers
        db.dispose()


def _metrics(svc: EngineService, since: float = 0.0) -> EngineMetrics:
    """The service's metrics as the web process shows them: this process counted with the
    engine's own, and only the plot's points newer than ``since`` (it keeps the rest)."""
    m = svc.metrics()
    monitor = getattr(svc.executor, "monitor", None)
    if monitor is not None:
        m = replace(m, helper_pss=m.helper_pss + monitor.main.pss, zygotes=[os.getpid(), *m.zygotes])
    return replace(m, history=[p for p in m.history if p.timestamp > since],
                   engine_rss=monitor.main.rss if monitor is not None else rss())


def main() -> None:
    _signals()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(Connection(int(sys.argv[1])))


if __name__ == "__main__":
    main()
