"""The supervisor's handle on one worker process: its state, and every change of it.

::

              begin_batch                    kill(reason): watchdog, timeout, stop
     IDLE ───────────────▶ BUSY ─────────────────────────────────────────▶ KILLED
      ▲ │ │                 │ │                                             │ (end_batch: an
      │ │ │   end_batch     │ └─ pipe closed (crashed) ──┐                  │  answer already
      └─┼─┼─────────────────┘                            ▼                  │  sent still counts)
        │ └─ pipe closed (killed from outside) ──▶ died(): DEAD ◀───────────┘ pipe closed
        └─── retire(reason): STOPPING ──▶ DEAD   (recycled between batches, or shut down)

Each transition is a method here: it checks the state it comes from under the handle's lock,
then logs and counts. Three threads call them: the slot thread that drives the worker
(``begin_batch``, ``end_batch``, ``retire``, ``died``, and ``kill("timeout")``), the memory
watchdog (``kill("hard_limit" | "budget")``, only of a BUSY worker) and ``stop()``
(``kill("stopping")``). A kill only sends SIGKILL and records why; the slot thread sees the pipe
close and calls :meth:`WorkerHandle.died`, the one place that turns "pipe closed + kill reason
+ exit status" into a :class:`~beacon.errors.BatchFailed` and a count of ``kills[reason]`` (a
pipe that closed without a kill is ``crashed``). A worker killed just after it answered stays
KILLED with its batch delivered; its slot notices the closed pipe and calls ``died`` before the
next batch, as for a worker killed from outside while IDLE.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from multiprocessing.connection import Connection
from typing import Any

from beacon.engine import _logs as logs, _protocol as protocol
from beacon.engine.memory import MB, MemSample
from beacon.engine.metrics import MetricsRecorder
from beacon.errors import BatchFailed

__all__ = ["WorkerEvents", "WorkerHandle", "WorkerState"]

log = logging.getLogger("beacon.engine.pool")

REAP_TIMEOUT = 10.0  # seconds a worker asked to stop may take before it is killed


class WorkerState(StrEnum):
    IDLE = "idle"  # ready for a batch
    BUSY = "busy"  # analysing a batch
    KILLED = "killed"  # SIGKILL sent; its pipe is about to close
    STOPPING = "stopping"  # asked to exit (recycled, retired, shut down)
    DEAD = "dead"  # reaped: the slot starts another worker for its next batch


@dataclass
class WorkerEvents:
    """Where a worker's transitions are counted and announced (one per executor)."""

    recorder: MetricsRecorder
    emit: Any  # (kind, **data) -> None: the executor's listeners
    announce_recycles: bool = True  # oneshot recycles every worker after one batch: not news


@dataclass
class WorkerHandle:
    pid: int
    conn: Connection
    proc: subprocess.Popen[bytes] | None = None  # None when the zygote is the parent
    started_at: float = field(default_factory=time.time)
    start_s: float = 0.0
    tasks: int = 0  # batches answered
    emails: int = 0
    rss: int = 0
    uss: int = 0
    pss: int = 0
    batch_peak_uss: int = 0
    state: WorkerState = WorkerState.IDLE
    kill_reason: str | None = None
    events: WorkerEvents | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- transitions ---------------------------------------------------------------------------
    def begin_batch(self) -> None:
        with self._lock:
            self._expect("begin_batch", WorkerState.IDLE)
            self.state, self.batch_peak_uss = WorkerState.BUSY, self.uss

    def end_batch(self, emails: int, rss: int, uss: int) -> None:
        """The worker answered. A worker killed meanwhile stays KILLED: its answer counts."""
        with self._lock:
            self._expect("end_batch", WorkerState.BUSY, WorkerState.KILLED)
            self.tasks += 1
            self.emails += emails
            self.rss, self.uss = rss, uss
            if self.state is WorkerState.BUSY:
                self.state = WorkerState.IDLE

    def kill(self, reason: str, **why: Any) -> bool:
        """SIGKILL a BUSY worker, once, recording why; False when it is not busy any more (it
        answered, or is already going)."""
        with self._lock:
            if self.state is not WorkerState.BUSY:
                return False
            self.state, self.kill_reason = WorkerState.KILLED, reason
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        logs.event(log, "worker_kill", logging.WARNING, worker=self.pid, reason=reason, rss=self.rss,
                   uss=self.uss, **why)
        return True

    def died(self, emails: int = 0) -> BatchFailed:
        """Its pipe closed: reap it, count the death by its reason, and return the failure of
        the batch it had (``emails`` of them; 0 when it died between batches)."""
        with self._lock:
            self._expect("died", WorkerState.IDLE, WorkerState.BUSY, WorkerState.KILLED)
            reason = self.kill_reason or "crashed"
            self.state = WorkerState.DEAD
        detail = self._exit_detail()
        self._reap()
        logs.event(log, "worker_dead", logging.WARNING, worker=self.pid, reason=reason, detail=detail,
                   emails=emails, rss=self.rss, uss=self.uss, peak_uss=self.batch_peak_uss)
        if self.events is not None:
            self.events.recorder.killed(reason)
            self.events.emit("worker_killed", worker=self.pid, reason=reason, detail=detail,
                             uss=self.batch_peak_uss, emails=emails)
        return BatchFailed(reason, f"worker {self.pid} {detail} (uss peak {self.batch_peak_uss // MB} MB)",
                           self.pid)

    def retire(self, reason: str, limit: int = 0) -> None:
        """Ask it to exit between batches and reap it: a recycle (``max_tasks``, ``memory``,
        ``data_limit``), counted and announced."""
        self._stop_gracefully()
        level = logging.INFO if self.events is None or self.events.announce_recycles else logging.DEBUG
        logs.event(log, "worker_recycle", level, worker=self.pid, reason=reason, tasks=self.tasks,
                   rss=self.rss, uss=self.uss, limit=limit)
        if self.events is not None:
            self.events.recorder.recycled(reason)
            if self.events.announce_recycles:
                self.events.emit("worker_recycled", worker=self.pid, reason=reason, tasks=self.tasks,
                                 uss=self.uss)

    def shut_down(self) -> None:
        """The executor stops: an idle worker exits, a busy one is killed (its slot thread
        fails the batch), whatever is left is reaped; nothing is counted."""
        if self.state is WorkerState.IDLE:
            self._stop_gracefully()
            return
        self.kill("stopping")
        self._reap()

    # -- measurements (the watchdog's) ---------------------------------------------------------
    def observe(self, sample: MemSample) -> None:
        self.rss, self.uss, self.pss = sample.rss, sample.uss, sample.pss
        if self.state is WorkerState.BUSY:
            self.batch_peak_uss = max(self.batch_peak_uss, sample.uss)

    # -- helpers -------------------------------------------------------------------------------
    def _expect(self, action: str, *allowed: WorkerState) -> None:
        if self.state not in allowed:
            raise RuntimeError(f"worker {self.pid}: {action} while {self.state}")  # a supervisor bug

    def _stop_gracefully(self) -> None:
        with self._lock:
            self._expect("retire", WorkerState.IDLE)
            self.state = WorkerState.STOPPING
        try:
            protocol.send(self.conn, {"op": protocol.OP_STOP})
        except OSError:
            pass
        with self._lock:
            self.state = WorkerState.DEAD
        self._reap()

    def _exit_detail(self) -> str:
        if self.proc is None:
            return "pipe closed"  # forked by the zygote, which reaps it
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "pipe closed; still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def _reap(self) -> None:
        """Close our end; wait for a process we started ourselves, killing it if it lingers."""
        self.conn.close()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=REAP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
