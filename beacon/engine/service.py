"""EngineService: what the web app and the CLI use to analyse the store.

It owns one executor (by ``nlp_mode``), one metrics recorder and the job runner, and allows one
analysis run at a time. Its state (:class:`ServiceState`, under one condition variable)::

                 begin a run (run / start_run_in_background)
        IDLE ─────────────────────────────────────────────▶ ANALYSING
         ▲ │ ◀───────────── the run ends ─────────────────────┘ │
         │ │                                                    │
         │ └──────────── stop() ──────────▶ STOPPING ◀──────────┘
         │                                    │  the run (if any) hands its jobs back and ends;
         │                                    ▼  then the executor stops
       (never)                             STOPPED

A run begins only from IDLE: a second one gets :class:`~beacon.errors.AnalysisBusy`, and once
``stop()`` has begun every start gets :class:`~beacon.errors.EngineUnavailable`. STOPPED is
final, so a service that was stopped (replaced after a settings change, say) can never start
workers again behind its owner's back: build a new one. ``stop()`` may be called from any thread,
as often as you like; it returns once the workers are gone. The executor has its own, simpler
life cycle (:mod:`beacon.engine.executor`); this service starts it with the first run (or
``start()``), and the run's ``stop`` signal is simply "the state is STOPPING".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from sqlalchemy import select

from beacon.analysis.version import pipeline_version
from beacon.engine.executor import Executor, ExecutorState
from beacon.engine.metrics import EngineMetrics, MetricsRecorder
from beacon.engine.modes import make_executor
from beacon.engine.priority import as_analysis
from beacon.engine.runner import JobRunner, RunSummary
from beacon.errors import AnalysisBusy, BeaconError, EngineUnavailable, InvalidInput, NotFound
from beacon.settings import Settings
from beacon.store import jobs
from beacon.store.db import Database
from beacon.store.owner import make_owner
from beacon.store.runs import OnEvent, RunKind, RunRecorder, RunStatus
from beacon.store.schema import Account, Run
from beacon.store.tenancy import EVERYONE, UserScope, account_ids

__all__ = ["EngineService", "EngineStatus", "ServiceState"]

log = logging.getLogger("beacon.engine.service")


class ServiceState(StrEnum):
    IDLE = "idle"
    ANALYSING = "analysing"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True)
class EngineStatus:
    mode: str
    state: ServiceState
    running: bool  # workers started
    active_run: int | None
    pipeline_version: str
    jobs: dict[str, int]  # by status
    last_run: dict[str, object] | None
    quarantined: list[dict[str, object]] = field(default_factory=list)


class EngineService:
    def __init__(
        self, settings: Settings, db: Database, *,
        executor_factory: Callable[[Settings, MetricsRecorder], Executor] = make_executor,
    ) -> None:
        self.settings = settings
        self.db = db
        self.recorder = MetricsRecorder()
        self.executor = executor_factory(settings, self.recorder)
        self.owner = make_owner()
        self.runner = JobRunner(settings, db, self.executor, self.recorder, self.owner)
        self.version = pipeline_version(settings)
        self.state = ServiceState.IDLE
        self.active_run: int | None = None  # set exactly while a run is in progress
        self._starting = 0  # start() calls under way (stop() waits for them)
        self.start_error: str | None = None  # why the workers last failed to start
        self._cond = threading.Condition()

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers now (otherwise the first run starts them)."""
        with self._cond:
            self._refuse_if_stopping()
            # Counted under the lock, so a stop() that begins now waits for this start and
            # then stops what it started: the check and the start are one step for stop().
            self._starting += 1
        try:
            self._start_executor()
        finally:
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()

    def _start_executor(self) -> None:
        try:
            self.executor.start()
        except BaseException as exc:
            self.start_error = str(exc) if isinstance(exc, BeaconError) else f"{type(exc).__name__}: {exc}"
            raise
        self.start_error = None

    def stop(self, grace: float | None = None) -> None:
        """Let the run in progress finish its in-flight batches and hand back the rest, then
        stop the workers. Final: the service never starts again. ``grace``: seconds batches
        under way may take before their workers are killed (their emails go back)."""
        with self._cond:
            if self.state in (ServiceState.IDLE, ServiceState.ANALYSING):
                self.state = ServiceState.STOPPING
                self._cond.notify_all()
            running = self.active_run is not None
        cut: threading.Timer | None = None
        if running and grace is not None:
            # The run waits for its batches in flight: stopping the executor cuts them short.
            cut = threading.Timer(grace, self.executor.stop, kwargs={"grace": 0.0})
            cut.daemon = True
            cut.start()
        with self._cond:
            self._cond.wait_for(lambda: self.active_run is None and self._starting == 0)
        if cut is not None:
            cut.cancel()
        with self._cond:
            if self.state is ServiceState.STOPPED:
                return
        self.executor.stop(grace)
        with self._cond:
            self.state = ServiceState.STOPPED
            self._cond.notify_all()

    def __enter__(self) -> EngineService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- work ------------------------------------------------------------------------------------
    def enqueue_missing(self, account: str | None = None, scope: UserScope = EVERYONE) -> int:
        """Queue what has no analysis yet; ``account`` is a name among ``scope``'s accounts
        (names are unique per user only)."""
        with self.db.session() as s:
            account_id = None
            if account is not None:
                found = list(s.scalars(select(Account.id).where(Account.name == account,
                                                                Account.id.in_(account_ids(scope))).limit(2)))
                if not found:
                    raise NotFound(f"no account named {account!r}")
                if len(found) > 1:
                    raise InvalidInput(f"several users have an account named {account!r}: say whose with --user")
                account_id = found[0]
            return jobs.enqueue_missing(s, self.version, account_id)

    def run(self, on_event: OnEvent | None = None) -> RunSummary:
        """Process pending jobs until none are left (resuming jobs a dead process left running),
        in the calling thread."""
        return self._execute(self._begin_run(on_event))

    def start_run_in_background(self, on_event: OnEvent | None = None) -> int:
        """Begin a run and drive it from a thread of this process; returns its id at once."""
        run = self._begin_run(on_event)
        threading.Thread(target=self._run_in_thread, args=(run,), name=f"beacon-analyze-{run.run_id}",
                         daemon=True).start()
        return run.run_id

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no run is in progress; True when none is."""
        with self._cond:
            return self._cond.wait_for(lambda: self.active_run is None, timeout)

    def _begin_run(self, on_event: OnEvent | None) -> RunRecorder:
        # Check and claim under the lock: a user's click and the IMAP scheduler may both ask at
        # once, and two runs sharing one owner would hand each other's leased jobs back.
        with self._cond:
            self._refuse_if_stopping()
            if self.state is ServiceState.ANALYSING:
                raise AnalysisBusy(self.active_run)
            run = self.runner.prepare(on_event)
            self.state, self.active_run = ServiceState.ANALYSING, run.run_id
            return run

    def _execute(self, run: RunRecorder, background: bool = False) -> RunSummary:
        try:
            try:
                if not self._stopping():
                    self._start_executor()
                if background:
                    # Only now: the executor's threads (its watchdog) and processes started
                    # above keep their own priority. The thread ends with the run.
                    as_analysis(self.settings)
            except BaseException as exc:
                # The workers could not start: the runner never saw the run, so it ends here.
                run.finish(RunStatus.FAILED, error=str(exc) if isinstance(exc, BeaconError)
                           else f"{type(exc).__name__}: {exc}")
                raise
            return self.runner.run(run, self._stopping)  # ends the run whatever happens
        finally:
            with self._cond:
                self.active_run = None
                if self.state is ServiceState.ANALYSING:
                    self.state = ServiceState.IDLE
                self._cond.notify_all()

    def _run_in_thread(self, run: RunRecorder) -> None:
        try:
            self._execute(run, background=True)
        except Exception:  # noqa: BLE001 - a background thread has nobody to raise to; the run says it failed
            log.exception("background analysis run %s failed", run.run_id)

    def _stopping(self) -> bool:
        return self.state in (ServiceState.STOPPING, ServiceState.STOPPED)

    def _refuse_if_stopping(self) -> None:
        if self._stopping():
            raise EngineUnavailable("the analysis engine is stopping (a settings change restarts it); try again shortly")

    # -- observability ---------------------------------------------------------------------------
    def health(self) -> str:
        """"ok", or why this engine cannot analyse now (``/readyz``)."""
        if self.state is ServiceState.STOPPING:
            return "restarting"
        if self.state is ServiceState.STOPPED:
            return "stopped"
        if self.start_error is not None:
            return f"workers failed to start: {self.start_error}"
        monitor = getattr(self.executor, "monitor", None)
        if self.executor.state is ExecutorState.RUNNING and monitor is not None and not monitor.running:
            return "memory watchdog not running"
        return "ok"

    def metrics(self) -> EngineMetrics:
        with self.db.session() as s:
            pending = jobs.counts(s, self.version)[jobs.JobStatus.PENDING]
        return replace(self.executor.metrics(), pending_jobs=pending)

    def status(self) -> EngineStatus:
        with self.db.session() as s:
            counts = jobs.counts(s, self.version)
            last = s.scalar(select(Run).where(Run.kind == RunKind.ANALYZE).order_by(Run.id.desc()).limit(1))
            last_run = None
            if last is not None:
                last_run = {"id": last.id, "status": last.status, "total": last.total, "done": last.done,
                            "failed": last.failed, "started_at": last.started_at,
                            "finished_at": last.finished_at, "summary": last.summary}
            quarantined = [
                {"job": j.id, "email_id": j.email_id, "attempts": j.attempts, "error": j.last_error}
                for j in jobs.quarantined(s, self.version, limit=20)
            ]
        return EngineStatus(self.settings.nlp_mode, self.state, self.executor.state is ExecutorState.RUNNING,
                            self.active_run, self.version, counts, last_run, quarantined)
