"""The memory watchdog: samples every Beacon process several times a second.

It measures workers *while they work* (not only between batches) and SIGKILLs a busy worker
that passes its hard limit, or the biggest busy worker when all processes together pass the
kill threshold of the budget — well before the kernel's OOM killer would pick a victim
(which could be the main process, or with cgroup v2 ``memory.oom.group`` the whole container).
Like Dask's nanny (100 ms) and Ray's memory monitor (250 ms), it polls; uWSGI's
``reload-on-rss`` only checks between requests, too late for one huge email.

Each tick reads RSS (a counter); USS/PSS come from a full reading every 2 s per busy worker
(every 10 s for idle workers, the main process and the zygote, which do not analyse) and are carried
forward by RSS in between (:class:`~beacon.engine.memory.MemoryGauge`), and a kill is decided
on a fresh full reading. Full readings at every tick cost the main process a third of a core
on a 2-core machine, taken from the very workers it watches. With no batch under way the
watchdog ticks once a second (nothing it could kill is working); a batch's start wakes it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from beacon.engine.budget import Budget
from beacon.engine.handle import WorkerHandle, WorkerState
from beacon.engine.memory import MB, GaugeSet, MemSample
from beacon.engine.metrics import MemoryPoint, MetricsRecorder

__all__ = ["FAST_GROWTH", "FAST_INTERVAL", "FULL_EVERY", "FULL_EVERY_OTHERS", "IDLE_INTERVAL", "MemoryMonitor"]

log = logging.getLogger("beacon.engine.monitor")

FAST_GROWTH = 200 * MB  # bytes/s: a worker growing faster than this is watched closely
FAST_INTERVAL = 0.02
# Seconds between full (page-table walking) readings of a process; RSS is read at every tick.
# A walk of a loaded worker costs ~10 ms of the main process's CPU (py-spy, 4 KiB pages).
FULL_EVERY = 2.0
# ... of the processes that are not analysing (main, zygote, idle workers, an import's parse
# workers): their memory moves slowly, and RSS still follows it at every tick.
FULL_EVERY_OTHERS = 10.0
# Seconds between ticks while no worker is busy (the budget only ever kills busy workers).
IDLE_INTERVAL = 1.0


class MemoryMonitor:
    def __init__(
        self,
        interval: float,
        workers: Callable[[], list[WorkerHandle]],
        helpers: Callable[[], list[int]],
        budget: Budget | None,
        recorder: MetricsRecorder,
        others: Callable[[], list[int]] = list,
        web: int | None = None,
    ) -> None:
        """``helpers``: the engine's own non-worker processes (the zygote), part of the fixed
        cost the worker limits are derived from; ``others``: every other process below this
        one (an import's parse workers), counted in the total the budget is enforced on;
        ``web``: the web process when this one is the engine process (one of ``others``):
        the plot shows it as the main process, and this one as the engine process."""
        self.interval = interval
        self._workers = workers
        self._helpers = helpers
        self._others = others
        self.budget = budget
        self.recorder = recorder
        self.web = web
        self.main = MemSample(0, 0, 0)
        self.helpers_pss = 0
        self.total_pss = 0
        self._stop = threading.Event()
        self._wake = threading.Event()  # a batch started: sample now, then at ``interval``
        self._thread: threading.Thread | None = None
        self._next_interval = interval
        self._last: dict[int, tuple[float, int]] = {}  # pid -> (time, uss) of the last sample
        self._rates: dict[int, float] = {}  # pid -> USS growth in bytes/s (busy workers)
        self._gauges = GaugeSet(FULL_EVERY)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        # A restarted executor needs a live watchdog again: stop() left the flag set.
        self._stop.clear()
        self.tick()
        self._thread = threading.Thread(target=self._loop, name="beacon-engine-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        """Whether the watchdog thread is sampling on its own."""
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def wake(self) -> None:
        """A worker is about to work: watch it from now on at the busy pace. Only a watchdog at
        the idle pace is woken: an extra tick otherwise would measure growth rates over a
        sliver of time and project them over a whole interval."""
        if self._next_interval > self.interval:
            self._next_interval = self.interval
            self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._next_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the watchdog must keep running
                log.exception("memory monitor tick failed")

    def tick(self) -> None:
        now = time.monotonic()
        slow = FULL_EVERY_OTHERS
        main = self._gauges.read(os.getpid(), now, every=slow) or self.main
        helper_pids = self._helpers()
        helpers = [s for s in (self._gauges.read(p, now, every=slow) for p in helper_pids) if s is not None]
        other_pids = [p for p in self._others() if p not in helper_pids]
        by_pid = {p: self._gauges.read(p, now, every=slow) for p in other_pids}
        others = [s for s in by_pid.values() if s is not None]
        workers = self._workers()
        rates: dict[int, float] = {}
        for w in workers:
            s = self._gauges.read(w.pid, now, every=None if w.state is WorkerState.BUSY else slow)
            if s is None:
                continue
            w.observe(s)
            if w.state is WorkerState.BUSY:
                t_prev, uss_prev = self._last.get(w.pid, (now, s.uss))
                if now > t_prev:
                    rates[w.pid] = max(0.0, (s.uss - uss_prev) / (now - t_prev))
            self._last[w.pid] = (now, s.uss)
        self._rates = rates
        live = {w.pid for w in workers}
        self._last = {pid: v for pid, v in self._last.items() if pid in live}
        live |= {os.getpid(), *helper_pids, *other_pids}
        self._gauges.keep(live)
        helpers_pss = sum(h.pss for h in helpers)
        total = main.pss + helpers_pss + sum(o.pss for o in others) + sum(w.pss for w in workers)
        self.main, self.helpers_pss, self.total_pss = main, helpers_pss, total
        if self.budget is not None:
            self.budget.observe(main.pss, sum(h.rss for h in helpers), total)
            self._enforce(workers, total, now)
        web = by_pid.get(self.web) if self.web is not None else None
        self.recorder.record_memory(MemoryPoint(
            time.time(), web.rss if web is not None else main.rss, {w.pid: w.rss for w in workers}, total,
            engine_rss=main.rss if self.web is not None else 0, zygote_rss=sum(h.rss for h in helpers),
        ))

    def _confirm(self, w: WorkerHandle, now: float) -> int:
        """The worker's USS from a full reading (estimates are re-read before acting on them)."""
        if not self._gauges.exact(w.pid):
            s = self._gauges.read(w.pid, now, full=True)
            if s is not None:
                self.total_pss += s.pss - w.pss
                w.observe(s)
        return w.uss

    def _enforce(self, workers: list[WorkerHandle], total: int, now: float) -> None:
        assert self.budget is not None
        busy = [w for w in workers if w.state is WorkerState.BUSY]
        hard = self.budget.hard_limit
        # Judge where each worker will be at the next sample, not only where it is: a worker
        # allocating at GB/s would otherwise overshoot by a whole interval's growth.
        ahead = self.interval
        growth = {w.pid: self._rates.get(w.pid, 0.0) * ahead for w in busy}
        for w in busy:
            if w.uss + growth[w.pid] > hard and self._confirm(w, now) + growth[w.pid] > hard:
                w.kill("hard_limit", limit=hard, total=total, rate_mb_s=round(self._rates.get(w.pid, 0.0) / MB, 1))
        projected = total + sum(growth.values())
        if projected > self.budget.kill_threshold:
            for w in busy:  # about to kill: judge on full readings, not carried-forward ones
                self._confirm(w, now)
            total = self.total_pss
            projected = total + sum(growth.values())
        # Near the limit, or with a worker growing fast, look more often.
        fast = any(r > FAST_GROWTH for r in self._rates.values())
        near = projected > self.budget.kill_threshold * 0.6
        if fast or near:
            self._next_interval = min(self.interval, FAST_INTERVAL)
        else:
            self._next_interval = self.interval if busy else max(self.interval, IDLE_INTERVAL)
        if projected > self.budget.kill_threshold:
            alive = [w for w in busy if w.state is WorkerState.BUSY]
            if alive:
                victim = max(alive, key=lambda w: w.uss + growth[w.pid])
                victim.kill("budget", total=total, budget=self.budget.total)
