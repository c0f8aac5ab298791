"""EngineService: what the web app and the CLI use to analyse the store.

It owns one executor (by ``nlp_mode``), one metrics recorder and the job runner. ``run`` is
blocking; ``start_run_in_background`` drives the same loop from a thread of the main process.
Only one run at a time per service.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace

from sqlalchemy import select

from beacon.analysis.version import pipeline_version
from beacon.engine.metrics import EngineMetrics, MetricsRecorder
from beacon.engine.modes import make_executor
from beacon.engine.owner import make_owner
from beacon.engine.runner import JobRunner, OnEvent, RunSummary
from beacon.settings import Settings
from beacon.store import jobs
from beacon.store.db import Database
from beacon.store.schema import Account, Run, utcnow

log = logging.getLogger("beacon.engine.service")


@dataclass(frozen=True)
class EngineStatus:
    mode: str
    running: bool  # workers started
    active_run: int | None
    pipeline_version: str
    jobs: dict[str, int]  # by status
    last_run: dict[str, object] | None
    quarantined: list[dict[str, object]] = field(default_factory=list)


class EngineService:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.recorder = MetricsRecorder()
        self.engine = make_executor(settings, self.recorder)
        self.owner = make_owner()
        self.runner = JobRunner(settings, db, self.engine, self.recorder, self.owner)
        self.version = pipeline_version(settings)
        self._lock = threading.Lock()
        self._run_guard = threading.Lock()
        self._started = False
        self._active_run: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers now (otherwise the first run starts them)."""
        with self._lock:
            if not self._started:
                self.engine.start()
                self._started = True

    def stop(self) -> None:
        """Finish in-flight batches, give unfinished jobs back to the queue, stop the workers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._started:
                self.engine.stop()
                self._started = False
        self._stop.clear()

    def __enter__(self) -> EngineService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- work ------------------------------------------------------------------------------------
    def enqueue_missing(self, account: str | None = None) -> int:
        with self.db.session() as s:
            account_id = None
            if account is not None:
                account_id = s.scalar(select(Account.id).where(Account.name == account))
                if account_id is None:
                    raise KeyError(f"no account named {account!r}")
            return jobs.enqueue_missing(s, self.version, account_id)

    def run(self, run_id: int | None = None, on_event: OnEvent | None = None) -> RunSummary:
        """Process pending jobs until none are left (resuming jobs a dead process left running)."""
        if self._active_run is not None and threading.current_thread() is not self._thread:
            raise RuntimeError(f"analysis run {self._active_run} is already in progress")
        self.start()
        run_id = self.runner.prepare_run(run_id)
        self._active_run = run_id
        try:
            return self.runner.run(run_id, on_event, self._stop)
        finally:
            self._active_run = None

    def start_run_in_background(self, on_event: OnEvent | None = None) -> int:
        # Check-and-start under a lock: a user's click and the IMAP scheduler may both ask at once,
        # and two runs sharing one owner would hand each other's leased jobs back.
        with self._run_guard:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError(f"analysis run {self._active_run} is already in progress")
            run_id = self.runner.prepare_run()
            self._active_run = run_id

            def target() -> None:
                try:
                    self.run(run_id, on_event)
                except Exception as exc:  # noqa: BLE001 - a background thread has nobody to raise to
                    log.exception("background analysis run %s failed", run_id)
                    self._mark_failed(run_id, f"{type(exc).__name__}: {exc}")

            self._thread = threading.Thread(target=target, name=f"beacon-analyze-{run_id}", daemon=True)
            self._thread.start()
            return run_id

    def _mark_failed(self, run_id: int, error: str) -> None:
        """A run that died before the runner could finish it (e.g. workers failed to start)."""
        with self.db.session() as s:
            run = s.get(Run, run_id)
            if run is not None and run.status == "running":
                run.status, run.error, run.finished_at = "failed", error, utcnow()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background run; True when it has finished."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- observability ---------------------------------------------------------------------------
    def metrics(self) -> EngineMetrics:
        with self.db.session() as s:
            pending = jobs.counts(s, self.version)[jobs.PENDING]
        return replace(self.engine.metrics(), pending_jobs=pending)

    def status(self) -> EngineStatus:
        with self.db.session() as s:
            counts = jobs.counts(s, self.version)
            last = s.scalar(select(Run).where(Run.kind == "analyze").order_by(Run.id.desc()).limit(1))
            last_run = None
            if last is not None:
                last_run = {"id": last.id, "status": last.status, "total": last.total, "done": last.done,
                            "failed": last.failed, "started_at": last.started_at,
                            "finished_at": last.finished_at, "summary": last.summary}
            quarantined = [
                {"job": j.id, "email_id": j.email_id, "attempts": j.attempts, "error": j.last_error}
                for j in jobs.quarantined(s, self.version, limit=20)
            ]
        return EngineStatus(self.settings.nlp_mode, self._started, self._active_run, self.version,
                            counts, last_run, quarantined)
