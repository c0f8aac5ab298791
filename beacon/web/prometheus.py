"""``/metrics`` in Prometheus format: process and worker memory, jobs, analyses, recycles, kills.

A custom collector reads everything at scrape time (engine snapshot + a few COUNT queries),
so nothing is double-counted and the numbers survive restarts where the database holds them.
Each app has its own registry: no module-level metric objects.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from beacon.analysis.version import pipeline_version
from beacon.engine.memory import rss
from beacon.engine.metrics import EngineMetrics
from beacon.engine.processes import ProcessTree, process_table
from beacon.store.schema import AnalysisJob, AnalysisRow, EmailRow, Run
from beacon.web.observability import RequestMetrics

__all__ = ["BeaconCollector", "Exposition", "register_metrics", "request_metrics"]

if TYPE_CHECKING:
    from beacon.web.state import WebState


class BeaconCollector(Collector):
    def __init__(self, st: WebState) -> None:
        self._st = st

    def collect(self) -> Iterator[Metric]:
        st = self._st
        yield GaugeMetricFamily("beacon_main_rss_bytes", "Resident memory of the web/main process", value=rss())
        service = st.engine.service if st.engine is not None else None
        m = service.metrics() if service is not None else None
        yield from self._engine(m)
        yield _processes(m, st.processes)
        yield from self._store(st)

    def _engine(self, m: EngineMetrics | None) -> Iterator[Metric]:
        up = GaugeMetricFamily("beacon_engine_up", "1 when the analysis engine runs in this server")
        up.add_metric([], 1 if m is not None else 0)
        yield up
        if m is None:
            return
        worker_rss = GaugeMetricFamily("beacon_worker_rss_bytes", "Resident memory per worker", labels=["pid", "state"])
        worker_uss = GaugeMetricFamily("beacon_worker_uss_bytes", "Unique memory per worker", labels=["pid", "state"])
        worker_tasks = GaugeMetricFamily("beacon_worker_tasks", "Batches done by a worker process", labels=["pid"])
        for w in m.workers:
            worker_rss.add_metric([str(w.pid), w.state], w.rss)
            worker_uss.add_metric([str(w.pid), w.state], w.uss)
            worker_tasks.add_metric([str(w.pid)], w.tasks)
        yield worker_rss
        yield worker_uss
        yield worker_tasks
        yield GaugeMetricFamily("beacon_engine_workers", "Live worker processes", value=len(m.workers))
        yield GaugeMetricFamily("beacon_memory_budget_bytes", "Memory budget of all Beacon processes", value=m.budget)
        yield GaugeMetricFamily("beacon_memory_total_pss_bytes", "PSS of all Beacon processes", value=m.total_pss)
        yield GaugeMetricFamily("beacon_memory_peak_total_pss_bytes", "Peak PSS of all Beacon processes", value=m.peak_total_pss)
        yield GaugeMetricFamily("beacon_engine_queue_depth", "Batches waiting for a worker", value=m.queue_depth)
        yield GaugeMetricFamily("beacon_engine_in_flight", "Batches being analysed", value=m.in_flight)
        yield GaugeMetricFamily("beacon_engine_throughput_emails_per_second", "Recent analysis rate", value=m.throughput)
        recycles = CounterMetricFamily("beacon_worker_recycles", "Workers replaced on purpose", labels=["reason"])
        for reason, n in sorted(m.recycles.items()):
            recycles.add_metric([reason], n)
        yield recycles
        kills = CounterMetricFamily("beacon_worker_kills", "Workers killed or lost", labels=["reason"])
        for reason, n in sorted(m.kills.items()):
            kills.add_metric([reason], n)
        yield kills
        yield CounterMetricFamily("beacon_engine_emails_analysed", "Emails analysed by this engine", value=m.done)
        yield CounterMetricFamily("beacon_engine_emails_retried", "Emails retried by this engine", value=m.retried)
        yield CounterMetricFamily("beacon_engine_emails_quarantined", "Emails quarantined by this engine", value=m.quarantined)
        yield from _nodes(m)

    def _store(self, st: WebState) -> Iterator[Metric]:
        with st.db.session() as s:
            version = pipeline_version(st.auth.settings(s, st.settings, None))
            jobs = s.execute(select(AnalysisJob.status, func.count()).group_by(AnalysisJob.status)).all()
            levels = s.execute(
                select(AnalysisRow.level, func.count())
                .where(AnalysisRow.pipeline_version == version)
                .group_by(AnalysisRow.level)
            ).all()
            runs = s.execute(select(Run.kind, Run.status, func.count()).group_by(Run.kind, Run.status)).all()
            emails = s.scalar(select(func.count(EmailRow.id)).where(EmailRow.deleted.is_(False))) or 0
        g = GaugeMetricFamily("beacon_analysis_jobs", "Analysis work items by status", labels=["status"])
        for status, n in jobs:
            g.add_metric([status], n)
        yield g
        g = GaugeMetricFamily("beacon_analyses", "Current analyses by priority level", labels=["level"])
        for level, n in levels:
            g.add_metric([level], n)
        yield g
        g = GaugeMetricFamily("beacon_runs", "Jobs (imports, analysis runs, syncs) by kind and status",
                              labels=["kind", "status"])
        for kind, status, n in runs:
            g.add_metric([kind, status], n)
        yield g
        yield GaugeMetricFamily("beacon_emails", "Stored emails", value=emails)


def _processes(m: EngineMetrics | None, tree: ProcessTree) -> Metric:
    """Every process this server started, by role (web, engine, zygote, worker, forkserver,
    parse-worker, ...), as the kernel's process tree has them: what the budget counts."""
    g = GaugeMetricFamily("beacon_process_rss_bytes", "Resident memory of each Beacon process, by role",
                          labels=["pid", "role"])
    g.add_metric([str(os.getpid()), "web"], rss())
    workers = {w.pid for w in m.workers} if m is not None else set()
    for p in process_table(workers, set(m.zygotes) if m is not None else set(), tree):
        g.add_metric([str(p.pid), p.role], p.rss)
    return g


