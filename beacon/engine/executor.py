"""What every execution mode offers the job runner: submit a batch, get a future back.

A batch succeeds as a whole (one Analysis JSON per email, in order) or its future fails with
:class:`~beacon.errors.BatchFailed` saying why (the engine still works; the runner decides what
to retry, split or quarantine) or with an :class:`~beacon.errors.EngineError` (the engine cannot
work: the run ends). An executor is a small state machine, the same for every mode::

    STOPPED ──start()──▶ STARTING ──ready──▶ RUNNING ──stop()──▶ STOPPING ──▶ STOPPED
                             └──── failed (raises WorkerStartFailed) ────────────▲

``start``/``stop`` are safe from any thread and idempotent; one waits for the other's
transition to finish, so two starts never start twice and a stop never races a start. Only
``RUNNING`` accepts batches; a batch submitted in any other state fails at once with
:class:`~beacon.errors.EngineUnavailable`. :class:`ExecutorBase` implements exactly this, and
every executor derives from it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from beacon.engine.metrics import EngineMetrics

__all__ = ["Batch", "BatchResult", "EngineListener", "Executor", "ExecutorBase", "ExecutorState"]

log = logging.getLogger("beacon.engine.executor")

# (kind, data) of a worker event (worker_start, worker_killed, worker_recycled), called from the
# executor's own threads; the job runner records them as run events.
EngineListener = Callable[[str, dict[str, Any]], None]


@dataclass
class Batch:
    emails: list[dict[str, Any]]  # Email JSON
    chars: int  # characters that will be analysed (after capping): the memory cost driver
    # MailContext JSON per email (the store's facts the kind decision needs), or None.
    contexts: list[dict[str, Any]] | None = None


@dataclass
class BatchResult:
    analyses: list[dict[str, Any]]  # Analysis JSON, one per email, same order
    worker: int  # pid (the main process for in-process)
    elapsed: float
    rss: int = 0
    uss: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class ExecutorState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"


class Executor(Protocol):
    """The interface the job runner and the ad-hoc analyzer use, whatever the mode."""

    mode: str
    state: ExecutorState

    def start(self) -> None: ...
    def stop(self, grace: float | None = None) -> None: ...
    def submit(self, batch: Batch) -> Future[BatchResult]: ...
    def capacity(self) -> int:
        """Batches worth keeping in flight (queued + running) to keep every worker busy."""
        ...
    def max_batch_chars(self) -> int: ...
    def metrics(self) -> EngineMetrics: ...
    def add_listener(self, fn: EngineListener) -> None: ...
    def remove_listener(self, fn: EngineListener) -> None: ...


class ExecutorBase:
    """The life cycle above, under one condition variable; subclasses fill in ``_start``
    (bring the workers up; raise to fail) and ``_stop`` (finish or fail every batch, stop the
    workers). ``_should_exit`` is the one exit flag: set when stopping begins, cleared when a
    start begins; the executor's threads leave their loops when it is set."""

    mode: str = "?"

    def __init__(self) -> None:
        self.state = ExecutorState.STOPPED
        self._cond = threading.Condition()
        self._should_exit = threading.Event()
        self._listeners: list[EngineListener] = []
        # Seconds the stop under way lets running batches finish (None: the mode's default).
        self.stop_grace: float | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            self._cond.wait_for(self._settled)
            if self.state is ExecutorState.RUNNING:
                return
            self.state = ExecutorState.STARTING
            self._should_exit.clear()
        try:
            self._start()  # long (the model loads); the state tells others a start is under way
        except BaseException:
            self._should_exit.set()
            try:
                self._stop()
            finally:
                self._set(ExecutorState.STOPPED)
            raise
        self._set(ExecutorState.RUNNING)

    def stop(self, grace: float | None = None) -> None:
        """``grace``: seconds running batches may take to finish before their workers are
        killed (their emails go back to the queue); None: the mode's default."""
        with self._cond:
            self._cond.wait_for(self._settled)  # a start under way finishes first
            if self.state is ExecutorState.STOPPED:
                return
            self.stop_grace = grace
            self.state = ExecutorState.STOPPING
            self._should_exit.set()
        try:
            self._stop()
        finally:
            self._set(ExecutorState.STOPPED)

    def _settled(self) -> bool:
        return self.state in (ExecutorState.STOPPED, ExecutorState.RUNNING)

    def _set(self, state: ExecutorState) -> None:
        with self._cond:
            self.state = state
            self._cond.notify_all()

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def _accepting(self) -> bool:
        """Whether a batch may be queued now; call with ``self._cond`` held, so a stop that
        begins afterwards finds the batch in the queue and fails it."""
        return self.state is ExecutorState.RUNNING

    # -- worker events ---------------------------------------------------------------------------
    def add_listener(self, fn: EngineListener) -> None:
        with self._cond:
            self._listeners = [*self._listeners, fn]

    def remove_listener(self, fn: EngineListener) -> None:
        with self._cond:
            self._listeners = [f for f in self._listeners if f is not fn]

    def _emit(self, kind: str, **data: Any) -> None:
        for fn in self._listeners:
            try:
                fn(kind, data)
            except Exception:  # noqa: BLE001 - a listener must not break the executor
                log.exception("engine listener failed")
