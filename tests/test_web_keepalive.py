"""An idle keep-alive connection stays open longer than clients reuse one: a client that sends
its next request on a connection the server is just closing gets no answer at all ("Server
disconnected without sending a response"), which uvicorn's 5 s default made happen to web
clients pausing about as long (httpx also keeps idle connections 5 s)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from beacon.web.runtime import uvicorn_options
from tests.helpers import make_served
from tests.liveserver import live_server

IDLE = 6.0  # seconds: past uvicorn's default keep-alive, well within web_keep_alive's


def test_a_connection_idle_longer_than_uvicorns_default_is_still_answered(tmp_path: Path) -> None:
    srv, _ = make_served(tmp_path, engine=False)
    assert srv.settings.web_keep_alive > IDLE
    with live_server(srv.app, **uvicorn_options(srv.settings)) as port:
        # A client that keeps idle connections for 30 s (as a browser or a proxy does).
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(keepalive_expiry=30)) as c:
            first = c.get("/healthz")
            stream = first.extensions["network_stream"]
            time.sleep(IDLE)
            again = c.get("/healthz")
            assert again.status_code == 200
            assert again.extensions["network_stream"] is stream  # the same connection, reused
    srv.db.dispose()