def _nodes(m: EngineMetrics) -> Iterator[Metric]:
    """Celery mode: each `beacon worker` node and its workers, from the nodes' heartbeats."""
    if not m.nodes:
        return
    labels = ["node", "host"]
    up = GaugeMetricFamily("beacon_node_up", "1 while a worker node's heartbeat comes", labels=labels)
    slots = GaugeMetricFamily("beacon_node_slots", "Worker processes of a node", labels=labels)
    busy = GaugeMetricFamily("beacon_node_busy", "Batches a node is analysing", labels=labels)
    pss = GaugeMetricFamily("beacon_node_total_pss_bytes", "PSS of all of a node's processes", labels=labels)
    peak = GaugeMetricFamily("beacon_node_peak_total_pss_bytes", "Peak PSS of a node's processes", labels=labels)
    budget = GaugeMetricFamily("beacon_node_budget_bytes", "A node's share of its machine's budget", labels=labels)
    main = GaugeMetricFamily("beacon_node_main_rss_bytes", "Resident memory of a node's Celery process", labels=labels)
    rate = GaugeMetricFamily("beacon_node_throughput_emails_per_second", "A node's recent analysis rate", labels=labels)
    done = CounterMetricFamily("beacon_node_emails_analysed", "Emails a node analysed since it started", labels=labels)
    kills = CounterMetricFamily("beacon_node_worker_kills", "A node's workers killed", labels=[*labels, "reason"])
    recycles = CounterMetricFamily("beacon_node_worker_recycles", "A node's workers recycled", labels=[*labels, "reason"])
    for n in m.nodes:
        at = [n.name, n.host]
        up.add_metric(at, 1 if n.state == "up" else 0)
        slots.add_metric(at, n.slots)
        busy.add_metric(at, n.busy)
        pss.add_metric(at, n.total_pss)
        peak.add_metric(at, n.peak_total_pss)
        budget.add_metric(at, n.budget)
        main.add_metric(at, n.main_rss)
        rate.add_metric(at, n.throughput)
        done.add_metric(at, n.done)
        for reason, k in sorted(n.kills.items()):
            kills.add_metric([*at, reason], k)
        for reason, k in sorted(n.recycles.items()):
            recycles.add_metric([*at, reason], k)
    yield from (up, slots, busy, pss, peak, budget, main, rate, done, kills, recycles)
    wl = ["node", "pid", "state"]
    w_rss = GaugeMetricFamily("beacon_node_worker_rss_bytes", "Resident memory per worker of a node", labels=wl)
    w_uss = GaugeMetricFamily("beacon_node_worker_uss_bytes", "Unique memory per worker of a node", labels=wl)
    for w in m.workers:
        if w.node:
            w_rss.add_metric([w.node, str(w.pid), w.state], w.rss)
            w_uss.add_metric([w.node, str(w.pid), w.state], w.uss)
    yield w_rss
    yield w_uss


def register_metrics(st: WebState) -> RequestMetrics:
    """Register Beacon's collectors on the app's registry; returns the per-request metrics."""
    registry = st.registry
    ProcessCollector(registry=registry)
    registry.register(BeaconCollector(st))
    return request_metrics(registry)


def request_metrics(registry: CollectorRegistry) -> RequestMetrics:
    """The per-request metrics (duration, main-process growth per route) on ``registry``."""
    return RequestMetrics(
        duration=Histogram(
            "beacon_http_request_duration_seconds", "HTTP request duration", ["method", "route", "status"],
            registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        ),
        rss_grown=Counter(
            "beacon_http_request_rss_grown_bytes", "Main-process RSS growth during this route's requests "
            "(summed over the requests that grew it; concurrent requests share the blame)", ["method", "route"],
            registry=registry,
        ),
        rss_grew=Counter(
            "beacon_http_request_rss_grew", "Requests of this route during which the main process grew",
            ["method", "route"], registry=registry,
        ),
        trims=Counter(
            "beacon_malloc_trims", "Times the web process handed glibc's free heap back (malloc_trim), by why: "
            "one request grew it (request) or it crept up over many (crept)", ["reason"], registry=registry,
        ),
    )


class Exposition:
    """The registry in Prometheus's text format, made at most once per ``max_age`` seconds
    (0: every time, concurrent scrapes each making their own); within ``max_age``, concurrent
    scrapes wait for the one being made and share it."""

    def __init__(self, registry: CollectorRegistry, max_age: float) -> None:
        self.registry = registry
        self.max_age = max_age
        self._lock = threading.Lock()
        self._made: tuple[float, bytes] | None = None  # (monotonic time, text)

    def body(self) -> bytes:
        if self.max_age <= 0:  # nothing to share: concurrent scrapes make theirs side by side
            return generate_latest(self.registry)
        with self._lock:
            now = time.monotonic()
            if self._made is None or now - self._made[0] >= self.max_age:
                self._made = (now, generate_latest(self.registry))
            return self._made[1]
