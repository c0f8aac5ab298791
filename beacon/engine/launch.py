"""Starting worker processes: spawned fresh, or forked from a zygote that preloaded spaCy.

Both give a :class:`WorkerHandle` whose pipe speaks :mod:`beacon.engine._protocol`. Children are
started with ``subprocess`` (not ``multiprocessing``) so that their environment, allocator
settings included, is set explicitly without touching the main process's ``os.environ``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import reduction
from multiprocessing.connection import Connection
from typing import Protocol

from beacon.engine import _protocol as protocol
from beacon.engine.handle import WorkerHandle
from beacon.errors import ProtocolError, WorkerStartFailed
from beacon.settings import Settings

__all__ = ["START_TIMEOUT", "SpawnStarter", "Starter", "ZygoteStarter", "child_env", "make_starter"]

START_TIMEOUT = 120.0  # loading spaCy on a busy machine can take a while


def child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    # Workers are single-threaded by design (one per core): no BLAS thread pools fighting them.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    if settings.malloc_arena_max > 0:
        # Fewer glibc arenas and an eager trim threshold keep freed memory from lingering in
        # per-thread arenas (Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 for the same reason).
        env["MALLOC_ARENA_MAX"] = str(settings.malloc_arena_max)
        env["MALLOC_TRIM_THRESHOLD_"] = "131072"
    return env


def _spawn(role: str, settings: Settings, data_limit: int = 0) -> tuple[subprocess.Popen[bytes], Connection]:
    ours, theirs = protocol.socket_pair()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "beacon.engine._child", role, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=child_env(settings),
            stdin=subprocess.DEVNULL,
        )
    finally:
        theirs.close()
    protocol.send(ours, {"op": protocol.OP_INIT, "settings": settings.model_dump(mode="json"),
                         "data_limit": data_limit})
    return proc, ours


def _await_ready(conn: Connection, what: str) -> protocol.Message:
    if not conn.poll(START_TIMEOUT):
        raise WorkerStartFailed(f"{what} did not become ready within {START_TIMEOUT:.0f}s")
    try:
        msg = protocol.recv(conn)
    except (EOFError, OSError, ProtocolError) as exc:
        raise WorkerStartFailed(f"{what} exited while starting (see its stderr)") from exc
    if msg["op"] != protocol.OP_READY:
        raise WorkerStartFailed(f"{what} sent {msg['op']!r} instead of ready")
    return msg


class Starter(Protocol):
    name: str

    def start(self) -> None: ...
    def new_worker(self, data_limit: int = 0) -> WorkerHandle:
        """A ready worker; ``data_limit`` caps how much its heap may grow (RLIMIT_DATA)."""
        ...
    def stop(self) -> None: ...
    def helper_pids(self) -> list[int]: ...


class SpawnStarter:
    """Each worker is a fresh interpreter that imports spaCy and loads the model itself."""

    name = "spawn"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def start(self) -> None:
        pass

    def new_worker(self, data_limit: int = 0) -> WorkerHandle:
        t0 = time.perf_counter()
        proc, conn = _spawn("worker", self.settings, data_limit)
        try:
            ready = _await_ready(conn, f"worker {proc.pid}")
        except WorkerStartFailed:
            proc.kill()
            proc.wait()
            conn.close()
            raise
        return WorkerHandle(pid=proc.pid, conn=conn, proc=proc, start_s=time.perf_counter() - t0,
                            rss=ready.get("rss", 0), uss=ready.get("uss", 0))

    def stop(self) -> None:
        pass

    def helper_pids(self) -> list[int]:
        return []


class ZygoteStarter:
    """Workers are forked from one process that already imported spaCy and loaded the model:
    a worker is ready in milliseconds and shares the model's pages with its siblings."""

    name = "zygote"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: Connection | None = None
        self.load_s = 0.0

    def start(self) -> None:
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        proc, conn = _spawn("zygote", self.settings)
        try:
            ready = _await_ready(conn, "zygote")
        except WorkerStartFailed:
            proc.kill()
            proc.wait()
            conn.close()
            raise
        self._proc, self._control, self.load_s = proc, conn, float(ready.get("load_s", 0.0))

    def new_worker(self, data_limit: int = 0) -> WorkerHandle:
        t0 = time.perf_counter()
        ours, theirs = protocol.socket_pair()
        try:
            with self._lock:
                self._ensure_started()
                assert self._control is not None and self._proc is not None
                try:
                    protocol.send(self._control, {"op": protocol.OP_FORK, "data_limit": data_limit})
                    reduction.send_handle(self._control, theirs.fileno(), self._proc.pid)
                    if not self._control.poll(START_TIMEOUT):
                        raise WorkerStartFailed("zygote did not answer a fork request")
                    forked = protocol.recv(self._control)
                except (EOFError, OSError, ProtocolError) as exc:
                    self._proc.kill()
                    self._proc.wait()
                    self._proc = None
                    raise WorkerStartFailed("zygote died") from exc
        finally:
            theirs.close()
        pid = int(forked["pid"])
        try:
            ready = _await_ready(ours, f"worker {pid}")
        except WorkerStartFailed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            ours.close()
            raise
        return WorkerHandle(pid=pid, conn=ours, start_s=time.perf_counter() - t0,
                            rss=ready.get("rss", 0), uss=ready.get("uss", 0))

    def stop(self) -> None:
        with self._lock:
            if self._proc is None:
                return
            try:
                assert self._control is not None
                protocol.send(self._control, {"op": protocol.OP_STOP})
                self._control.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def helper_pids(self) -> list[int]:
        p = self._proc
        return [p.pid] if p is not None and p.poll() is None else []


def make_starter(settings: Settings, kind: str) -> Starter:
    return ZygoteStarter(settings) if kind == "zygote" else SpawnStarter(settings)
