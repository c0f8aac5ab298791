"""The main process's memory per route: the request middleware counts how much each route's
requests grew the process, and hands free heap back after a request that grew it a lot."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from beacon.web.observability import RequestMemoryMiddleware
from beacon.web.prometheus import request_metrics

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


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in the metrics")
