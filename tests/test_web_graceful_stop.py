"""A graceful stop drops no request a client has already sent: a connection the server accepted
but had not read a request from yet (a new one, or a keep-alive one between requests) is given a
moment to begin it and is answered, with ``Connection: close``; a silent one is then closed and
the server ends. Stock uvicorn closes both at once, unanswered."""

from __future__ import annotations

import http.client
import socket
import time
from pathlib import Path

import pytest

from beacon.web import protocol
from beacon.web.runtime import uvicorn_options
from tests.helpers import make_served
from tests.liveserver import live_uvicorn


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_requests_sent_as_the_server_stops_are_answered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Wider than in production, so that a loaded test machine cannot outrun it.
    monkeypatch.setattr(protocol, "REQUEST_GRACE", 3.0)
    srv, _ = make_served(tmp_path, engine=False)
    with live_uvicorn(srv.app, **uvicorn_options(srv.settings)) as live:
        server, thread, port = live.server, live.thread, live.port
        deadline = time.monotonic() + 30
        fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        fresh.connect()
        kept = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        kept.request("GET", "/healthz")
        first = kept.getresponse()
        first.read()
        assert first.status == 200 and first.getheader("connection") != "close"
        silent = socket.create_connection(("127.0.0.1", port))
        while len(server.server_state.connections) < 3:
            assert time.monotonic() < deadline, server.server_state.connections
            time.sleep(0.01)

        # The server closes its listening socket and, in the same step, asks every connection to
        # shut down: once a connection is refused, the three have been asked.
        started = time.monotonic()
        server.should_exit = True
        while not _refused(port):
            assert time.monotonic() - started < 10
            time.sleep(0.01)
        for conn in (fresh, kept):
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            assert (r.status, r.read()) == (200, b'{"status":"ok"}'), r.status
            assert r.getheader("connection") == "close"
        thread.join(15)
        assert not thread.is_alive(), "the server did not end after the grace"
        assert silent.recv(1) == b""  # closed without a word: it never asked anything
        silent.close()
    srv.db.dispose()
