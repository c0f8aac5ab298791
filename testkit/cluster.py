"""A throwaway celery-mode cluster for tests and benchmarks: a real ``redis-server`` (Debian's
package, on a free port, no persistence) and real ``beacon worker`` processes.

A missing ``redis-server`` fails loudly (``scripts/setup-system`` installs it); nothing is skipped.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis

__all__ = ["Node", "RedisServer", "free_port", "start_node"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed: run scripts/setup-system (Debian package redis-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # No persistence: a restart loses every queued message and result, the worst case.
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # like a crash: nothing is saved
            self.proc.wait()
        self.proc = None

    def restart(self, down_for: float = 1.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


@dataclass
class Node:
    name: str
    proc: subprocess.Popen[bytes]

    def children(self) -> list[psutil.Process]:
        """The node's analysis processes (the zygote's forked workers)."""
        try:
            return [p for p in psutil.Process(self.proc.pid).children(recursive=True) if p.name() == "beacon-worker"]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """kill -9 of the whole node (its zygote takes its workers down)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_node(name: str, broker: str, env: dict[str, str], *, slots: int = 1, cpus: str | None = None,
               budget_share: float = 0.0, quiet: bool = False) -> Node:
    """``beacon worker`` in a process of its own; ``cpus`` pins it (and its children) with taskset;
    ``quiet`` drops its output (Celery's banner)."""
    cmd = [sys.executable, "-m", "beacon.cli.main", "worker", "--name", name, "--slots", str(slots),
           "--broker", broker]
    if budget_share:
        cmd += ["--budget-share", str(budget_share)]
    if cpus is not None:
        taskset = shutil.which("taskset")
        if taskset is None:
            raise RuntimeError("taskset (util-linux) is not installed")
        cmd = [taskset, "-c", cpus, *cmd]
    out = subprocess.DEVNULL if quiet else None
    return Node(name, subprocess.Popen(cmd, env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=out))


def kill_random_child(nodes: list[Node], rng: random.Random) -> int | None:
    """kill -9 of one analysis child of ``nodes``, chosen by ``rng``; its pid, or None when
    there was none (or it was recycled meanwhile)."""
    children = [c for nd in nodes for c in nd.children()]
    if not children:
        return None
    child = rng.choice(children)
    try:
        child.kill()
    except psutil.Error:
        return None
    return child.pid
