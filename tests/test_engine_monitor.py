"""The memory watchdog's pace: fast while a worker is busy, once a second while none is (it
only ever kills busy workers), and woken at once when a batch starts. A real child process
stands in for the worker; no spaCy."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

from beacon.engine.budget import Budget
from beacon.engine.handle import WorkerHandle
from beacon.engine.metrics import MetricsRecorder
from beacon.engine.monitor import IDLE_INTERVAL, MemoryMonitor
from beacon.settings import Settings


class CountingMonitor(MemoryMonitor):
    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.ticks: list[float] = []

    def tick(self) -> None:
        super().tick()
        self.ticks.append(time.monotonic())

    def ticks_during(self, seconds: float) -> int:
        n = len(self.ticks)
        time.sleep(seconds)
        return len(self.ticks) - n


def test_watchdog_ticks_slowly_while_idle_and_wakes_for_a_batch(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    conn, _other = multiprocessing.Pipe()
    try:
        worker = WorkerHandle(child.pid, conn)
        budget = Budget(Settings(data_dir=tmp_path), slots=1)
        monitor = CountingMonitor(0.05, lambda: [worker], list, budget, MetricsRecorder())
        monitor.start()
        try:
            time.sleep(0.5)  # settle into the idle pace
            idle = monitor.ticks_during(2.5)
            assert idle <= 2.5 / IDLE_INTERVAL + 1, idle
            worker.begin_batch()
            started = time.monotonic()
            monitor.wake()
            time.sleep(0.3)
            woke = [t for t in monitor.ticks[:] if t >= started]
            # Its first tick, not its latest: a loaded machine may add one after the sleep ends.
            assert woke and woke[0] - started < 0.3, "a batch's start wakes the watchdog"
            busy = monitor.ticks_during(1.0)
            assert busy >= 8, busy  # ~20 at 0.05 s; a loaded machine gets fewer
            worker.end_batch(1, worker.rss, worker.uss)
            time.sleep(1.5)
            assert monitor.ticks_during(2.0) <= 2.0 / IDLE_INTERVAL + 1
        finally:
            monitor.stop()
        assert not monitor.running
    finally:
        child.kill()
        child.wait()
