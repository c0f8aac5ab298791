"""The web's after-actions work (learning, re-scoring), done by one thread once the actions are
answered.

Not in the request: a web server answers the next request on a keep-alive connection only once
the previous one is finished, background tasks included, so a reader's next click would wait
for the last click's learning. Not one thread per action either: the work of actions that come
while the thread is busy is coalesced (one pass learns each reader's lessons in order and
rescores each touched thread once), and two passes never compete for the database's write lock.
Each unit of a pass is a short transaction of its own (:func:`beacon.triage.actions.run_hooks_later`),
and before each the thread waits while a reader's action is being answered (:meth:`DeferredHooks.acting`):
the answer does not share the processor or the database's write lock with the lesson of the one before.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum

from beacon.store.db import Database
from beacon.triage.actions import run_hooks_later
from beacon.triage.models import ActionRecord

__all__ = ["DeferredHooks", "DeferredState"]

log = logging.getLogger(__name__)


class DeferredState(StrEnum):
    IDLE = "idle"  # no thread yet (started by the first action)
    RUNNING = "running"
    STOPPED = "stopped"  # after the app's shutdown: late actions run their hooks in the caller


# The longest the thread yields to actions being answered before a unit (a steady stream of
# actions must not starve the lessons).
YIELD_MAX = 1.0


class DeferredHooks:
    def __init__(self, db: Database, run: Callable[..., None] = run_hooks_later) -> None:
        self._db, self._run = db, run
        self._queue: queue.Queue[list[ActionRecord] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._answering = 0  # actions being answered now
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self.state = DeferredState.IDLE
        self.passes = 0  # passes run (each may hold several actions' records)

    def submit(self, records: Sequence[ActionRecord]) -> None:
        """Have the hooks of these committed records run soon, after those submitted before."""
        if not records:
            return
        with self._lock:
            if self.state is DeferredState.STOPPED:
                self._run(self._db, records)
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="beacon-after-actions", daemon=True)
                self.state = DeferredState.RUNNING
                self._thread.start()
            self._queue.put(list(records))

    @contextmanager
    def acting(self) -> Iterator[None]:
        """Around an action's request: the after-actions thread starts no unit meanwhile."""
        with self._idle:
            self._answering += 1
        try:
            yield
        finally:
            with self._idle:
                self._answering -= 1
                self._idle.notify_all()

    def _yield_to_actions(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._answering == 0, timeout=YIELD_MAX)

    def join(self) -> None:
        """Wait until the hooks of every record submitted so far have run."""
        self._queue.join()

    def stop(self, timeout: float = 5.0) -> None:
        """Run what is queued (within ``timeout``), then end the thread."""
        with self._lock:
            self.state = DeferredState.STOPPED
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("after-actions work still running at shutdown; the periodic re-score catches up")

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:  # what came meanwhile joins this pass
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [r for b in batch if b for r in b]
            try:
                if records:
                    # logs and marks the threads due itself on failure
                    self._run(self._db, records, before_unit=self._yield_to_actions)
                    self.passes += 1
            finally:
                for _ in batch:
                    self._queue.task_done()
            if any(b is None for b in batch):
                return
