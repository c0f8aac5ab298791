"""In-process engine metrics: what the web app exports and ``beacon engine status`` shows.

One :class:`MetricsRecorder` per engine, written by the supervisor's threads and read as an
immutable :class:`EngineMetrics` snapshot. Everything kept over time is bounded (ring buffers),
so the recorder never makes the main process grow.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

__all__ = [
    "EngineMetrics", "HISTORY_LEN", "HISTORY_SECONDS", "MemoryPoint", "MetricsRecorder", "NodeMetrics",
    "THROUGHPUT_WINDOW", "WorkerMetrics",
]

HISTORY_SECONDS = 1.0  # one memory sample per second goes into the plot history
HISTORY_LEN = 900  # 15 minutes
THROUGHPUT_WINDOW = 30.0  # seconds


@dataclass(frozen=True)
class WorkerMetrics:
    pid: int
    state: str  # idle | busy | stopping | dead
    rss: int
    uss: int
    pss: int
    tasks: int  # batches done by this process
    emails: int
    started_at: float
    start_s: float  # how long it took to become ready
    node: str = ""  # the `beacon worker` node it belongs to (celery mode); "" = this machine's pool


@dataclass(frozen=True)
class NodeMetrics:
    """One `beacon worker` node (celery mode), as its last heartbeat described it."""

    name: str
    host: str
    pid: int
    state: str  # up | lost
    slots: int
    busy: int
    budget: int  # this node's share of its machine's budget
    worker_hard_limit: int
    worker_soft_limit: int
    main_rss: int  # the node's Celery process
    total_pss: int  # all the node's processes together
    peak_total_pss: int
    done: int  # emails analysed by the node since it started
    throughput: float
    recycles: dict[str, int]
    kills: dict[str, int]
    seen_s: float  # seconds since its last heartbeat


@dataclass(frozen=True)
class MemoryPoint:
    """One point of the memory plot, in bytes: the RSS of the main (web) process, of each
    worker, of the engine process (``engine_process``; 0 when the engine runs in the main
    process) and of the zygote(s), and the PSS of all Beacon's processes together."""

    timestamp: float
    main_rss: int
    workers: dict[int, int]
    total_pss: int
    engine_rss: int = 0
    zygote_rss: int = 0


@dataclass(frozen=True)
class EngineMetrics:
    mode: str
    start_method: str
    budget: int
    budget_source: str
    worker_hard_limit: int
    worker_soft_limit: int
    main_rss: int  # the main (web) process
    main_uss: int
    helper_pss: int  # the zygote, when there is one, and the engine process (engine_process)
    total_pss: int  # all Beacon processes together, as the kernel charges them
    peak_total_pss: int
    workers: list[WorkerMetrics]
    recycles: dict[str, int]  # by reason: max_tasks | memory
    kills: dict[str, int]  # by reason: timeout | hard_limit | budget | crashed
    queue_depth: int  # batches waiting for a worker
    in_flight: int
    done: int
    quarantined: int
    retried: int
    throughput: float  # emails per second over the last THROUGHPUT_WINDOW seconds
    bytes_per_char: float  # learned cost of analysing one character (peak growth)
    pending_jobs: int = 0  # jobs waiting in the store (filled in by EngineService)
    nodes: list[NodeMetrics] = field(default_factory=list)  # celery mode: the worker nodes
    history: list[MemoryPoint] = field(default_factory=list)
    zygotes: list[int] = field(default_factory=list)  # pids of the processes workers fork from
    engine_rss: int = 0  # the engine process (engine_process); 0 when the engine is in the main process


class MetricsRecorder:
    """Thread-safe counters and ring buffers behind :class:`EngineMetrics`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.recycles: Counter[str] = Counter()
        self.kills: Counter[str] = Counter()
        self.done = 0
        self.quarantined = 0
        self.retried = 0
        self._completions: deque[tuple[float, int]] = deque(maxlen=4096)
        self.history: deque[MemoryPoint] = deque(maxlen=HISTORY_LEN)
        self.peak_total_pss = 0

    def recycled(self, reason: str) -> None:
        with self._lock:
            self.recycles[reason] += 1

    def killed(self, reason: str) -> None:
        with self._lock:
            self.kills[reason] += 1

    def completed(self, n: int) -> None:
        with self._lock:
            self.done += n
            self._completions.append((time.monotonic(), n))

    def add_quarantined(self, n: int = 1) -> None:
        with self._lock:
            self.quarantined += n

    def add_retried(self, n: int) -> None:
        with self._lock:
            self.retried += n

    def record_memory(self, point: MemoryPoint) -> None:
        with self._lock:
            self.peak_total_pss = max(self.peak_total_pss, point.total_pss)
            if not self.history or point.timestamp - self.history[-1].timestamp >= HISTORY_SECONDS:
                self.history.append(point)

    def throughput(self) -> float:
        now = time.monotonic()
        with self._lock:
            recent = [(t, n) for t, n in self._completions if now - t <= THROUGHPUT_WINDOW]
        if not recent:
            return 0.0
        span = max(now - recent[0][0], 1.0)
        return sum(n for _, n in recent) / span

    def counters(self) -> tuple[dict[str, int], dict[str, int], int, int, int, int, list[MemoryPoint]]:
        with self._lock:
            return (dict(self.recycles), dict(self.kills), self.done, self.quarantined,
                    self.retried, self.peak_total_pss, list(self.history))
