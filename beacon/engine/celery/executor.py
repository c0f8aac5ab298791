"""The ``celery`` executor: the main node's side. Batches go out as Celery tasks; outcomes come
back through the result backend, and the job runner settles them exactly as in ``pool`` mode.

Why results come back to the runner rather than being written by the nodes: the job row,
its lease and its attempt count stay in one process, the one that claimed the job. A node
never opens the database, so it needs no credentials for it, a node that dies cannot leave a
half-written result, and a batch delivered or run twice is settled once: the runner takes the
first outcome of the one task it is waiting for and writes it fenced by its lease
(``jobs.complete``). This also lets celery mode run over SQLite: only the main node writes.

What happens to a batch (one :class:`_Task` each, phases ``outbox → queued → started``):

- **outbox**: waiting to be published (also while the broker is down: sent when it is back);
- **queued**: published with an expiry; if no node has started it after
  ``celery_requeue_after`` seconds (a broker restarted without persistence lost it) it goes
  back to the outbox under a new task id. Nothing ran, so no attempt is used; the old message,
  should it turn up, has expired and every node drops it;
- **started** (the backend names the node): it ends with the node's outcome, or fails with
  ``node_lost`` when that node's heartbeat stops (killed, machine gone), or ``timeout`` past
  ``batch_timeout`` plus the heartbeat timeout (the node enforces ``batch_timeout`` itself).
  A failed batch is the runner's to retry alone, count and quarantine, as in ``pool`` mode.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import redis
from celery import states
from kombu.exceptions import KombuError

from beacon.analysis.version import pipeline_version
from beacon.engine import _logs as logs, memory
from beacon.engine.celery.app import TASK_NAME, make_app, queue_name
from beacon.engine.celery.reports import NodeReport, ReportStore
from beacon.engine.celery.wakeups import ResultWakeups
from beacon.engine.executor import Batch, BatchResult, ExecutorBase, ExecutorState
from beacon.engine.metrics import EngineMetrics, MemoryPoint, MetricsRecorder
from beacon.errors import BatchFailed, EngineUnavailable, WorkerStartFailed
from beacon.settings import Settings

__all__ = ["CeleryExecutor"]

log = logging.getLogger("beacon.engine.celery")

# Seconds between looks at the tasks in flight when nothing wakes the loop earlier (a batch
# submitted, a state stored by a node): timeouts, lost tasks and missed wake-ups.
TICK = 0.1
NODES_EVERY = 0.5  # seconds between reads of the node heartbeats
BROKER_WAIT = 15.0  # seconds start() waits for an unreachable broker before it fails
# Broker and backend errors that mean "Redis is not reachable now": wait and try again.
_BROKER_DOWN = (redis.RedisError, KombuError, OSError, ConnectionError, TimeoutError)


class Phase(StrEnum):
    OUTBOX = "outbox"
    QUEUED = "queued"
    STARTED = "started"


@dataclass
class _Task:
    batch: Batch
    future: Future[BatchResult]
    phase: Phase = Phase.OUTBOX
    task_id: str = ""
    sent_at: float = 0.0
    started_at: float = 0.0
    node: str = ""
    sends: int = 0
    missing_since: float = 0.0  # started, yet its node's heartbeats stopped listing it


@dataclass
class _Node:
    report: NodeReport
    changed_at: float  # monotonic time (ours) its heartbeat last moved


@dataclass
class _Nodes:
    """What the heartbeats say; judged by our clock only (``seq`` moving), never the nodes'."""

    known: dict[str, _Node] = field(default_factory=dict)
    read_ok_since: float = 0.0  # heartbeats cannot be judged during a broker outage
    none_since: float = 0.0  # when the last live node serving our version disappeared
    lost: dict[str, int] = field(default_factory=dict)  # kills counted here: node_lost


