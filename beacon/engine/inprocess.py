"""The ``inprocess`` mode: spaCy in the calling process (simple; no isolation).

Useful for development and tiny installs. Nothing protects the main process here: a hang, a
crash or a memory blow-up in the pipeline is the main process's own. Batches run one at a time
under a lock, because a spaCy memory zone must not be shared between threads using one Vocab.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from concurrent.futures import Future

from beacon.engine import _logs as logs, memory
from beacon.engine.executor import Batch, BatchResult, ExecutorBase
from beacon.engine.metrics import EngineMetrics, MetricsRecorder
from beacon.engine.monitor import MemoryMonitor
from beacon.engine.worker import AnalyzeFn, load_analyze
from beacon.errors import BatchFailed, EngineUnavailable
from beacon.settings import Settings

__all__ = ["InProcessExecutor"]

log = logging.getLogger("beacon.engine.inprocess")


class InProcessExecutor(ExecutorBase):
    mode = "inprocess"

    def __init__(self, settings: Settings, recorder: MetricsRecorder) -> None:
        super().__init__()
        self.settings = settings
        self.recorder = recorder
        self._analyze: AnalyzeFn | None = None  # loaded once, kept across restarts
        self._batch_lock = threading.Lock()  # one batch at a time (memory zones, see above)
        self.budget_total, self.budget_source = memory.resolve_budget(settings.memory_budget)
        self.monitor = MemoryMonitor(settings.memory_sample_interval * 10, list, list, None, recorder)

    def _start(self) -> None:
        if self._analyze is None:
            t0 = time.perf_counter()
            self._analyze = load_analyze(self.settings)
            # Move the model (and everything loaded so far) out of the collector's view, as
            # workers do: the full collection after each batch then costs well under a
            # millisecond instead of ~45 ms.
            gc.freeze()
            logs.event(log, "model_loaded", load_s=time.perf_counter() - t0, rss=memory.rss())
        self.monitor.start()

    def _stop(self) -> None:
        self.monitor.stop()

    def submit(self, batch: Batch) -> Future[BatchResult]:
        fut: Future[BatchResult] = Future()
        fut.set_running_or_notify_cancel()
        with self._cond:
            accepting = self._accepting()
        analyze = self._analyze
        if not accepting or analyze is None:
            fut.set_exception(EngineUnavailable(f"the engine is {self.state}"))
            return fut
        with self._batch_lock:
            t0 = time.perf_counter()
            try:
                analyses = analyze(batch.emails, batch.contexts)
            except Exception as exc:  # noqa: BLE001 - reported like a worker's error
                fut.set_exception(BatchFailed("error", f"{type(exc).__name__}: {exc}", os.getpid()))
                return fut
            finally:
                memory.collect_and_trim()
            fut.set_result(BatchResult(analyses, os.getpid(), time.perf_counter() - t0, memory.rss()))
        return fut

    def capacity(self) -> int:
        return 1

    def max_batch_chars(self) -> int:
        return self.settings.batch_max_chars

    def metrics(self) -> EngineMetrics:
        recycles, kills, done, quarantined, retried, peak, history = self.recorder.counters()
        main = memory.sample(os.getpid()) or memory.MemSample(0, 0, 0)
        return EngineMetrics(
            mode=self.mode, start_method="none", budget=self.budget_total,
            budget_source=self.budget_source, worker_hard_limit=0, worker_soft_limit=0,
            main_rss=main.rss, main_uss=main.uss, helper_pss=0, total_pss=main.pss,
            peak_total_pss=max(peak, main.pss), workers=[], recycles=recycles, kills=kills,
            queue_depth=0, in_flight=0, done=done, quarantined=quarantined, retried=retried,
            throughput=self.recorder.throughput(), bytes_per_char=0.0, history=history,
        )
