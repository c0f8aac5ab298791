"""A real ``beacon serve`` in a child process, for tests and benchmarks: a free port, its own
data directory and log, ready when ``/readyz`` says so, stopped by a signal of the caller's
choice."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["ServeProcess", "free_port"]

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """``beacon serve`` over ``data_dir`` (SQLite there unless ``env`` names a database)."""

    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None, demo: bool = False,
                 port: int | None = None, root: Path | None = None) -> None:
        """``root``: the checkout whose Beacon is served (None: this one)."""
        self.data_dir = data_dir
        self.root = root or ROOT
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"
        self.env = {**os.environ, "BEACON_DATA_DIR": str(data_dir), "BEACON_DATABASE_URL": "",
                    "BEACON_SYNC_INTERVAL": "0", "BEACON_SECRET_KEY": "", **(env or {})}
        if root is not None:  # ``-m`` puts the working directory first on sys.path: the checkout's
            self.env["PYTHONPATH"] = str(root)
        self.demo = demo
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 240.0) -> ServeProcess:
        cmd = [sys.executable, "-m", "beacon.cli.web", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.demo:
            cmd.append("--demo")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.root)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"beacon serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise RuntimeError(f"beacon serve not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> float:
        """Send ``sig`` and wait for the process to end; the seconds it took."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - t0

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
