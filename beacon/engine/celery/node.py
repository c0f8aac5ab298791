"""`beacon worker`: a Celery worker node that analyses batches inside Beacon's memory discipline.

The Celery process itself never imports spaCy. It runs Beacon's own ``pool`` executor
(:class:`~beacon.engine.pool.PoolExecutor`): a zygote loads the model once and forks warm
workers; the watchdog measures them *while they work* and SIGKILLs one that passes its hard
limit mid-batch (Celery's ``worker_max_memory_per_child`` only looks after a task ends); workers
are recycled after ``worker_max_tasks`` batches or when they grew past the soft limit; and the
node's processes together stay inside its share of the machine's budget
(``node_budget_share`` × ``memory_budget``). Celery's own pool is threads, one per slot: each
thread hands its batch to the local pool and waits.

A task never raises for a failed batch: it returns ``{"ok": false, "reason", "detail"}``
(:data:`~beacon.errors.FAILURE_REASONS`), so the main node's job runner learns *why* (a
timeout, a kill by the hard limit, a crash) and applies its attempt count and quarantine.
Every second the node publishes a heartbeat (:mod:`beacon.engine.celery.reports`): its
liveness for the main node, and its memory and throughput for ``/metrics`` and the System page.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

import redis
from celery import Task, signals

from beacon.analysis.version import pipeline_version
from beacon.engine import _logs as logs
from beacon.engine.celery.app import TASK_NAME, make_app, queue_name
from beacon.engine.celery.reports import REPORT_EVERY, ReportStore, report_from_metrics
from beacon.engine.executor import Batch
from beacon.engine.launch import make_starter
from beacon.engine.memory import resolve_budget
from beacon.engine.metrics import MetricsRecorder
from beacon.engine.pool import PoolExecutor
from beacon.errors import BatchFailed, EngineError
from beacon.settings import Settings

__all__ = ["WorkerNode", "node_settings"]

log = logging.getLogger("beacon.engine.celery")


def node_settings(settings: Settings) -> Settings:
    """The settings of a node's local pool: its share of the machine's budget made explicit."""
    machine, _ = resolve_budget(settings.memory_budget)
    return settings.model_copy(update={"memory_budget": int(machine * settings.node_budget_share)})


class WorkerNode:
    def __init__(self, settings: Settings, name: str, slots: int) -> None:
        self.settings = node_settings(settings)
        self.name = name if "@" in name else f"{name}@{socket.gethostname()}"
        self.slots = max(1, slots)
        self.version = pipeline_version(self.settings)
        self.queue = queue_name(self.settings)
        self.recorder = MetricsRecorder()
        self.pool = PoolExecutor(self.settings, self.recorder, mode="pool",
                                 starter=make_starter(self.settings, self.settings.pool_start),
                                 slots=self.slots, max_tasks=self.settings.worker_max_tasks, prestart=True)
        self.app = make_app(self.settings)

        def analyze_batch(task: Task, payload: dict[str, Any]) -> dict[str, Any]:
            return self.analyze_batch(str(task.request.id), payload)

        self.app.task(name=TASK_NAME, bind=True, ignore_result=False)(analyze_batch)
        self.reports = ReportStore(self.settings.broker_url)
        self._stop = threading.Event()
        self._seq = 0
        self._running: set[str] = set()  # task ids being analysed, for the heartbeat
        self._lock = threading.Lock()

    # -- the task ----------------------------------------------------------------------------------
    def analyze_batch(self, task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One batch, run by the local pool; the outcome as plain JSON."""
        batch = Batch(payload["emails"], int(payload.get("chars", 0)), contexts=payload.get("contexts"))
        with self._lock:
            self._running.add(task_id)
        try:
            r = self.pool.submit(batch).result()
        except BatchFailed as f:
            return {"ok": False, "reason": f.reason, "detail": f.detail, "worker": f.worker, "node": self.name}
        except EngineError as exc:
            # The local engine is stopping (a warm shutdown): not the batch's fault.
            return {"ok": False, "reason": "unavailable", "detail": str(exc), "worker": None, "node": self.name}
        finally:
            with self._lock:
                self._running.discard(task_id)
        self.recorder.completed(len(r.analyses))  # the node's own throughput, for its heartbeat
        return {"ok": True, "analyses": r.analyses, "worker": r.worker, "node": self.name,
                "elapsed": round(r.elapsed, 4), "rss": r.rss, "uss": r.uss}

    # -- life cycle --------------------------------------------------------------------------------
    def run(self, loglevel: str = "WARNING") -> None:
        """Start the local pool (the model loads), then serve the queue until Celery stops
        (SIGTERM / Ctrl-C: a warm shutdown lets started batches finish).

        The first heartbeat goes out once Celery consumes (``worker_ready``, sent by the
        consumer before it handles its first message): a node the main node counts as up takes
        batches at once, rather than after Celery's own start-up, and the main node knows it
        before it can see it start a batch."""
        self.pool.start()
        beat = threading.Thread(target=self._heartbeat, name="beacon-node-heartbeat", daemon=True)

        def ready(sender: Any = None, **_: Any) -> None:
            if getattr(sender, "app", None) is not self.app or beat.is_alive():
                return
            self._publish()
            beat.start()
            logs.event(log, "node_start", node=self.name, queue=self.queue, slots=self.slots,
                       budget=self.pool.budget.total, pid=os.getpid())

        signals.worker_ready.connect(ready, weak=False)
        try:
            self.app.worker_main([
                "worker", "--pool=threads", f"--concurrency={self.slots}", f"--hostname={self.name}",
                f"--queues={self.queue}", "--without-gossip", "--without-mingle", "--without-heartbeat",
                f"--loglevel={loglevel}",
            ])
        finally:
            signals.worker_ready.disconnect(ready)
            self._stop.set()
            self._publish(stopping=True)
            self.pool.stop()
            if beat.ident is not None:
                beat.join(timeout=5)
            try:
                self.reports.withdraw(self.name)
            except redis.RedisError:
                pass
            self.reports.close()
            logs.event(log, "node_stop", node=self.name)

    def _heartbeat(self) -> None:
        while not self._stop.wait(REPORT_EVERY):
            self._publish()

    def _publish(self, stopping: bool = False) -> None:
        self._seq += 1
        m = self.pool.metrics()
        with self._lock:
            running = sorted(self._running)
        report = report_from_metrics(m, name=self.name, host=socket.gethostname(), pid=os.getpid(),
                                     version=self.version, queue=self.queue, seq=self._seq, slots=self.slots,
                                     max_batch_chars=self.pool.max_batch_chars(), running=running,
                                     stopping=stopping)
        try:
            self.reports.publish(report)
        except redis.RedisError as exc:  # the broker is down: Celery waits for it, so do we
            log.debug("heartbeat not published: %s", exc)
