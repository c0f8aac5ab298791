"""Per-request duration and memory: RSS before and after every request, logged.

A request that grows the process by more than ``settings.request_rss_warn`` bytes is logged
as a WARNING with its route, so a leaky endpoint shows up in the log before it shows up as an
OOM kill. The growth is also counted per route in ``/metrics`` (:class:`RequestMetrics`), and
after a request that grew the process by more than ``settings.request_trim_bytes``, or once
the process crept that much above where the last trim left it, the allocator is asked to hand
its free pages back (glibc keeps them otherwise). Only the route template
(``/api/emails/{email_id}``) and the path are logged, never query strings or bodies, so no
email text reaches the log.
"""

from __future__ import annotations

import logging
import time

import threading
from dataclasses import dataclass

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from beacon.engine.memory import OwnRss, malloc_trim

log = logging.getLogger("beacon.web.requests")

MIB = 1024 * 1024
# Seconds between trims asked for because the process crept up (many requests each growing it
# a little, in many threads' arenas) rather than because one request grew it a lot.
TRIM_EVERY = 1.0


@dataclass(frozen=True)
class RequestMetrics:
    """Per route (method, route template): duration by status, and how much the main
    process's RSS grew during its requests (summed, and the count of requests that grew it)."""

    duration: Histogram
    rss_grown: Counter
    rss_grew: Counter
    trims: Counter  # malloc_trim calls, by reason: request | crept


class RequestMemoryMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics, warn_bytes: int, trim_bytes: int = 0) -> None:
        self.app = app
        self.metrics = metrics
        self.warn_bytes = warn_bytes
        self.trim_bytes = trim_bytes
        self._rss = OwnRss()
        self._trimming = threading.Lock()  # one trim at a time is enough
        self._floor = 0  # RSS just after the last trim (0: none yet)
        self._trimmed_at = float("-inf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rss_before = self._rss()
        started = time.perf_counter()
        status_code = 500

        async def capture(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self._record(scope, status_code, started, rss_before)

    def _record(self, scope: Scope, status_code: int, started: float, rss_before: int) -> None:
        duration = time.perf_counter() - started
        rss_after = self._rss()
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        self.metrics.duration.labels(method, template, str(status_code)).observe(duration)
        grew = rss_after - rss_before
        if grew > 0:
            self.metrics.rss_grown.labels(method, template).inc(grew)
            self.metrics.rss_grew.labels(method, template).inc()
        if self.trim_bytes:
            self._trim(grew, rss_after)
        level = logging.WARNING if grew > self.warn_bytes else logging.INFO
        if template.startswith("/static") and level == logging.INFO:
            level = logging.DEBUG  # assets are many and boring
        log.log(
            level,
            "%s %s %d %.1fms rss %.1f->%.1f MiB (%+.1f)%s",
            method, scope.get("path", ""), status_code, duration * 1000,
            rss_before / MIB, rss_after / MIB, grew / MIB,
            " request grew the process" if level == logging.WARNING else "",
            extra={"route": template, "duration_ms": round(duration * 1000, 2),
                   "rss_before": rss_before, "rss_after": rss_after},
        )

    def _trim(self, grew: int, rss_after: int) -> None:
        """Hand glibc's free pages back after a request that grew the process by more than
        ``trim_bytes``, or when the process crept ``trim_bytes`` above where the last trim
        left it (at most every TRIM_EVERY seconds): concurrent requests each free what they
        allocated, but in a dozen arenas whose free pages glibc keeps."""
        now = time.monotonic()
        crept = rss_after - self._floor > self.trim_bytes and now - self._trimmed_at >= TRIM_EVERY
        if not (grew > self.trim_bytes or crept) or not self._trimming.acquire(blocking=False):
            return
        try:
            malloc_trim()
            self._floor, self._trimmed_at = self._rss(), now
            self.metrics.trims.labels("request" if grew > self.trim_bytes else "crept").inc()
        finally:
            self._trimming.release()
