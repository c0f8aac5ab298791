"""Measuring and releasing process memory; finding the memory budget.

spaCy-free and cheap: the supervisor samples every worker several times a second.
USS/PSS come from ``/proc/<pid>/smaps_rollup`` (psutil reads it). PSS is the honest share of
pages shared between the zygote and its forked workers, so the sum of PSS over Beacon's
processes is what the kernel really charges to the cgroup.

Reading smaps_rollup makes the kernel walk the target's page tables: 4-10 ms of the *reader's*
CPU for a loaded spaCy worker (measured), while ``/proc/<pid>/statm`` is a counter read
(~15 us). Sampled 10 times a second for four processes, the walks alone took a third of a core
from the workers on a 2-core machine. :class:`MemoryGauge` therefore reads RSS at every sample
and walks the page tables only now and then, carrying USS/PSS forward by the change in RSS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import resource
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = [
    "DEFAULT_BUDGET", "GIB", "GaugeSet", "MB", "MemSample", "MemoryGauge", "OwnRss", "cgroup_memory_limit",
    "collect_and_trim", "limit_data_growth", "malloc_trim", "mb", "peak_rss", "reset_peak",
    "resolve_budget", "rss", "rss_fast", "sample",
]

MB = 1024 * 1024
GIB = 1024 * MB
DEFAULT_BUDGET = 2 * GIB
# cgroup v1 reports "no limit" as a huge page-aligned number rather than "max".
_UNLIMITED = 1 << 60


@dataclass(frozen=True)
class MemSample:
    rss: int
    uss: int
    pss: int


_GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, FileNotFoundError)


def sample(pid: int) -> MemSample | None:
    """RSS/USS/PSS of a process, or None when it is gone (or not ours to read)."""
    try:
        return _full_reading(psutil.Process(pid))
    except _GONE:
        return None


def _full_reading(proc: psutil.Process) -> MemSample | None:
    try:
        m = proc.memory_full_info()
    except _GONE:
        return None
    return MemSample(rss=m.rss, uss=m.uss, pss=getattr(m, "pss", m.uss))


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _statm_rss(statm: bytes) -> int:
    """The resident set size in bytes from a ``statm`` line (its second field, in pages)."""
    return int(statm.split()[1]) * _PAGE


def rss_fast(pid: int) -> int | None:
    """Resident set size from ``/proc/<pid>/statm`` (kernel counters, no page-table walk);
    None when the process is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return _statm_rss(f.read())
    except (OSError, ValueError, IndexError):
        return None


