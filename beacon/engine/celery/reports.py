"""Node heartbeats: each `beacon worker` publishes what it is and how it fares, once a second.

A report is one JSON value in the broker's Redis under ``beacon:node:<name>`` with a short
expiry. The main node reads them all: to know which nodes are alive (a node whose report
stopped coming is dead and the batches it had started are failed), how much work to keep in
flight, and for ``/metrics`` and the System page (per node and per worker). Plain data: a
report is parsed and validated, never unpickled.
"""

from __future__ import annotations

import logging
import time

import redis
from pydantic import BaseModel, ValidationError

from beacon.engine.metrics import EngineMetrics, NodeMetrics, WorkerMetrics

__all__ = ["KEY_PREFIX", "NodeReport", "REPORT_EVERY", "ReportStore", "report_from_metrics"]

log = logging.getLogger("beacon.engine.celery")

KEY_PREFIX = "beacon:node:"
REPORT_EVERY = 1.0  # seconds between heartbeats
REPORT_TTL = 60  # seconds Redis keeps a report; liveness is judged by its timestamp


class WorkerReport(BaseModel):
    pid: int
    state: str
    rss: int
    uss: int
    pss: int
    tasks: int
    emails: int
    started_at: float
    start_s: float


class NodeReport(BaseModel):
    name: str  # the Celery node name, e.g. beacon-a@host
    host: str
    pid: int
    version: str  # the pipeline version it serves
    queue: str
    sent_at: float  # wall clock of the node
    seq: int  # increases with every report: liveness without trusting clocks to agree
    slots: int
    busy: int
    max_batch_chars: int
    budget: int
    worker_hard_limit: int
    worker_soft_limit: int
    main_rss: int
    total_pss: int
    peak_total_pss: int
    done: int
    throughput: float
    recycles: dict[str, int]
    kills: dict[str, int]
    workers: list[WorkerReport]
    running: list[str] = []  # ids of the tasks it is analysing now
    stopping: bool = False

    def node_metrics(self, state: str, seen_s: float) -> NodeMetrics:
        return NodeMetrics(self.name, self.host, self.pid, state, self.slots, self.busy, self.budget,
                           self.worker_hard_limit, self.worker_soft_limit, self.main_rss, self.total_pss,
                           self.peak_total_pss, self.done, self.throughput, dict(self.recycles),
                           dict(self.kills), round(seen_s, 1))

    def worker_metrics(self) -> list[WorkerMetrics]:
        return [WorkerMetrics(w.pid, w.state, w.rss, w.uss, w.pss, w.tasks, w.emails, w.started_at, w.start_s,
                              node=self.name) for w in self.workers]


def report_from_metrics(m: EngineMetrics, *, name: str, host: str, pid: int, version: str, queue: str,
                        seq: int, slots: int, max_batch_chars: int, running: list[str],
                        stopping: bool = False) -> NodeReport:
    return NodeReport(
        name=name, host=host, pid=pid, version=version, queue=queue, sent_at=time.time(), seq=seq,
        slots=slots, busy=m.in_flight, max_batch_chars=max_batch_chars, budget=m.budget,
        worker_hard_limit=m.worker_hard_limit, worker_soft_limit=m.worker_soft_limit,
        main_rss=m.main_rss, total_pss=m.total_pss, peak_total_pss=m.peak_total_pss, done=m.done,
        throughput=round(m.throughput, 2), recycles=m.recycles, kills=m.kills, running=running,
        stopping=stopping,
        workers=[WorkerReport(pid=w.pid, state=w.state, rss=w.rss, uss=w.uss, pss=w.pss, tasks=w.tasks,
                              emails=w.emails, started_at=w.started_at, start_s=w.start_s) for w in m.workers],
    )


class ReportStore:
    """Reading and writing reports; every call may raise ``redis.RedisError`` (broker down)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)

    def publish(self, report: NodeReport) -> None:
        self.client.set(KEY_PREFIX + report.name, report.model_dump_json(), ex=REPORT_TTL)

    def withdraw(self, name: str) -> None:
        self.client.delete(KEY_PREFIX + name)

    def read_all(self) -> list[NodeReport]:
        keys = list(self.client.scan_iter(match=KEY_PREFIX + "*", count=100))
        if not keys:
            return []
        out = []
        for raw in self.client.mget(keys):
            if raw is None:
                continue
            try:
                out.append(NodeReport.model_validate_json(raw))
            except ValidationError:
                log.warning("ignoring a malformed node report: %.200r", raw)
        return out

    def close(self) -> None:
        self.client.close()
