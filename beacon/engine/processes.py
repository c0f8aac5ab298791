"""Every process this one started, read from the kernel's process tree rather than from our
own bookkeeping: a process that some code path forgot still shows here, is listed in
``/api/engine`` and is counted against the memory budget.

Walking the tree reads ``/proc`` for every process on the machine, so :class:`ProcessTree`
keeps the answer for a short while (the memory monitor asks several times a second).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from beacon.engine.memory import rss_fast

__all__ = ["ProcessInfo", "ProcessTree", "descendants", "own_descendants", "process_table"]

TREE_TTL = 1.0  # seconds a tree walk is reused


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    parent: int
    name: str
    # engine (the engine process of ``engine_process``) | zygote | worker (the engine's),
    # forkserver | parse-worker | resource-tracker (imports' multiprocessing), other (nothing
    # Beacon knows it started: a leak to look into)
    role: str
    rss: int
    nice: int  # CPU priority (higher: served after the others)
    policy: str  # the kernel's scheduling policy: other | batch | idle | ... ("" if unknown)


def descendants(pid: int | None = None) -> list[psutil.Process]:
    """Children, grandchildren, ... of ``pid`` (this process) that are still alive."""
    try:
        kids = psutil.Process(pid or os.getpid()).children(recursive=True)
    except psutil.Error:
        return []
    return [k for k in kids if _alive(k)]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _beacons(p: psutil.Process, own_cmdline: list[str]) -> bool:
    """Whether ``p`` is Beacon's own: an engine process (the engine process of ``engine_process``,
    zygote, workers, leaked or not), a
    multiprocessing helper of imports, or forked from this process. Other programs a test or
    a supervisor started below us (a Redis server, a separate ``beacon worker`` node) have
    budgets of their own."""
    try:
        cmd = p.cmdline()
    except psutil.Error:
        return False
    line = " ".join(cmd)
    return (cmd == own_cmdline or "beacon.engine._child" in line or "beacon.engine.remote" in line
            or "multiprocessing" in line)


def own_descendants(root: int | None = None) -> list[psutil.Process]:
    """The live descendants of ``root`` (this process) that are Beacon's own (see
    :func:`_beacons`), found by walking down through Beacon's processes only: the subtree of
    another program started below it (a separate ``beacon serve`` or ``beacon worker``, with
    its own engine) is not ours."""
    try:
        me = psutil.Process(root)
        own = me.cmdline()
    except psutil.Error:
        return []
    kids = _children_of if _CHILDREN_LISTS else _scan_children(me)
    found: list[psutil.Process] = []
    todo = [me.pid]
    while todo:
        for k in kids(todo.pop()):
            if _alive(k) and _beacons(k, own):
                found.append(k)
                todo.append(k.pid)
    return found


def _children_of(pid: int) -> list[psutil.Process]:
    """``pid``'s children from the kernel's per-thread lists (``/proc/PID/task/TID/children``):
    a read of our own few processes, where psutil reads every process on the machine (the
    engine process's watchdog walks the tree each second; on a busy machine that cost more
    than the rest of the watchdog)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []  # gone
    pids: set[int] = set()
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                pids.update(int(p) for p in f.read().split())
        except (OSError, ValueError):
            continue  # the thread ended in between
    return [p for p in map(_process, sorted(pids)) if p is not None]


# Whether the kernel keeps those lists (CONFIG_PROC_CHILDREN); psutil's scan otherwise.
_CHILDREN_LISTS = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _scan_children(me: psutil.Process) -> Callable[[int], list[psutil.Process]]:
    """Children by parent from one pass over ``/proc`` (psutil; children() per process would
    read every process on the machine once per level)."""
    kids: dict[int, list[psutil.Process]] = {}
    try:
        below = me.children(recursive=True)
    except psutil.Error:
        below = []
    for k in below:
        try:
            kids.setdefault(k.ppid(), []).append(k)
        except psutil.Error:
            continue
    return lambda pid: kids.get(pid, [])


class ProcessTree:
    """The pids of ``root``'s (this process's) descendants that are Beacon's own (see
    :func:`_beacons`), walked at most once per ``ttl`` seconds."""

    def __init__(self, ttl: float = TREE_TTL, root: int | None = None) -> None:
        self.ttl = ttl
        self.root = root
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._pids: list[int] = []

    def pids(self, expect: set[int] | frozenset[int] = frozenset()) -> list[int]:
        """The pids, walked again when the last walk is ``ttl`` old or lacks one of ``expect``
        (processes the caller knows were started since: the engine's new workers)."""
        with self._lock:
            now = time.monotonic()
            if now - self._at >= self.ttl or not expect <= set(self._pids):
                self._pids, self._at = [p.pid for p in own_descendants(self.root)], now
            return list(self._pids)


def process_table(workers: set[int], helpers: set[int], tree: ProcessTree | None = None) -> list[ProcessInfo]:
    """Every live descendant of Beacon's own (what the budget counts) with its role. With
    ``tree``, which processes those are comes from its last walk (one that knows every one of
    ``workers`` and ``helpers``); each one's figures are read now, and the dead left out."""
    if tree is None:
        procs = own_descendants()
    else:
        procs = [p for p in map(_process, tree.pids(workers | helpers)) if p is not None and _alive(p)]
    found = []
    for p in procs:
        try:
            found.append((p.pid, p.ppid(), p.name(), " ".join(p.cmdline()), p.nice(), _policy(p.pid)))
        except psutil.Error:
            continue
    forkservers = {pid for pid, _, _, cmd, _, _ in found if "forkserver" in cmd}
    table = []
    for pid, parent, name, cmd, nice, policy in found:
        table.append(ProcessInfo(pid, parent, name, _role(pid, parent, cmd, workers, helpers, forkservers),
                                 rss_fast(pid) or 0, nice, policy))
    return table


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


_POLICIES = {getattr(os, f"SCHED_{n.upper()}"): n for n in ("other", "batch", "idle", "fifo", "rr")
             if hasattr(os, f"SCHED_{n.upper()}")}


def _policy(pid: int) -> str:
    try:
        return _POLICIES.get(os.sched_getscheduler(pid), "")
    except (OSError, AttributeError):
        return ""


def _role(pid: int, parent: int, cmd: str, workers: set[int], helpers: set[int], forkservers: set[int]) -> str:
    if pid in workers:
        return "worker"
    if pid in helpers:
        return "engine" if "beacon.engine.remote" in cmd else "zygote"
    if pid in forkservers:
        return "forkserver"
    if parent in forkservers:
        return "parse-worker"
    if "resource_tracker" in cmd:
        return "resource-tracker"
    return "other"
