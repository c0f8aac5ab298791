"""A real uvicorn server in a thread, for tests that need real sockets (body limits cut off
mid-stream, proxy headers), and a raw HTTP client that counts the bytes it got to send."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

__all__ = ["Live", "Pushed", "live_server", "live_uvicorn", "push_body"]


@dataclass
class Live:
    server: uvicorn.Server
    thread: threading.Thread
    port: int


@contextmanager
def live_uvicorn(app: Any, **options: Any) -> Iterator[Live]:
    """Serve ``app`` on a free local port until the block ends; the server and its thread are
    yielded too, for a test that stops it itself (``server.should_exit``)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (server.started and server.servers):
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Live(server, thread, server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(15)


@contextmanager
def live_server(app: Any, **options: Any) -> Iterator[int]:
    """Serve ``app`` on a free local port (yielded) until the block ends."""
    with live_uvicorn(app, **options) as live:
        yield live.port


@dataclass
class Pushed:
    sent: int  # body bytes the server took before it answered or hung up
    status: int | None  # its answer (None: it closed without one)
    body: bytes


def push_body(port: int, path: str, total: int, *, headers: dict[str, str] | None = None,
              chunked: bool = False, chunk: int = 256 * 1024, prefix: bytes = b"") -> Pushed:
    """POST a ``total``-byte body (``prefix`` then filler) in pieces, stopping as soon as the
    server answers or closes."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    head += ["Transfer-Encoding: chunked"] if chunked else [f"Content-Length: {total}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sent = 0
    piece = b"x" * chunk
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            data = (prefix if sent == 0 and prefix else piece)[: min(chunk, total - sent)]
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(data)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or len(answer) < 64:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return Pushed(sent, status, answer.partition(b"\r\n\r\n")[2])
