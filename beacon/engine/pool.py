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
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from beacon.engine import logs, protocol
from beacon.engine.budget import Budget
from beacon.engine.executor import Batch, BatchFailed, BatchResult
from beacon.engine.launch import EngineError, Starter, WorkerHandle
from beacon.engine.metrics import EngineMetrics, MetricsRecorder, WorkerMetrics
from beacon.engine.monitor import MemoryMonitor
from beacon.settings import Settings

log = logging.getLogger("beacon.engine.pool")

# A worker's heap may grow this much past the hard limit before the kernel refuses memory
# (RLIMIT_DATA): the watchdog normally kills it first; the limit catches bursts between samples.
DATA_LIMIT_FACTOR = 1.25
KILL_GRACE = 15.0  # seconds to wait for a SIGKILLed worker's pipe to close
EngineListener = Callable[[str, dict[str, Any]], None]


class PoolExecutor:
    def __init__(
        self,
        settings: Settings,
        metrics: MetricsRecorder,
        *,
        mode: str,
        starter: Starter,
        slots: int,
        max_tasks: int,
        prestart: bool,
    ) -> None:
        self.settings = settings
        self.mode = mode
        self.recorder = metrics
        self.starter = starter
        self.slots = max(1, slots)
        self.max_tasks = max(1, max_tasks)
        self.prestart = prestart
        self.budget = Budget(settings, self.slots)
        self._queue: queue.Queue[tuple[Batch, Future[BatchResult]]] = queue.Queue()
        self._workers: list[WorkerHandle | None] = [None] * self.slots
        self._busy = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listeners: list[EngineListener] = []
        self._started = False
        self.monitor = MemoryMonitor(
            settings.memory_sample_interval,
            lambda: [w for w in self._workers if w is not None],
            starter.helper_pids,
            self.budget,
            metrics,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._stopping.clear()
        self.starter.start()  # the zygote loads the model once, here (raises EngineError)
        self.monitor.start()
        self._threads = [
            threading.Thread(target=self._slot_loop, args=(i,), name=f"beacon-engine-slot-{i}", daemon=True)
            for i in range(self.slots)
        ]
        for t in self._threads:
            t.start()
        if self.prestart:  # return with warm workers, so the first batches do not wait
            deadline = time.monotonic() + 120
            while any(w is None for w in self._workers) and time.monotonic() < deadline:
                time.sleep(0.01)
        logs.event(log, "engine_start", mode=self.mode, start=self.starter.name, slots=self.slots,
                   budget=self.budget.total, budget_source=self.budget.source,
                   main_rss=self.monitor.main.rss)

    def stop(self, grace: float = 30.0) -> None:
        if not self._started:
            return
        self._stopping.set()
        self._fail_queued(EngineError("engine stopped"))
        deadline = time.monotonic() + grace
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        for w in self._workers:
            if w is not None and w.state == "busy":
                w.kill("stopping")
        for t in self._threads:
            t.join(timeout=10)
        for i, w in enumerate(self._workers):
            if w is not None:
                w.close()
                self._workers[i] = None
        self.starter.stop()
        self.monitor.stop()
        self._started = False
        logs.event(log, "engine_stop", mode=self.mode, main_rss=self.monitor.main.rss)

    def add_listener(self, fn: EngineListener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: EngineListener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, kind: str, **data: Any) -> None:
        for fn in list(self._listeners):
            try:
                fn(kind, data)
            except Exception:  # noqa: BLE001 - a listener must not break a slot
                log.exception("engine listener failed")

    # -- the executor interface --------------------------------------------------------------
    def submit(self, batch: Batch) -> Future[BatchResult]:
        fut: Future[BatchResult] = Future()
        if self._stopping.is_set() or not self._started:
            fut.set_exception(EngineError("engine is not running"))
            return fut
        self._queue.put((batch, fut))
        return fut

    def capacity(self) -> int:
        return self.slots * 2

    def max_batch_chars(self) -> int:
        return self.budget.max_batch_chars()

    # -- slots -------------------------------------------------------------------------------
    def _fail_queued(self, exc: Exception) -> None:
        while True:
            try:
                _, fut = self._queue.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                fut.set_exception(exc)

    def _slot_loop(self, slot: int) -> None:
        while not self._stopping.is_set():
            if self.prestart and self._workers[slot] is None:
                # Keep a warm worker ready (also after a kill), so no batch waits for a start.
                try:
                    self._ensure_worker(slot)
                except EngineError:
                    log.exception("slot %d: worker failed to start; retrying", slot)
                    self._stopping.wait(1.0)
                    continue
            try:
                batch, fut = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if not fut.set_running_or_notify_cancel():
                continue
            cost = self.budget.estimate(batch.chars)
            if not self.budget.admit(cost, self._stopping):
                fut.set_exception(EngineError("engine stopped"))
                continue
            try:
                fut.set_result(self._run(slot, batch))
            except BaseException as exc:  # noqa: BLE001 - every failure belongs to the future
                fut.set_exception(exc)
            finally:
                self.budget.release(cost)

    def _ensure_worker(self, slot: int) -> WorkerHandle:
        w = self._workers[slot]
        if w is not None and w.state != "dead":
            if not w.conn.poll(0):
                return w
            # An idle worker's pipe is readable only when it died (killed from outside):
            # replace it now rather than charge the next batch for it.
            self.recorder.killed(w.kill_reason or "crashed")
            logs.event(log, "worker_dead", logging.WARNING, worker=w.pid, reason="died_idle",
                       detail=w.exit_detail())
            w.reap()
        w = self.starter.new_worker(data_limit=int(self.budget.hard_limit * DATA_LIMIT_FACTOR))
        self._workers[slot] = w
        logs.event(log, "worker_start", worker=w.pid, slot=slot, start=self.starter.name,
                   start_s=w.start_s, rss=w.rss, uss=w.uss)
        self._emit("worker_start", worker=w.pid, slot=slot, start_s=round(w.start_s, 3))
        return w

    def _run(self, slot: int, batch: Batch) -> BatchResult:
        w = self._ensure_worker(slot)
        w.state, w.batch_peak_uss, w.kill_reason = "busy", w.uss, None
        n = len(batch.emails)
        logs.event(log, "batch_start", logging.DEBUG, worker=w.pid, emails=n, chars=batch.chars,
                   rss=w.rss, uss=w.uss)
        t0 = time.perf_counter()
        try:
            protocol.send(w.conn, {"op": protocol.OP_BATCH, "id": w.tasks, "emails": batch.emails,
                                   "contexts": batch.contexts})
            reply = self._await_reply(w)
        except (EOFError, OSError):
            raise self._worker_died(slot, w, n) from None
        except ValueError:  # not our protocol: a worker we cannot trust any more
            w.kill("crashed")
            raise self._worker_died(slot, w, n) from None
        elapsed = time.perf_counter() - t0
        w.tasks += 1
        w.rss, w.uss = int(reply.get("rss", w.rss)), int(reply.get("uss", w.uss))
        w.state = "idle"
        growth = int(reply.get("peak", 0)) - int(reply.get("rss_before", 0))
        self.budget.learn(batch.chars, growth)
        if reply["op"] == protocol.OP_ERROR:
            logs.event(log, "batch_error", logging.WARNING, worker=w.pid, emails=n, error=reply["error"])
            if reply.get("memory"):
                # Refused by its data limit: the worker is alive but may be in a bad state.
                self._retire(slot, w, "data_limit")
                raise BatchFailed("data_limit", f"worker {w.pid}: {reply['error']}", w.pid)
            self._maybe_recycle(slot, w)
            raise BatchFailed("error", reply["error"], w.pid)
        w.emails += n
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
                if w.kill("timeout"):
                    logs.event(log, "worker_kill", logging.WARNING, worker=w.pid, reason="timeout",
                               timeout=self.settings.batch_timeout, rss=w.rss, uss=w.uss)
                if remaining < -KILL_GRACE:
                    raise EOFError("worker did not die after SIGKILL")
                remaining = 0.5  # killed: wait for its pipe to close
            if w.conn.poll(min(remaining, 0.5)):
                return protocol.recv(w.conn)  # EOFError when the worker died

    def _worker_died(self, slot: int, w: WorkerHandle, n: int) -> BatchFailed:
        reason = w.kill_reason or "crashed"
        detail = w.exit_detail()
        w.reap()
        self._workers[slot] = None
        self.recorder.killed(reason)
        logs.event(log, "worker_dead", logging.WARNING, worker=w.pid, reason=reason, detail=detail,
                   emails=n, rss=w.rss, uss=w.uss, peak_uss=w.batch_peak_uss)
        self._emit("worker_killed", worker=w.pid, reason=reason, detail=detail,
                   uss=w.batch_peak_uss, emails=n)
        return BatchFailed(reason, f"worker {w.pid} {detail} (uss peak {w.batch_peak_uss // 2**20} MB)", w.pid)

    def _maybe_recycle(self, slot: int, w: WorkerHandle) -> None:
        if w.tasks >= self.max_tasks:
            reason = "max_tasks"
        elif w.uss > self.budget.soft_limit:
            reason = "memory"
        else:
            return
        self._retire(slot, w, reason)
        level = logging.DEBUG if self.max_tasks == 1 else logging.INFO  # oneshot: every batch
        logs.event(log, "worker_recycle", level, worker=w.pid, reason=reason, tasks=w.tasks,
                   rss=w.rss, uss=w.uss, limit=self.budget.soft_limit)
        if self.max_tasks > 1:
            self._emit("worker_recycled", worker=w.pid, reason=reason, tasks=w.tasks, uss=w.uss)

    def _retire(self, slot: int, w: WorkerHandle, reason: str) -> None:
        w.close()
        self._workers[slot] = None
        self.recorder.recycled(reason)

    # -- metrics -------------------------------------------------------------------------------
    def metrics(self) -> EngineMetrics:
        if not self._started:
            self.monitor.tick()  # not sampling on its own yet: measure now
        recycles, kills, done, quarantined, retried, peak, history = self.recorder.counters()
        workers = [
            WorkerMetrics(w.pid, w.state, w.rss, w.uss, w.pss, w.tasks, w.emails, w.started_at, w.start_s)
            for w in self._workers
            if w is not None and w.state != "dead"
        ]
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
            in_flight=sum(1 for w in self._workers if w is not None and w.state == "busy"),
            done=done,
            quarantined=quarantined,
            retried=retried,
            throughput=self.recorder.throughput(),
            bytes_per_char=round(self.budget.bytes_per_char, 1),
            history=history,
        )


def worker_count(settings: Settings) -> int:
    return settings.workers if settings.workers > 0 else (os.cpu_count() or 1)
