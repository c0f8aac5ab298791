"""The job runner: drives durable analysis jobs through an executor, exactly once.

It runs in the main process (the only process that touches the database): claims pending jobs,
groups them into batches (by count and by characters), submits them, and settles the outcome:

- success: each analysis is saved and its job marked done in one transaction, fenced by the
  lease owner, so a result is never written twice;
- a failed batch of several emails: every email is retried on its own (the batch is split to
  find the culprit; the innocent ones then succeed);
- a failed single email: retried up to ``max_attempts`` times on its own, then quarantined with
  the reason, while everything else finishes.

Every step is also a ``RunEvent`` (the web app streams them) and an ``on_event`` callback.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from beacon.analysis.models import Analysis
from beacon.analysis.text import select_text
from beacon.analysis.version import pipeline_version
from beacon.engine import logs, memory
from beacon.engine.executor import Batch, BatchFailed, BatchResult
from beacon.engine.launch import EngineError
from beacon.engine.metrics import MetricsRecorder
from beacon.engine.modes import Engine
from beacon.engine.owner import owner_is_dead
from beacon.models import Email
from beacon.settings import Settings
from beacon.store import jobs
from beacon.store.app_settings import current_settings
from beacon.store.context import mail_contexts
from beacon.store.db import Database
from beacon.store.schema import EmailRow, Run, RunEvent

log = logging.getLogger("beacon.engine.runner")

LEASE_SECONDS = 300.0
PROGRESS_EVERY = 1000  # log memory of every process each N emails


@dataclass(frozen=True)
class RunEventData:
    type: str
    data: dict[str, Any]
    id: int | None = None  # RunEvent.id (the SSE event id)


OnEvent = Callable[[RunEventData], None]


@dataclass
class RunSummary:
    run_id: int
    status: str = "running"  # done | interrupted | failed
    total: int = 0
    done: int = 0
    quarantined: int = 0
    retried: int = 0
    elapsed: float = 0.0
    rate: float = 0.0
    error: str | None = None
    kills: dict[str, int] = field(default_factory=dict)
    recycles: dict[str, int] = field(default_factory=dict)


@dataclass
class _Item:
    job_id: int
    email_id: int
    attempts: int
    email: dict[str, Any]
    chars: int
    context: dict[str, Any] | None = None  # MailContext JSON (sender history, folder, keywords)


class JobRunner:
    def __init__(
        self, settings: Settings, db: Database, engine: Engine, metrics: MetricsRecorder, owner: str
    ) -> None:
        self.settings = settings
        self.db = db
        self.engine = engine
        self.recorder = metrics
        self.owner = owner
        self.version = pipeline_version(settings)
        # Across restarts only the durable attempt count survives; this cap stops an email
        # that takes the whole process down (possible in-process) from looping for ever.
        self.attempt_cap = 2 * settings.max_attempts + 1

    # -- public --------------------------------------------------------------------------------
    def prepare_run(self, run_id: int | None = None) -> int:
        """Recover what dead owners left behind and create (or adopt) the Run row."""
        with self.db.session() as s:
            recovered = jobs.recover_stale(s, owner_is_dead)
            jobs.interrupt_dead_runs(s, owner_is_dead)
            if recovered:
                logs.event(log, "jobs_recovered", jobs=recovered)
            pending = jobs.counts(s, self.version)[jobs.PENDING]
            if run_id is None:
                run = Run(kind="analyze", status="running", total=pending,
                          params={"owner": self.owner, "mode": self.engine.mode, "version": self.version})
                s.add(run)
                s.flush()
                return run.id
            run = s.get(Run, run_id)
            if run is None:
                raise KeyError(f"no run {run_id}")
            run.status, run.total = "running", pending
            run.params = {**(run.params or {}), "owner": self.owner, "mode": self.engine.mode,
                          "version": self.version}
            return run.id

    def run(self, run_id: int | None = None, on_event: OnEvent | None = None,
            stop: threading.Event | None = None) -> RunSummary:
        run_id = self.prepare_run(run_id)
        state = _RunState(run_id, on_event, stop or threading.Event(), time.monotonic())
        with self.db.session() as s:
            state.summary.total = s.get(Run, run_id).total  # type: ignore[union-attr]
        self.engine.add_listener(state.engine_event)
        logs.event(log, "job_start", run=run_id, mode=self.engine.mode, jobs=state.summary.total,
                   main_rss=memory.rss())
        self._emit(state, "run_start", {"total": state.summary.total, "mode": self.engine.mode})
        try:
            self._loop(state)
            state.summary.status = "interrupted" if state.stop.is_set() else "done"
        except EngineError as exc:
            state.summary.status, state.summary.error = "failed", str(exc)
            log.error("analysis run %s failed: %s", run_id, exc)
        except BaseException as exc:
            # Anything else (a database failure, a bug, Ctrl-C) still ends the run visibly.
            state.summary.status, state.summary.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.engine.remove_listener(state.engine_event)
            self._finish(state)
        return state.summary

    # -- the loop ------------------------------------------------------------------------------
    def _loop(self, st: _RunState) -> None:
        last_renew = time.monotonic()
        exhausted = False
        while True:
            if not st.stop.is_set():
                exhausted = self._fill(st)
            if not st.in_flight and (exhausted or st.stop.is_set()):
                return
            finished, _ = wait(list(st.in_flight), timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                self._settle(st, fut, st.in_flight.pop(fut))
            self._drain_engine_events(st)
            if time.monotonic() - last_renew > LEASE_SECONDS / 3:
                with self.db.session() as s:
                    jobs.renew(s, self.owner, LEASE_SECONDS)
                last_renew = time.monotonic()

    def _fill(self, st: _RunState) -> bool:
        """Keep the executor busy; True when the queue is empty (nothing left to claim)."""
        exhausted = False
        while len(st.in_flight) < self.engine.capacity():
            if len(st.backlog) < self.settings.batch_size and not exhausted:
                exhausted = self._claim(st, self.settings.batch_size * 2) == 0
            if not st.backlog:
                break
            items = self._next_batch(st)
            batch = Batch([i.email for i in items], sum(i.chars for i in items),
                          contexts=[i.context for i in items])
            st.in_flight[self.engine.submit(batch)] = items
        return exhausted and not st.backlog

    def _claim(self, st: _RunState, n: int) -> int:
        with self.db.session() as s:
            claimed = jobs.claim(s, self.version, self.owner, n, LEASE_SECONDS, st.run_id)
            if not claimed:
                return 0
            found = list(s.scalars(select(EmailRow).where(EmailRow.id.in_([c.email_id for c in claimed]))))
            rows = {r.id: r.data for r in found}
            # The reader's history with each sender and the email's folder and keywords travel
            # with the batch: the worker decides the kind (and so the pipeline) before spaCy
            # runs, and only this process opens the database.
            contexts = mail_contexts(s, found, current_settings(s, self.settings))
            invalid: list[tuple[jobs.ClaimedJob, str]] = []
            for c in claimed:
                data = rows.get(c.email_id)
                try:
                    email = Email.model_validate(data)
                except ValidationError as exc:
                    invalid.append((c, f"stored email is not valid: {exc.errors()[:1]}"))
                    continue
                chars = len(select_text(email, self.settings.max_text_chars).text)
                ctx = contexts.get(c.email_id)
                st.backlog.append(_Item(c.job_id, c.email_id, c.attempts, data, chars,  # type: ignore[arg-type]
                                        ctx.model_dump(mode="json") if ctx else None))
            for c, err in invalid:
                jobs.quarantine(s, c.job_id, self.owner, err)
                self._quarantined(st, s, c.job_id, c.email_id, err)
            self._flush_events(st, s)
        return len(claimed)

    def _next_batch(self, st: _RunState) -> list[_Item]:
        max_chars = self.engine.max_batch_chars()
        items: list[_Item] = []
        chars = 0
        while st.backlog and len(items) < self.settings.batch_size:
            nxt = st.backlog[0]
            alone = nxt.job_id in st.solo
            if items and (alone or chars + nxt.chars > max_chars):
                break
            items.append(st.backlog.popleft())
            chars += nxt.chars
            if alone:
                break
        return items

    # -- outcomes ------------------------------------------------------------------------------
    def _settle(self, st: _RunState, fut: Future[BatchResult], items: list[_Item]) -> None:
        try:
            result = fut.result()
        except BatchFailed as failure:
            self._failed(st, items, failure)
        except EngineError:
            raise
        except Exception as exc:  # noqa: BLE001 - an engine bug must not strand the run
            log.exception("batch of %d failed unexpectedly", len(items))
            self._failed(st, items, BatchFailed("error", f"{type(exc).__name__}: {exc}"))
        else:
            self._succeeded(st, items, result)

    def _succeeded(self, st: _RunState, items: list[_Item], result: BatchResult) -> None:
        from beacon.store.analyses import save_analysis  # the lead's scorer; spaCy-free

        done_before = st.summary.done
        t0 = time.perf_counter()
        with self.db.session() as s:
            # VIPs, own addresses and weights may change in the web UI while a run goes on:
            # score with what is in force now, not with what the engine started with.
            scoring = current_settings(s, self.settings)
            valid: list[tuple[_Item, Analysis]] = []
            for item, data in zip(items, result.analyses, strict=True):
                try:
                    valid.append((item, Analysis.model_validate(data)))
                except ValidationError as exc:
                    err = f"worker returned an invalid analysis: {exc.errors()[:1]}"
                    if jobs.quarantine(s, item.job_id, self.owner, err):
                        self._quarantined(st, s, item.job_id, item.email_id, err)
            # Fenced: a job whose lease was taken over is left to its new owner.
            ours = jobs.complete(s, [item.job_id for item, _ in valid], self.owner)
            for item, analysis in valid:
                if item.job_id not in ours:
                    continue
                save_analysis(s, item.email_id, analysis, scoring)
                st.summary.done += 1
                self._emit(st, "email_done", self._counts(st, email_id=item.email_id, job_id=item.job_id), s)
            self._emit(st, "batch_done", self._counts(
                st, worker=result.worker, emails=len(items), elapsed=round(result.elapsed, 3),
                rss=result.rss, uss=result.uss), s)
            self._update_run(st, s)
            self._flush_events(st, s)
        self.recorder.completed(st.summary.done - done_before)
        logs.event(log, "results_saved", logging.DEBUG, emails=len(items), worker=result.worker,
                   analyse_s=result.elapsed, save_s=time.perf_counter() - t0)
        self._progress(st, done_before)

    def _failed(self, st: _RunState, items: list[_Item], failure: BatchFailed) -> None:
        err = f"{failure.reason}: {failure.detail}"
        with self.db.session() as s:
            if len(items) > 1:
                # Split: every email runs on its own next, so the culprit shows itself.
                st.solo.update(i.job_id for i in items)
                jobs.release(s, [i.job_id for i in items], self.owner,
                             error=f"{err} (in a batch of {len(items)}; retrying one by one)")
                st.summary.retried += len(items)
                self.recorder.add_retried(len(items))
                self._emit(st, "batch_failed", self._counts(
                    st, reason=failure.reason, detail=failure.detail, worker=failure.worker,
                    email_ids=[i.email_id for i in items]), s)
                for i in items:
                    self._emit(st, "email_retry", self._counts(
                        st, email_id=i.email_id, job_id=i.job_id, reason=failure.reason, alone=False), s)
            else:
                item = items[0]
                st.solo_failures[item.job_id] += 1
                n = st.solo_failures[item.job_id]
                if n >= self.settings.max_attempts or item.attempts >= self.attempt_cap:
                    msg = f"quarantined after {n} failed attempt(s) on its own; last: {err}"
                    if jobs.quarantine(s, item.job_id, self.owner, msg):
                        self._quarantined(st, s, item.job_id, item.email_id, msg)
                else:
                    jobs.release(s, [item.job_id], self.owner, error=f"{err} (attempt {n} alone)")
                    st.summary.retried += 1
                    self.recorder.add_retried(1)
                    self._emit(st, "email_retry", self._counts(
                        st, email_id=item.email_id, job_id=item.job_id, reason=failure.reason, alone=True), s)
            self._update_run(st, s)
            self._flush_events(st, s)

    def _quarantined(self, st: _RunState, s: Any, job_id: int, email_id: int, error: str) -> None:
        st.summary.quarantined += 1
        self.recorder.add_quarantined(1)
        logs.event(log, "quarantine", logging.WARNING, email=email_id, job=job_id, error=error)
        self._emit(st, "email_quarantined", self._counts(st, email_id=email_id, job_id=job_id, error=error), s)

    # -- events and bookkeeping ----------------------------------------------------------------
    def _counts(self, st: _RunState, **extra: Any) -> dict[str, Any]:
        elapsed = max(time.monotonic() - st.t0, 1e-6)
        return {"done": st.summary.done, "quarantined": st.summary.quarantined,
                "total": st.summary.total, "rate": round(st.summary.done / elapsed, 2), **extra}

    def _emit(self, st: _RunState, type_: str, data: dict[str, Any], s: Any = None) -> None:
        """Record an event; written and announced (with its id) when the transaction flushes."""
        if s is None:
            with self.db.session() as own:
                self._emit(st, type_, data, own)
                self._flush_events(st, own)
            return
        ev = RunEvent(run_id=st.run_id, type=type_, data=data)
        s.add(ev)
        st.unflushed.append(ev)

    def _flush_events(self, st: _RunState, s: Any) -> None:
        if not st.unflushed:
            return
        s.flush()  # one round trip for the whole batch's events; assigns their ids
        events, st.unflushed = st.unflushed, []
        if st.on_event is not None:
            for ev in events:
                st.on_event(RunEventData(ev.type, ev.data, ev.id))

    def _drain_engine_events(self, st: _RunState) -> None:
        pending: list[tuple[str, dict[str, Any]]] = []
        while True:
            try:
                pending.append(st.engine_events.get_nowait())
            except queue.Empty:
                break
        if pending:
            with self.db.session() as s:
                for kind, data in pending:
                    self._emit(st, kind, data, s)
                self._flush_events(st, s)

    def _update_run(self, st: _RunState, s: Any) -> None:
        run = s.get(Run, st.run_id)
        if run is not None:
            run.done, run.failed = st.summary.done, st.summary.quarantined
            run.total = max(run.total, st.summary.done + st.summary.quarantined)
            st.summary.total = run.total

    def _progress(self, st: _RunState, before: int) -> None:
        if st.summary.done // PROGRESS_EVERY == before // PROGRESS_EVERY:
            return
        m = self.engine.metrics()
        logs.event(log, "progress", done=st.summary.done, main_rss=m.main_rss, total=m.total_pss,
                   workers={w.pid: memory.mb(w.rss) for w in m.workers}, rate=self._counts(st)["rate"])

    def _finish(self, st: _RunState) -> None:
        for fut in list(st.in_flight):
            fut.cancel()
        st.in_flight.clear()
        st.backlog.clear()
        summary = st.summary
        summary.elapsed = time.monotonic() - st.t0
        summary.rate = summary.done / summary.elapsed if summary.elapsed > 0 else 0.0
        m = self.engine.metrics()
        summary.kills, summary.recycles = m.kills, m.recycles
        self._drain_engine_events(st)
        with self.db.session() as s:
            jobs.release_owner(s, self.owner)
            run = s.get(Run, st.run_id)
            if run is not None:
                run.status = summary.status
                run.error = summary.error
                run.done, run.failed = summary.done, summary.quarantined
                run.finished_at = datetime.now(timezone.utc)
                run.summary = {
                    "done": summary.done, "quarantined": summary.quarantined, "retried": summary.retried,
                    "elapsed": round(summary.elapsed, 2), "rate": round(summary.rate, 2),
                    "kills": summary.kills, "recycles": summary.recycles,
                    "peak_total_pss": m.peak_total_pss, "main_rss": m.main_rss,
                }
            self._emit(st, "run_end", {**self._counts(st), "status": summary.status,
                                       "error": summary.error}, s)
            self._flush_events(st, s)
        before = memory.rss()
        collected = gc.collect()
        memory.malloc_trim()
        logs.event(log, "gc", objects=collected, rss_before=before, rss=memory.rss())
        logs.event(log, "job_end", run=st.run_id, status=summary.status, done=summary.done,
                   quarantined=summary.quarantined, retried=summary.retried,
                   elapsed=summary.elapsed, rate=summary.rate, main_rss=m.main_rss,
                   total=m.total_pss, kills=summary.kills, recycles=summary.recycles)


class _RunState:
    def __init__(self, run_id: int, on_event: OnEvent | None, stop: threading.Event, t0: float) -> None:
        self.run_id = run_id
        self.on_event = on_event
        self.stop = stop
        self.t0 = t0
        self.summary = RunSummary(run_id)
        self.backlog: deque[_Item] = deque()
        self.in_flight: dict[Future[BatchResult], list[_Item]] = {}
        self.solo: set[int] = set()
        self.solo_failures: Counter[int] = Counter()
        self.unflushed: list[RunEvent] = []
        self.engine_events: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()

    def engine_event(self, kind: str, data: dict[str, Any]) -> None:
        self.engine_events.put((kind, data))  # from supervisor threads; written by the runner