class CeleryExecutor(ExecutorBase):
    mode = "celery"

    def __init__(self, settings: Settings, recorder: MetricsRecorder) -> None:
        super().__init__()
        self.settings = settings
        self.recorder = recorder
        self.version = pipeline_version(settings)
        self.queue = queue_name(settings)
        self._sender = make_app(settings, results=False)
        self._backend = make_app(settings).backend  # read by polling; no result subscriptions
        self._reports = ReportStore(settings.broker_url)
        self._tasks: list[_Task] = []  # guarded by self._cond
        self._nodes = _Nodes()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()  # work for the loop now: a submission, a stored state
        self._wakeups = ResultWakeups(settings.broker_url, self._wake)
        self._main = memory.MemSample(0, 0, 0)
        self._gauge = memory.MemoryGauge(os.getpid(), full_every=2.0)

    # -- life cycle (see ExecutorBase) ----------------------------------------------------------
    def _start(self) -> None:
        """Reach the broker (or fail clearly). Nodes need not be up yet: a server starts before
        its nodes do, and a run waits for one (``_check_nodes_left``)."""
        deadline = time.monotonic() + min(self.settings.celery_start_timeout, BROKER_WAIT)
        while True:
            try:
                self._read_nodes(time.monotonic())
                break
            except _BROKER_DOWN as exc:
                if time.monotonic() > deadline or self._should_exit.is_set():
                    raise WorkerStartFailed(f"cannot reach the broker at {self._where()}: {exc}") from exc
                time.sleep(NODES_EVERY)
        self._nodes.none_since = 0.0
        self._thread = threading.Thread(target=self._loop, name="beacon-celery-executor", daemon=True)
        self._thread.start()
        self._wakeups.start()
        logs.event(log, "engine_start", mode=self.mode, broker=self._where(), queue=self.queue,
                   nodes=sorted(self._live()), slots=self._slots())

    def _stop(self) -> None:
        self._wake.set()
        self._wakeups.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._cond:
            tasks, self._tasks = self._tasks, []
        queued = [t.task_id for t in tasks if t.phase is Phase.QUEUED and t.task_id]
        for t in tasks:
            _fail(t, EngineUnavailable("the engine stopped"))
        if queued:  # best effort: their expiry drops them anyway
            try:
                self._sender.control.revoke(queued)
            except _BROKER_DOWN:
                pass
        logs.event(log, "engine_stop", mode=self.mode)

    # -- the executor interface -------------------------------------------------------------------
    def submit(self, batch: Batch) -> Future[BatchResult]:
        fut: Future[BatchResult] = Future()
        with self._cond:
            if self._accepting():
                self._tasks.append(_Task(batch, fut))
                self._wake.set()  # published now, not a tick later
                return fut
        fut.set_exception(EngineUnavailable(f"the engine is {self.state}"))
        return fut

    def capacity(self) -> int:
        # Two batches per slot of every live node: one running, one waiting in the queue.
        return max(1, 2 * self._slots())

    def max_batch_chars(self) -> int:
        sizes = [n.report.max_batch_chars for n in self._live().values()]
        return min(sizes) if sizes else self.settings.batch_max_chars

    # -- the loop ---------------------------------------------------------------------------------
    def _loop(self) -> None:
        last_nodes = 0.0
        while not self._should_exit.is_set():
            self._wake.wait(TICK)
            self._wake.clear()
            if self._should_exit.is_set():
                return
            now = time.monotonic()
            try:
                if now - last_nodes >= NODES_EVERY:
                    last_nodes = now
                    self._read_nodes(now)
                    self._check_nodes_left(now)
                self._publish_outbox(now)
                self._poll(now)
            except _BROKER_DOWN as exc:
                self._nodes.read_ok_since = 0.0
                log.warning("broker unreachable (%s): retrying", exc)
                self._should_exit.wait(0.5)
            except Exception:  # noqa: BLE001 - the loop must keep settling batches
                log.exception("celery executor tick failed")

    def _publish_outbox(self, now: float) -> None:
        with self._cond:
            waiting = [t for t in self._tasks if t.phase is Phase.OUTBOX]
        for t in waiting:
            if t.future.cancelled():
                self._forget(t)
                continue
            task_id = uuid.uuid4().hex
            payload = {"emails": t.batch.emails, "contexts": t.batch.contexts, "chars": t.batch.chars}
            # The expiry makes a copy that surfaces after we gave up on it harmless: dropped.
            self._sender.send_task(TASK_NAME, args=[payload], task_id=task_id, queue=self.queue,
                                   expires=self.settings.celery_requeue_after)
            t.task_id, t.sent_at, t.phase, t.sends = task_id, now, Phase.QUEUED, t.sends + 1
            if t.sends > 1:
                logs.event(log, "batch_resent", task=task_id, emails=len(t.batch.emails), sends=t.sends)
                self._emit("batch_resent", emails=len(t.batch.emails), sends=t.sends)

    def _poll(self, now: float) -> None:
        with self._cond:
            sent = [t for t in self._tasks if t.phase is not Phase.OUTBOX]
        if not sent:
            return
        # One round trip for every task in flight (a GET each cost the main process a third of
        # the CPU a node spends analysing, and Redis as much again, with a whole job queued).
        raws = self._backend.mget([self._backend.get_key_for_task(t.task_id) for t in sent])
        for t, raw in zip(sent, raws, strict=True):
            if t.future.cancelled():
                self._forget(t)
                continue
            meta = self._backend.decode_result(raw) if raw else {"status": states.PENDING, "result": None}
            status = meta.get("status")
            if status == states.SUCCESS:
                self._settle(t, meta.get("result"))
            elif status == states.FAILURE:
                exc = meta.get("result")
                self._finish(t, error=BatchFailed("crashed", f"task failed on {t.node or 'a node'}: "
                                                              f"{type(exc).__name__}: {exc}"))
            elif status == states.STARTED or t.phase is Phase.STARTED:
                if t.phase is not Phase.STARTED:
                    info = meta.get("result") if isinstance(meta.get("result"), dict) else {}
                    t.phase, t.started_at, t.node = Phase.STARTED, now, str(info.get("hostname", ""))
                self._check_started(t, now)
            elif status == states.REVOKED or now - t.sent_at > self.settings.celery_requeue_after:
                # Never started: lost in the broker, or expired unseen. Send it again.
                self._backend.client.delete(self._backend.get_key_for_task(t.task_id))
                t.phase = Phase.OUTBOX

    def _check_started(self, t: _Task, now: float) -> None:
        node = self._nodes.known.get(t.node)
        if t.node and self._is_dead(node, now, t.started_at):
            self._nodes.lost[t.node] = self._nodes.lost.get(t.node, 0) + 1
            self.recorder.killed("node_lost")
            self._emit("worker_killed", worker=None, node=t.node, reason="node_lost", emails=len(t.batch.emails))
            self._finish(t, error=BatchFailed("node_lost", f"node {t.node} stopped answering while analysing "
                                                            f"{len(t.batch.emails)} email(s)"))
        elif node is not None and self._outcome_lost(t, node, now):
            # It ran, but its outcome is gone (the broker restarted between the two): nothing
            # was saved, so it is sent again, like a batch lost in the queue.
            logs.event(log, "batch_outcome_lost", logging.WARNING, task=t.task_id, node=t.node)
            t.phase, t.missing_since = Phase.OUTBOX, 0.0
        elif now - t.started_at > self.settings.batch_timeout + self.settings.celery_node_timeout:
            self._finish(t, error=BatchFailed("timeout", f"no outcome from node {t.node} after "
                                                          f"{now - t.started_at:.0f} s"))

    def _outcome_lost(self, t: _Task, node: _Node, now: float) -> bool:
        """Its node no longer runs it and no outcome came for a while (an outcome is stored
        the moment the task returns: this is far longer than that takes)."""
        if t.task_id in node.report.running or node.changed_at <= t.started_at or not self._judgeable(now):
            t.missing_since = 0.0
            return False
        if not t.missing_since:
            t.missing_since = now
        return now - t.missing_since > self.settings.celery_node_timeout

    def _settle(self, t: _Task, result: Any) -> None:
        if not isinstance(result, dict):
            self._finish(t, error=BatchFailed("crashed", f"node {t.node} returned {type(result).__name__}"))
        elif result.get("ok"):
            analyses = result.get("analyses") or []
            if len(analyses) != len(t.batch.emails):
                self._finish(t, error=BatchFailed(
                    "error", f"node {result.get('node')} returned {len(analyses)} analyses for "
                             f"{len(t.batch.emails)} emails"))
                return
            self._finish(t, result=BatchResult(
                analyses, int(result.get("worker") or 0), float(result.get("elapsed") or 0.0),
                int(result.get("rss") or 0), int(result.get("uss") or 0), {"node": result.get("node")}))
        elif result.get("reason") == "unavailable":
            # The node was shutting down and never ran it: not the batch's fault, send again.
            self._backend.client.delete(self._backend.get_key_for_task(t.task_id))
            t.phase = Phase.OUTBOX
        else:
            self._finish(t, error=BatchFailed(str(result.get("reason")), f"on node {result.get('node')}: "
                                                                          f"{result.get('detail')}",
                                              result.get("worker")))

    def _finish(self, t: _Task, *, result: BatchResult | None = None, error: Exception | None = None) -> None:
        self._forget(t)
        try:
            self._backend.client.delete(self._backend.get_key_for_task(t.task_id))
        except _BROKER_DOWN:
            pass  # it expires on its own
        if not t.future.set_running_or_notify_cancel():
            return
        if error is not None:
            t.future.set_exception(error)
        else:
            t.future.set_result(result)  # type: ignore[arg-type]

    def _forget(self, t: _Task) -> None:
        with self._cond:
            self._tasks = [x for x in self._tasks if x is not t]

    # -- nodes ------------------------------------------------------------------------------------
    def _read_nodes(self, now: float) -> None:
        reports = self._reports.read_all()
        if not self._nodes.read_ok_since:
            self._nodes.read_ok_since = now
        known = self._nodes.known
        for r in reports:
            old = known.get(r.name)
            if old is None or old.report.seq != r.seq or old.report.pid != r.pid:
                if old is None or old.report.pid != r.pid:
                    logs.event(log, "node_seen", node=r.name, version=r.version, slots=r.slots)
                known[r.name] = _Node(r, now)
        self._main = self._gauge.read(now) or self._main
        self._record_memory()

    def _is_dead(self, node: _Node | None, now: float, since: float) -> bool:
        if node is None:  # a node that took work before its first heartbeat reached us
            return self._judgeable(now) and now - since > self.settings.celery_node_timeout
        if node.report.stopping:
            return False  # a warm shutdown finishes what it started
        return self._judgeable(now) and now - max(node.changed_at, self._nodes.read_ok_since) \
            > self.settings.celery_node_timeout

    def _judgeable(self, now: float) -> bool:
        # Right after a broker outage every heartbeat is stale: give them a timeout to return.
        ok = self._nodes.read_ok_since
        return bool(ok) and now - ok > self.settings.celery_node_timeout

    def _live(self) -> dict[str, _Node]:
        now = time.monotonic()
        return {name: n for name, n in self._known()
                if n.report.version == self.version and not n.report.stopping
                and now - n.changed_at <= self.settings.celery_node_timeout}

    def _known(self) -> list[tuple[str, _Node]]:
        # A copy: the poller thread adds nodes while metrics() reads them from another thread.
        return list(self._nodes.known.items())

    def _slots(self) -> int:
        return sum(n.report.slots for n in self._live().values())

    def _check_nodes_left(self, now: float) -> None:
        """With no node at all for ``celery_start_timeout``, the engine cannot work: every
        batch fails with EngineUnavailable, which ends the run and hands its jobs back."""
        if self._live() or not self._judgeable(now):
            self._nodes.none_since = 0.0
            return
        if not self._nodes.none_since:
            self._nodes.none_since = now
            log.warning("no beacon worker node is alive for version %s", self.version)
        elif now - self._nodes.none_since > self.settings.celery_start_timeout:
            with self._cond:
                tasks = list(self._tasks)
            others = [f"{n.report.name} (version {n.report.version})" for _, n in self._known()
                      if n.report.version != self.version]
            why = (f"no `beacon worker` node serves pipeline version {self.version} on {self._where()} "
                   f"(waited {now - self._nodes.none_since:.0f} s); "
                   + (f"nodes of other versions: {', '.join(others)}" if others else "start one with `beacon worker`"))
            for t in tasks:
                if t.phase is not Phase.STARTED:
                    self._finish(t, error=EngineUnavailable(why))

    def _where(self) -> str:
        url = self.settings.broker_url
        return url.split("@", 1)[-1] if "@" in url else url  # never log a password

    # -- metrics ----------------------------------------------------------------------------------
    def _record_memory(self) -> None:
        live = self._live().values()
        workers = {w.pid: w.rss for n in live for w in n.report.workers}
        total = self._main.pss + sum(n.report.total_pss for n in live)
        self.recorder.record_memory(MemoryPoint(time.time(), self._main.rss, workers, total))

    def metrics(self) -> EngineMetrics:
        now = time.monotonic()
        if self.state is not ExecutorState.RUNNING:
            try:  # not polling on its own (`beacon engine status`): read the heartbeats now
                self._read_nodes(now)
            except _BROKER_DOWN:
                pass
        recycles, kills, done, quarantined, retried, peak, history = self.recorder.counters()
        live = self._live()
        nodes = [n.report.node_metrics("up" if name in live else "lost", now - n.changed_at)
                 for name, n in sorted(self._known())]
        for _, n in self._known():  # a lost node's kills happened all the same
            for k, v in n.report.recycles.items():
                recycles[k] = recycles.get(k, 0) + v
            for k, v in n.report.kills.items():
                kills[k] = kills.get(k, 0) + v
        with self._cond:
            tasks = list(self._tasks)
        reports = [n.report for n in live.values()]
        main = self._main if self.state is ExecutorState.RUNNING else self._gauge.read(now) or self._main
        return EngineMetrics(
            mode=self.mode,
            start_method="celery",
            budget=sum(r.budget for r in reports),
            budget_source="nodes",
            worker_hard_limit=max((r.worker_hard_limit for r in reports), default=0),
            worker_soft_limit=max((r.worker_soft_limit for r in reports), default=0),
            main_rss=main.rss,
            main_uss=main.uss,
            helper_pss=0,
            total_pss=main.pss + sum(r.total_pss for r in reports),
            peak_total_pss=peak,
            workers=[w for r in reports for w in r.worker_metrics()],
            recycles=recycles,
            kills=kills,
            queue_depth=sum(1 for t in tasks if t.phase is not Phase.STARTED),
            in_flight=sum(1 for t in tasks if t.phase is Phase.STARTED),
            done=done,
            quarantined=quarantined,
            retried=retried,
            throughput=self.recorder.throughput(),
            bytes_per_char=0.0,
            history=history,
            nodes=nodes,
        )


def _fail(t: _Task, exc: Exception) -> None:
    if t.future.set_running_or_notify_cancel():
        t.future.set_exception(exc)
