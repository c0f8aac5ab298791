"""The memory watchdog: samples every Beacon process several times a second.

It measures workers *while they work* (not only between batches) and SIGKILLs a busy worker
that passes its hard limit, or the biggest busy worker when all processes together pass the
kill threshold of the budget — well before the kernel's OOM killer would pick a victim
(which could be the main process, or with cgroup v2 ``memory.oom.group`` the whole container).
Like Dask's nanny (100 ms) and Ray's memory monitor (250 ms), it polls; uWSGI's
``reload-on-rss`` only checks between requests, too late for one huge email.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from beacon.engine import logs
from beacon.engine.budget import Budget
from beacon.engine.launch import WorkerHandle
from beacon.engine.memory import MemSample, sample
from beacon.engine.metrics import MemoryPoint, MetricsRecorder

log = logging.getLogger("beacon.engine.monitor")


class MemoryMonitor:
    def __init__(
        self,
        interval: float,
        workers: Callable[[], list[WorkerHandle]],
        helpers: Callable[[], list[int]],
        budget: Budget | None,
        metrics: MetricsRecorder,
    ) -> None:
        self.interval = interval
        self._workers = workers
        self._helpers = helpers
        self.budget = budget
        self.metrics = metrics
        self.main = MemSample(0, 0, 0)
        self.helpers_pss = 0
        self.total_pss = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.tick()
        self._thread = threading.Thread(target=self._loop, name="beacon-engine-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the watchdog must keep running
                log.exception("memory monitor tick failed")

    def tick(self) -> None:
        main = sample(os.getpid()) or self.main
        helpers = [s for s in (sample(p) for p in self._helpers()) if s is not None]
        workers = [w for w in self._workers() if w.state != "dead"]
        for w in workers:
            s = sample(w.pid)
            if s is None:
                continue
            w.rss, w.uss, w.pss = s.rss, s.uss, s.pss
            if w.state == "busy":
                w.batch_peak_uss = max(w.batch_peak_uss, s.uss)
        helpers_pss = sum(h.pss for h in helpers)
        total = main.pss + helpers_pss + sum(w.pss for w in workers)
        self.main, self.helpers_pss, self.total_pss = main, helpers_pss, total
        if self.budget is not None:
            self.budget.observe(main.pss, sum(h.rss for h in helpers), total)
            self._enforce(workers, total)
        self.metrics.record_memory(
            MemoryPoint(time.time(), main.rss, {w.pid: w.rss for w in workers}, total)
        )

    def _enforce(self, workers: list[WorkerHandle], total: int) -> None:
        assert self.budget is not None
        busy = [w for w in workers if w.state == "busy" and w.kill_reason is None]
        hard = self.budget.hard_limit
        for w in busy:
            if w.uss > hard and w.kill(reason="hard_limit"):
                logs.event(log, "worker_kill", logging.WARNING, worker=w.pid, reason="hard_limit",
                           rss=w.rss, uss=w.uss, limit=hard, total=total)
        if total > self.budget.kill_threshold:
            alive = [w for w in busy if w.kill_reason is None]
            if alive:
                victim = max(alive, key=lambda w: w.uss)
                if victim.kill(reason="budget"):
                    logs.event(log, "worker_kill", logging.WARNING, worker=victim.pid, reason="budget",
                               rss=victim.rss, uss=victim.uss, total=total,
                               budget=self.budget.total)
