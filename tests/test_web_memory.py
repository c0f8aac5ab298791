"""The main process's memory per route: the request middleware counts how much each route's
requests grew the process, and hands free heap back after a request that grew it a lot (or after
many that crept up together); an admin can see where the memory goes (tracemalloc snapshots
diffed) when tracing is on."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from beacon.web.auth import create_user
from beacon.web.observability import RequestMemoryMiddleware
from beacon.web.prometheus import request_metrics
from tests.helpers import PASSWORD, make_served

MB = 1024 * 1024


def test_route_growth_is_counted_per_route() -> None:
    held: list[bytearray] = []
    app = FastAPI()

    @app.get("/grow/{n}")
    def grow(n: int) -> dict[str, int]:
        block = bytearray(n * MB)
        block[::4096] = b"\x01" * len(block[::4096])  # touched: resident, not lazy zero pages
        held.append(block)
        return {"held": len(held)}

    @app.get("/small")
    def small() -> dict[str, str]:
        return {"ok": "yes"}

    registry = CollectorRegistry()
    app.add_middleware(RequestMemoryMiddleware, metrics=request_metrics(registry), warn_bytes=16 * MB,
                       trim_bytes=4 * MB)
    with TestClient(app) as c:
        for _ in range(3):
            assert c.get("/grow/48").status_code == 200
        for _ in range(5):
            assert c.get("/small").status_code == 200
    text = generate_latest(registry).decode()
    grown = _sample(text, 'beacon_http_request_rss_grown_bytes_total{method="GET",route="/grow/{n}"}')
    assert grown >= 3 * 40 * MB  # three requests, each holding 48 MB more
    assert _sample(text, 'beacon_http_request_rss_grew_total{method="GET",route="/grow/{n}"}') == 3
    assert _sample(text, 'beacon_http_request_duration_seconds_count{method="GET",route="/small",status="200"}') == 5


CREEP = """
import time
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from beacon.web.observability import TRIM_EVERY, RequestMemoryMiddleware
from beacon.web.prometheus import request_metrics

MB = 1024 * 1024
held = []
app = FastAPI()

@app.get("/creep")
def creep():
    held.append(b"\\x01" * MB)  # ~1 MB live (and touched) per request
    return {"held": len(held)}

registry = CollectorRegistry()
app.add_middleware(RequestMemoryMiddleware, metrics=request_metrics(registry), warn_bytes=16 * MB, trim_bytes=4 * MB)

def crept():
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith('beacon_malloc_trims_total{reason="crept"} '):
            return float(line.split()[-1])
    return 0.0

with TestClient(app) as c:
    c.get("/creep")  # the first trim: where the process starts from
    time.sleep(TRIM_EVERY)
    for _ in range(2):  # ~2 MB above it: no trim
        c.get("/creep")
    before = crept()
    for _ in range(5):  # ~7 MB above it
        c.get("/creep")
    print(before, crept(), 'reason="request"' in generate_latest(registry).decode())
"""


def test_a_process_creeping_up_over_many_small_requests_is_trimmed() -> None:
    """No request grows the process by ``trim_bytes``, but together they do: the allocator is
    asked to hand its free pages back once the process is that far above the last trim. In a
    fresh process: a big one (this test run's) may serve the requests from free heap it has."""
    out = subprocess.run([sys.executable, "-c", CREEP], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["1.0", "2.0", "False"], out.stdout + out.stderr


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in the metrics")


def test_allocation_diffs_show_the_line_that_grew(tmp_path: Path) -> None:
    srv, lifespan = make_served(tmp_path, engine=False, debug_tracemalloc=1)
    with srv.db.session() as s:
        create_user(s, "bob", PASSWORD, admin=False)
    with lifespan:
        assert tracemalloc.is_tracing()
        admin, _ = srv.login(lifespan)
        first = admin.get("/api/admin/debug/allocations").json()
        assert first["snapshots"] == 1 and first["traced_diff"] == 0 and first["sites"]
        held = [bytes(1000) + bytes([i % 256]) for i in range(8000)]  # ~8 MB live, from this line
        diff = admin.get("/api/admin/debug/allocations", params={"limit": 5}).json()
        assert diff["snapshots"] == 2 and len(diff["sites"]) == 5
        top = diff["sites"][0]
        assert top["where"].startswith(__file__) and top["count_diff"] >= 8000
        assert top["size_diff"] >= 8 * 1000 * 1000 and diff["traced_diff"] >= 7 * MB
        by_stack = admin.get("/api/admin/debug/allocations", params={"group": "traceback"}).json()
        assert by_stack["sites"][0]["stack"]
        bob = srv.client()
        assert bob.post("/api/login", json={"username": "bob", "password": PASSWORD}).status_code == 200
        assert bob.get("/api/admin/debug/allocations").status_code == 403
        del held
    assert not tracemalloc.is_tracing()  # the app's end stops the tracing it started


def test_allocation_diffs_are_off_by_default(tmp_path: Path) -> None:
    srv, lifespan = make_served(tmp_path, engine=False)
    with lifespan:
        admin, _ = srv.login(lifespan)
        r = admin.get("/api/admin/debug/allocations")
        assert r.status_code == 404 and "off" in r.json()["detail"]
        assert not tracemalloc.is_tracing()


def test_switch_interval_is_set_for_the_apps_life(tmp_path: Path) -> None:
    """The engine's threads in the web process get the GIL back after each blocking call within
    ``web_switch_interval`` (not Python's 5 ms); the process's own value returns afterwards."""
    before = sys.getswitchinterval()
    srv, lifespan = make_served(tmp_path, engine=False, web_switch_interval=0.0007)
    with lifespan:
        assert sys.getswitchinterval() == pytest.approx(0.0007)
        admin, _ = srv.login(lifespan)
        assert admin.get("/api/emails").status_code == 200
    assert sys.getswitchinterval() == pytest.approx(before)


@pytest.mark.parametrize(("setting", "expected"), [(512 * 1024, -512), (0, -2000)])
def test_web_process_sqlite_connections_get_a_small_page_cache(tmp_path: Path, setting: int, expected: int) -> None:
    """Each connection's page cache is the web process's to size (SQLite's default: 2,000 KiB)."""
    from sqlalchemy import text

    srv, _ = make_served(tmp_path, engine=False, web_sqlite_cache=setting)
    with srv.db.session() as s:
        assert s.execute(text("PRAGMA cache_size")).scalar() == expected
    srv.db.dispose()
