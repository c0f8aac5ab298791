"""Where the web process's memory goes: ``tracemalloc`` snapshots, each diffed with the one
before, grouped by the source line that allocated.

Off by default (tracing slows every allocation and keeps a record of each live block); turned
on with ``settings.debug_tracemalloc`` (frames kept per allocation), read by an admin through
``GET /api/admin/debug/allocations`` (``bench/web_load.py --tracemalloc`` does it between
rounds). Only the lines that allocate are reported, never the memory's contents.
"""

from __future__ import annotations

import threading
import tracemalloc
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

__all__ = ["AllocationDiff", "AllocationSite", "AllocationTracer", "Grouping"]

Grouping = Literal["line", "traceback"]

# Allocations made by the tracer's own snapshots and by imports are not the server's growth.
_IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


class AllocationSite(BaseModel):
    where: str  # file:line of the innermost frame (the others follow in ``stack``)
    stack: list[str]
    size_diff: int  # bytes more (or fewer) live here than at the previous snapshot
    count_diff: int
    size: int  # bytes live here now
    count: int


class AllocationDiff(BaseModel):
    traced: int  # bytes tracemalloc sees live now
    traced_diff: int  # ... against the previous snapshot (0 for the first)
    peak: int
    snapshots: int  # snapshots taken since tracing began (this one included)
    sites: list[AllocationSite]  # the largest growths first


@dataclass
class AllocationTracer:
    frames: int
    _previous: tracemalloc.Snapshot | None = None
    _snapshots: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def start(self) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(self.frames)

    def stop(self) -> None:
        tracemalloc.stop()
        self._previous = None

    def diff(self, limit: int = 25, group: Grouping = "line") -> AllocationDiff:
        """A snapshot now, against the previous one (against nothing for the first), grouped
        by the allocating line or by the whole traced stack."""
        key = "lineno" if group == "line" else "traceback"
        with self._lock:
            snap = tracemalloc.take_snapshot().filter_traces(_IGNORED)
            traced, peak = tracemalloc.get_traced_memory()
            before = self._previous
            self._previous = snap
            self._snapshots += 1
            if before is None:
                stats = [_site(s.traceback, s.size, s.count, s.size, s.count) for s in snap.statistics(key)]
                traced_diff = 0
            else:
                stats = [_site(s.traceback, s.size_diff, s.count_diff, s.size, s.count)
                         for s in snap.compare_to(before, key)]
                traced_diff = sum(s.size_diff for s in stats)
        stats.sort(key=lambda s: s.size_diff, reverse=True)
        return AllocationDiff(traced=traced, traced_diff=traced_diff, peak=peak, snapshots=self._snapshots,
                              sites=stats[:limit])


def _site(tb: tracemalloc.Traceback, size_diff: int, count_diff: int, size: int, count: int) -> AllocationSite:
    stack = [f"{f.filename}:{f.lineno}" for f in reversed(tb)]  # the allocating line first
    return AllocationSite(where=stack[0] if stack else "?", stack=stack, size_diff=size_diff,
                          count_diff=count_diff, size=size, count=count)