class OwnRss:
    """This process's RSS, read from its ``statm`` through a descriptor kept open: one
    ``pread`` a reading, where opening and parsing the file (psutil) costs ~8x the CPU; the web
    process reads it twice a request. A forked child opens its own."""

    def __init__(self) -> None:
        self._pid = -1
        self._fd = -1

    def __call__(self) -> int:
        if self._pid != os.getpid():
            self._open()
        return _statm_rss(os.pread(self._fd, 128, 0))

    def _open(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # a forked child's copy of its parent's descriptor
        self._pid, self._fd = os.getpid(), -1
        self._fd = os.open(f"/proc/{self._pid}/statm", os.O_RDONLY | os.O_CLOEXEC)

    def __del__(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)


class MemoryGauge:
    """Frequent, cheap readings of one process: RSS every time, USS/PSS from smaps_rollup at
    most every ``full_every`` seconds (or when asked), carried forward in between by the change
    in RSS. New allocations are private pages, so they move RSS, USS and PSS alike; what the
    carry-forward misses is copy-on-write breaking pages shared with the zygote (resident
    already, now private), which is bounded by the shared size and caught at the next full
    reading. Callers about to act on a reading (kill a worker) ask for a full one first."""

    def __init__(self, pid: int, full_every: float) -> None:
        self.pid = pid
        self.full_every = full_every
        self._proc: psutil.Process | None = None  # made once: its constructor reads /proc too
        self._full: MemSample | None = None
        self._full_at = float("-inf")
        self.exact = False  # whether the last reading was a full one

    def read(self, now: float, *, full: bool = False, every: float | None = None) -> MemSample | None:
        """``every``: this reading's own ``full_every`` (a process known to be idle can wait longer)."""
        if full or self._full is None or now - self._full_at >= (self.full_every if every is None else every):
            s = self._full_reading()
            if s is not None:
                self._full, self._full_at, self.exact = s, now, True
            return s
        current = rss_fast(self.pid)
        if current is None:
            return None
        self.exact = False
        delta = current - self._full.rss
        return MemSample(current, max(0, self._full.uss + delta), max(0, self._full.pss + delta))

    def _full_reading(self) -> MemSample | None:
        if self._proc is None:
            try:
                self._proc = psutil.Process(self.pid)
            except _GONE:
                return None
        return _full_reading(self._proc)


class GaugeSet:
    """One :class:`MemoryGauge` per process of a changing set (the watchdog's, a benchmark's)."""

    def __init__(self, full_every: float) -> None:
        self.full_every = full_every
        self._by_pid: dict[int, MemoryGauge] = {}

    def read(self, pid: int, now: float, *, full: bool = False, every: float | None = None) -> MemSample | None:
        gauge = self._by_pid.get(pid)
        if gauge is None:
            gauge = self._by_pid[pid] = MemoryGauge(pid, self.full_every)
        return gauge.read(now, full=full, every=every)

    def exact(self, pid: int) -> bool:
        """Whether the last reading of ``pid`` was a full one."""
        gauge = self._by_pid.get(pid)
        return gauge is not None and gauge.exact

    def keep(self, pids: set[int]) -> None:
        """Forget processes that are no longer watched (their pids may be reused)."""
        self._by_pid = {pid: g for pid, g in self._by_pid.items() if pid in pids}


def rss(pid: int | None = None) -> int:
    """Resident set size (``rss_fast``), 0 when the process is gone."""
    return rss_fast(pid or os.getpid()) or 0


def mb(n: int | float) -> float:
    return round(n / MB, 1)


# --- the budget ---------------------------------------------------------------


def _read_limit(path: Path) -> int | None:
    try:
        raw = path.read_text().strip()
    except OSError:
        return None
    if not raw or raw == "max":
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 < value < _UNLIMITED else None


def cgroup_memory_limit() -> int | None:
    """This process's cgroup memory limit in bytes (v2 ``memory.max`` or v1), if one is set."""
    root = Path("/sys/fs/cgroup")
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    candidates: list[Path] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if controllers == "":  # cgroup v2 unified hierarchy
            candidates += [root / rel / "memory.max", root / "memory.max"]
        elif "memory" in controllers.split(","):
            candidates += [
                root / "memory" / rel / "memory.limit_in_bytes",
                root / "memory" / "memory.limit_in_bytes",  # inside a container namespace
            ]
    limits = [v for v in (_read_limit(p) for p in candidates) if v is not None]
    return min(limits) if limits else None


def resolve_budget(configured: int) -> tuple[int, str]:
    """The memory budget for all Beacon processes together and where it came from."""
    if configured > 0:
        return configured, "setting"
    limit = cgroup_memory_limit()
    if limit is not None:
        return limit, "cgroup"
    return DEFAULT_BUDGET, "default"


# --- giving memory back -------------------------------------------------------


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


_LIBC = _libc()


def malloc_trim() -> bool:
    """Hand freed heap back to the OS (glibc). Most RSS left after a spaCy batch is freed
    memory the allocator keeps, which ``gc.collect()`` alone does not return."""
    fn = getattr(_LIBC, "malloc_trim", None) if _LIBC is not None else None
    if fn is None:
        return False
    return bool(fn(0))


_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_arenas(n: int) -> bool:
    """Let glibc use at most ``n`` malloc arenas from now on (``MALLOC_ARENA_MAX`` for a
    process already running). A threaded server otherwise gets up to 8 per core, each keeping
    its own freed memory; False when this libc cannot."""
    fn = getattr(_LIBC, "mallopt", None) if _LIBC is not None else None
    if fn is None or n <= 0:
        return False
    return bool(fn(_M_ARENA_MAX, n))


def collect_and_trim() -> int:
    """Full GC then ``malloc_trim(0)``; returns the number of objects the GC collected."""
    found = gc.collect()
    malloc_trim()
    return found


def reset_peak() -> bool:
    """Reset this process's VmHWM (peak RSS) so the next batch's peak can be read alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    """VmHWM of this process in bytes (0 when unknown)."""
    return _status_kb("VmHWM")


def _status_kb(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def limit_data_growth(extra: int) -> int:
    """Cap this process's data segment (heap + private anonymous maps) at its current size
    plus ``extra`` (``RLIMIT_DATA``). A backstop behind the sampling watchdog: the kernel
    refuses the allocation itself, so not even a burst between two samples gets past it
    (Python sees a MemoryError). Returns the limit set, 0 when none."""
    current = _status_kb("VmData")
    if extra <= 0 or current <= 0:
        return 0
    limit = current + extra
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    except (ValueError, OSError):
        return 0
    return limit
