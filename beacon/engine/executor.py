"""What every execution mode offers the job runner: submit a batch, get a future back.

A batch succeeds as a whole (one Analysis JSON per email, in order) or fails as a whole with a
:class:`BatchFailed` that says why; the runner decides what to retry, split or quarantine.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from beacon.engine.metrics import EngineMetrics

# Why a batch failed. "error" is a Python exception inside the pipeline (worker still usable);
# the others mean the worker process is gone.
FAILURE_REASONS = ("error", "timeout", "hard_limit", "budget", "crashed", "data_limit")


@dataclass
class Batch:
    emails: list[dict[str, Any]]  # Email JSON
    chars: int  # characters that will be analysed (after capping): the memory cost driver
    tag: Any = None  # the runner's bookkeeping (job ids); executors ignore it
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


class BatchFailed(Exception):
    def __init__(self, reason: str, detail: str, worker: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.worker = worker


class Executor(Protocol):
    mode: str

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def submit(self, batch: Batch) -> Future[BatchResult]: ...
    def capacity(self) -> int:
        """Batches worth keeping in flight (queued + running) to keep every worker busy."""
        ...
    def max_batch_chars(self) -> int: ...
    def metrics(self) -> EngineMetrics: ...
