"""The supervisor: N slots, each driving one worker process over a pipe.

Used for two modes:
- ``pool``: warm workers (forked from the zygote, or spawned) that load the model once and are
  recycled gracefully after ``worker_max_tasks`` batches or when they grew past the soft limit;
- ``oneshot``: a fresh spawned process per batch that loads the model, answers and exits.

One thread per slot sends a batch and waits for the answer with a timeout; the memory monitor
kills workers that grow too big mid-batch. A dead worker (killed, crashed, timed out) fails
its batch with the reason; the slot starts a new worker for the next batch. The main process
survives all of it and never imports spaCy.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from concurrent.futures import Future

from beacon.engine import _logs as logs, _protocol as protocol
from beacon.engine.budget import Budget
from beacon.engine.executor import Batch, BatchResult, ExecutorBase, ExecutorState
from beacon.engine.handle import WorkerEvents, WorkerHandle, WorkerState
from beacon.engine.launch import Starter
from beacon.engine.metrics import EngineMetrics, MetricsRecorder, WorkerMetrics
from beacon.engine.monitor import MemoryMonitor
from beacon.engine.processes import ProcessTree
from beacon.errors import BatchFailed, EngineUnavailable, ProtocolError, WorkerStartFailed
from beacon.settings import Settings

__all__ = ["PoolExecutor", "worker_count"]

log = logging.getLogger("beacon.engine.pool")

# A worker's heap may grow this much past the hard limit before the kernel refuses memory
# (RLIMIT_DATA): the watchdog normally kills it first; the limit catches bursts between samples.
DATA_LIMIT_FACTOR = 1.25
KILL_GRACE = 15.0  # seconds to wait for a SIGKILLed worker's pipe to close
STOP_GRACE = 30.0  # seconds stop() lets running batches finish before killing their workers
PRESTART_TIMEOUT = 120.0


class PoolExecutor(ExecutorBase):
    def __init__(
        self,
        settings: Settings,
        recorder: MetricsRecorder,
        *,
        mode: str,
        starter: Starter,
        slots: int,
        max_tasks: int,
        prestart: bool,
        web_pid: int | None = None,
    ) -> None:
        """``web_pid``: the web process, when this one is the engine process of
        ``engine_process``: it and what it started (an import's parse workers) are counted
        against the budget too, and it is the plot's main process."""
        super().__init__()
        self.settings = settings
        self.mode = mode
        self.recorder = recorder
        self.starter = starter
        self.slots = max(1, slots)
        self.max_tasks = max(1, max_tasks)
        self.prestart = prestart
        self._web_pid = web_pid
        self.budget = Budget(settings, self.slots)
        self._queue: queue.Queue[tuple[Batch, Future[BatchResult]]] = queue.Queue()
        # Slot i's worker; only slot i's thread replaces it (others read it).
        self._workers: list[WorkerHandle | None] = [None] * self.slots
        self._threads: list[threading.Thread] = []
        self._events = WorkerEvents(recorder, self._emit, announce_recycles=self.max_tasks > 1)
        # Walked from the web process when there is one: this process's subtree is part of it.
        self._tree = ProcessTree(root=web_pid)
        self.monitor = MemoryMonitor(
            settings.memory_sample_interval, self._live_workers, starter.helper_pids, self.budget, recorder,
            others=self._other_pids, web=web_pid,
        )

    # -- life cycle (see ExecutorBase) ---------------------------------------------------------
    def _start(self) -> None:
        self.starter.start()  # the zygote loads the model once, here (raises WorkerStartFailed)
        self.monitor.start()
        self._threads = [
            threading.Thread(target=self._slot_loop, args=(i,), name=f"beacon-engine-slot-{i}", daemon=True)
            for i in range(self.slots)
        ]
        for t in self._threads:
            t.start()
        if self.prestart:  # return with warm workers, so the first batches do not wait
            deadline = time.monotonic() + PRESTART_TIMEOUT
            while any(w is None for w in self._workers) and time.monotonic() < deadline:
                time.sleep(0.01)
        logs.event(log, "engine_start", mode=self.mode, start=self.starter.name, slots=self.slots,
                   budget=self.budget.total, budget_source=self.budget.source,
                   main_rss=self.monitor.main.rss)

    def _stop(self) -> None:
        self._fail_queued(EngineUnavailable("the engine stopped"))
        deadline = time.monotonic() + (STOP_GRACE if self.stop_grace is None else self.stop_grace)
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        for w in self._live_workers():
            w.kill("stopping")  # still busy after the grace period
        for t in self._threads:
            t.join(timeout=10)
        for i, w in enumerate(self._workers):
            if w is not None:
                self._workers[i] = None
                w.shut_down()
        self._threads = []
        self.starter.stop()
        self.monitor.stop()
        logs.event(log, "engine_stop", mode=self.mode, main_rss=self.monitor.main.rss)

    # -- the executor interface ------------------------------------------------------------------
    def submit(self, batch: Batch) -> Future[BatchResult]:
        fut: Future[BatchResult] = Future()
        with self._cond:
            if self._accepting():
                self._queue.put((batch, fut))
                return fut
        fut.set_exception(EngineUnavailable(f"the engine is {self.state}"))
        return fut

    def capacity(self) -> int:
        return self.slots * 2

    def max_batch_chars(self) -> int:
        return self.budget.max_batch_chars()

    # -- slots -------------------------------------------------------------------------------
    def _other_pids(self) -> list[int]:
        """Every process below this one that is neither a live worker nor the zygote (an
        import's parse workers, a fork server, a worker being started), and the web process
        with what it started beside this one, so the budget covers all that runs."""
        known = {os.getpid(), *(w.pid for w in self._live_workers()), *self.starter.helper_pids()}
        tree = self._tree.pids() if self._web_pid is None else [self._web_pid, *self._tree.pids()]
        return [p for p in tree if p not in known]

    def _live_workers(self) -> list[WorkerHandle]:
        return [w for w in self._workers if w is not None and w.state is not WorkerState.DEAD]

    def _fail_queued(self, exc: Exception) -> None:
        while True:
            try:
                _, fut = self._queue.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                fut.set_exception(exc)

    def _slot_loop(self, slot: int) -> None:
        while not self._should_exit.is_set():
            self._replace_if_dead(slot)
            if self.prestart and self._workers[slot] is None:
                # Keep a warm worker ready (also after a kill), so no batch waits for a start.
                try:
                    self._new_worker(slot)
                except WorkerStartFailed:
                    log.exception("slot %d: worker failed to start; retrying", slot)
                    self._should_exit.wait(1.0)
                    continue
            try:
                batch, fut = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if not fut.set_running_or_notify_cancel():
                continue
            cost = self.budget.estimate(batch.chars)
            if not self.budget.admit(cost, self._should_exit):
                fut.set_exception(EngineUnavailable("the engine stopped"))
                continue
            try:
                fut.set_result(self._run(slot, batch))
            except BaseException as exc:  # noqa: BLE001 - every failure belongs to the future
                fut.set_exception(exc)
            finally:
                self.budget.release(cost)

    def _replace_if_dead(self, slot: int) -> None:
        """A worker that died between batches (killed just after it answered, or from outside
        while idle: its pipe is readable) is counted and forgotten now, not charged to the next
        batch."""
        w = self._workers[slot]
        if w is not None and (w.state is WorkerState.KILLED or (w.state is WorkerState.IDLE and w.conn.poll(0))):
            self._workers[slot] = None
            w.died()

    def _new_worker(self, slot: int) -> WorkerHandle:
        w = self.starter.new_worker(data_limit=int(self.budget.hard_limit * DATA_LIMIT_FACTOR))
        w.events = self._events
        self._workers[slot] = w
        logs.event(log, "worker_start", worker=w.pid, slot=slot, start=self.starter.name,
                   start_s=w.start_s, rss=w.rss, uss=w.uss)
        self._emit("worker_start", worker=w.pid, slot=slot, start_s=round(w.start_s, 3))
        return w

    def _run(self, slot: int, batch: Batch) -> BatchResult:
        self._replace_if_dead(slot)
        w = self._workers[slot] or self._new_worker(slot)
        n = len(batch.emails)
        w.begin_batch()
        self.monitor.wake()  # it samples idle workers slowly: watch this one from now
        logs.event(log, "batch_start", logging.DEBUG, worker=w.pid, emails=n, chars=batch.chars,
                   rss=w.rss, uss=w.uss)
        t0 = time.perf_counter()
        try:
            protocol.send(w.conn, {"op": protocol.OP_BATCH, "id": w.tasks, "emails": batch.emails,
                                   "contexts": batch.contexts})
            reply = self._await_reply(w)
        except (EOFError, OSError):
            self._workers[slot] = None
            raise w.died(n) from None
        except ProtocolError:  # not our protocol: a worker we cannot trust any more
            w.kill("crashed")
            self._workers[slot] = None
            raise w.died(n) from None
        elapsed = time.perf_counter() - t0
        ok = reply["op"] == protocol.OP_RESULT
        w.end_batch(n if ok else 0, int(reply.get("rss", w.rss)), int(reply.get("uss", w.uss)))
        growth = int(reply.get("peak", 0)) - int(reply.get("rss_before", 0))
        self.budget.learn(batch.chars, growth)
        if not ok:
            logs.event(log, "batch_error", logging.WARNING, worker=w.pid, emails=n, error=reply.get("error"))
            if reply.get("memory"):
                # Refused by its data limit: the worker is alive but may be in a bad state.
                self._retire(slot, w, "data_limit")
                raise BatchFailed("data_limit", f"worker {w.pid}: {reply.get('error')}", w.pid)
            self._maybe_recycle(slot, w)
            raise BatchFailed("error", str(reply.get("error")), w.pid)
        logs.event(log, "batch_end", logging.DEBUG, worker=w.pid, emails=n, chars=batch.chars,
                   elapsed=elapsed, rss=w.rss, uss=w.uss, peak=int(reply.get("peak", 0)),
                   growth=growth, gc=reply.get("gc"))
        result = BatchResult(reply["analyses"], w.pid, elapsed, w.rss, w.uss,
                             {"peak": reply.get("peak"), "tasks": w.tasks})
        if len(result.analyses) != n:
            raise BatchFailed("error", f"worker returned {len(result.analyses)} analyses for {n} emails", w.pid)
        self._maybe_recycle(slot, w)
        return result

    def _await_reply(self, w: WorkerHandle) -> protocol.Message:
        deadline = time.monotonic() + self.settings.batch_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                w.kill("timeout", timeout=self.settings.batch_timeout)  # once; then wait for the pipe
                if remaining < -KILL_GRACE:
                    raise EOFError("worker did not die after SIGKILL")
                remaining = 0.5
            if w.conn.poll(min(remaining, 0.5)):
                return protocol.recv(w.conn)  # EOFError when the worker died

    def _maybe_recycle(self, slot: int, w: WorkerHandle) -> None:
        if w.tasks >= self.max_tasks:
            self._retire(slot, w, "max_tasks")
        elif w.uss > self.budget.soft_limit:
            self._retire(slot, w, "memory")

    def _retire(self, slot: int, w: WorkerHandle, reason: str) -> None:
        if w.state is not WorkerState.IDLE:
            return  # killed just after answering: _replace_if_dead counts it as the kill it was
        self._workers[slot] = None
        w.retire(reason, limit=self.budget.soft_limit)

    # -- metrics -------------------------------------------------------------------------------
    def metrics(self) -> EngineMetrics:
        if self.state is not ExecutorState.RUNNING:
            self.monitor.tick()  # not sampling on its own: measure now
        recycles, kills, done, quarantined, retried, peak, history = self.recorder.counters()
        live = self._live_workers()
        workers = [WorkerMetrics(w.pid, w.state, w.rss, w.uss, w.pss, w.tasks, w.emails, w.started_at, w.start_s)
                   for w in live]
        return EngineMetrics(
            mode=self.mode,
            start_method=self.starter.name,
            budget=self.budget.total,
            budget_source=self.budget.source,
            worker_hard_limit=self.budget.hard_limit,
            worker_soft_limit=self.budget.soft_limit,
            main_rss=self.monitor.main.rss,
            main_uss=self.monitor.main.uss,
            helper_pss=self.monitor.helpers_pss,
            total_pss=self.monitor.total_pss,
            peak_total_pss=peak,
            workers=workers,
            recycles=recycles,
            kills=kills,
            queue_depth=self._queue.qsize(),
            in_flight=sum(1 for w in live if w.state is WorkerState.BUSY),
            done=done,
            quarantined=quarantined,
            retried=retried,
            throughput=self.recorder.throughput(),
            bytes_per_char=round(self.budget.bytes_per_char, 1),
            history=history,
            zygotes=self.starter.helper_pids(),
        )


def worker_count(settings: Settings) -> int:
    return settings.workers if settings.workers > 0 else (os.cpu_count() or 1)
