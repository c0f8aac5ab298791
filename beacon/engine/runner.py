"""The job runner: drives durable analysis jobs through an executor, exactly once.

It runs in the process that owns the engine (``beacon analyze``'s own, or the engine process of
``beacon serve``: :mod:`beacon.engine.remote`; never in a worker, which never opens the database): claims pending jobs
(:mod:`beacon.store.jobs`), groups them into batches (:mod:`beacon.engine.batching`), submits
them to the executor, and settles each batch's outcome:

- success: each analysis is saved and its job marked done in one transaction, fenced by the
  lease owner, so a result is never written twice;
- a failed batch of several emails (:class:`~beacon.errors.BatchFailed`, whatever the reason: a
  Python error, a timeout, a kill by the watchdog, a crash): every email goes back to
  ``pending`` and is retried *alone*, so the culprit shows itself and the innocent succeed;
- a failed email on its own: retried alone until it failed ``max_attempts`` times here (or
  was claimed ``2 * max_attempts + 1`` times in all, across restarts), then quarantined with
  the reason, while everything else finishes;
- an :class:`~beacon.errors.EngineError` (the engine cannot work at all): the run ends
  ``failed`` and every job it holds goes back to ``pending``.

This is how the death of a worker becomes a retry; the death of the whole main process becomes
one through the lease (``recover_stale`` in :meth:`JobRunner.prepare`). Every step is also a
run event (:class:`~beacon.store.runs.RunRecorder`), which the web app streams.
"""

from __future__ import annotations

import gc
import logging
import queue
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from beacon.analysis.models import Analysis
from beacon.analysis.version import pipeline_version
from beacon.engine import _logs as logs, memory
from beacon.engine.batching import analysed_chars, take_batch
from beacon.engine.executor import Batch, BatchResult, Executor
from beacon.engine.metrics import MetricsRecorder
from beacon.errors import BatchFailed, EngineError, NothingToAnalyse
from beacon.models import Email
from beacon.settings import Settings
from beacon.store import jobs
from beacon.store.analyses import AccountSettings, save_analyses
from beacon.store.app_settings import current_settings
from beacon.store.context import mail_contexts
from beacon.store.db import Database
from beacon.store.owner import owner_is_dead
from beacon.store.runs import OnEvent, RunKind, RunRecorder, RunStatus, interrupt_dead_runs
from beacon.store.schema import EmailRow, Run, utcnow
from beacon.triage.rescore import after_analyses

__all__ = ["JobRunner", "RunSummary"]

log = logging.getLogger("beacon.engine.runner")

LEASE_SECONDS = 300.0
PROGRESS_EVERY = 1000  # log memory of every process each N emails


@dataclass
class RunSummary:
    run_id: int
    status: RunStatus = RunStatus.RUNNING
    total: int = 0
    done: int = 0
    quarantined: int = 0
    retried: int = 0
    elapsed: float = 0.0
    rate: float = 0.0
    error: str | None = None
    kills: dict[str, int] = field(default_factory=dict)
    recycles: dict[str, int] = field(default_factory=dict)

    def stored(self) -> dict[str, Any]:
        """What the run's row keeps in ``runs.summary`` (read back by :meth:`from_row`)."""
        return {"done": self.done, "quarantined": self.quarantined, "retried": self.retried,
                "elapsed": round(self.elapsed, 2), "rate": round(self.rate, 2),
                "kills": self.kills, "recycles": self.recycles}

    @classmethod
    def from_row(cls, row: Run) -> RunSummary:
        """The summary of a finished run, from its row (a run made in another process)."""
        extra = row.summary or {}
        return cls(row.id, RunStatus(row.status), row.total, row.done, row.failed,
                   int(extra.get("retried", 0)), float(extra.get("elapsed", 0.0)), float(extra.get("rate", 0.0)),
                   row.error, dict(extra.get("kills", {})), dict(extra.get("recycles", {})))


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
        self, settings: Settings, db: Database, executor: Executor, recorder: MetricsRecorder, owner: str
    ) -> None:
        self.settings = settings
        self.db = db
        self.executor = executor
        self.recorder = recorder
        self.owner = owner
        self.version = pipeline_version(settings)
        # Across restarts only the durable attempt count survives; this cap stops an email
        # that takes the whole process down (possible in-process) from looping for ever.
        self.attempt_cap = 2 * settings.max_attempts + 1

    # -- public --------------------------------------------------------------------------------
    def prepare(self, on_event: OnEvent | None = None) -> RunRecorder:
        """Hand back what dead owners left (their jobs to ``pending``, their runs
        ``interrupted``) and start this run's row, with everything pending as its total.
        Raises :class:`~beacon.errors.NothingToAnalyse` (and records nothing) when no job is
        pending."""
        with self.db.session() as s:
            recovered = jobs.recover_stale(s, owner_is_dead)
            interrupt_dead_runs(s, owner_is_dead)
            pending = jobs.counts(s, self.version)[jobs.JobStatus.PENDING]
        if recovered:
            logs.event(log, "jobs_recovered", jobs=recovered)
        if pending == 0:
            # No row for a run with nothing to do: a click (or a fuzzer) must not fill the history.
            raise NothingToAnalyse("nothing to analyse: every email has its analysis")
        return RunRecorder.start(self.db, RunKind.ANALYZE, self.owner, total=pending, on_event=on_event,
                                 params={"mode": self.executor.mode, "version": self.version},
                                 mode=self.executor.mode)

    def run(self, run: RunRecorder, stop: Callable[[], bool] = lambda: False) -> RunSummary:
        """Process pending jobs until none are left or ``stop()`` says so; the run then ends
        ``done``, ``interrupted`` or ``failed`` and every job it still holds goes back."""
        st = _RunState(run, stop, time.monotonic())
        st.summary.total = run.total
        self.executor.add_listener(st.engine_event)
        logs.event(log, "job_start", run=run.run_id, mode=self.executor.mode, jobs=run.total,
                   main_rss=memory.rss())
        try:
            self._loop(st)
            st.summary.status = RunStatus.INTERRUPTED if stop() else RunStatus.DONE
        except EngineError as exc:
            st.summary.status, st.summary.error = RunStatus.FAILED, str(exc)
            log.error("analysis run %s failed: %s", run.run_id, exc)
        except BaseException as exc:
            # Anything else (a database failure, a bug, Ctrl-C) still ends the run visibly.
            st.summary.status, st.summary.error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.executor.remove_listener(st.engine_event)
            self._finish(st)
        return st.summary

    # -- the loop ------------------------------------------------------------------------------
    def _loop(self, st: _RunState) -> None:
        last_renew = time.monotonic()
        exhausted = False
        while True:
            if not st.stop():
                exhausted = self._fill(st)
            if not st.in_flight and (exhausted or st.stop()):
                return
            finished, _ = wait(list(st.in_flight), timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                self._settle(st, fut, st.in_flight.pop(fut))
            self._record_engine_events(st)
            if time.monotonic() - last_renew > LEASE_SECONDS / 3:
                with self.db.session() as s:
                    jobs.renew(s, self.owner, LEASE_SECONDS)
                last_renew = time.monotonic()

    def _fill(self, st: _RunState) -> bool:
        """Keep the executor busy; True when the queue is empty (nothing left to claim)."""
        exhausted = False
        while len(st.in_flight) < self.executor.capacity():
            if len(st.backlog) < self.settings.batch_size and not exhausted:
                exhausted = self._claim(st, self.settings.batch_size * 2) == 0
            if not st.backlog:
                break
            items = take_batch(st.backlog, size=self.settings.batch_size, max_chars=self.executor.max_batch_chars(),
                               chars=lambda i: i.chars, alone=lambda i: i.job_id in st.solo)
            batch = Batch([i.email for i in items], sum(i.chars for i in items),
                          contexts=[i.context for i in items])
            st.in_flight[self.executor.submit(batch)] = items
        return exhausted and not st.backlog

    def _claim(self, st: _RunState, n: int) -> int:
        with self.db.session() as s:
            claimed = jobs.claim(s, self.version, self.owner, n, LEASE_SECONDS, st.run.run_id)
            if not claimed:
                return 0
            found = list(s.scalars(select(EmailRow).where(EmailRow.id.in_([c.email_id for c in claimed]))))
            rows = {r.id: r.data for r in found}
            # The reader's history with each sender and the email's folder and keywords travel
            # with the batch: the worker decides the kind (and so the pipeline) before spaCy
            # runs, and only this process opens the database.
            contexts = mail_contexts(s, found, current_settings(s, self.settings))
            for c in claimed:
                data = rows.get(c.email_id)
                try:
                    email = Email.model_validate(data)
                except ValidationError as exc:
                    self._quarantine(st, s, c.job_id, c.email_id, f"stored email is not valid: {exc.errors()[:1]}")
                    continue
                ctx = contexts.get(c.email_id)
                st.backlog.append(_Item(c.job_id, c.email_id, c.attempts, data,  # type: ignore[arg-type]
                                        analysed_chars(email, self.settings),
                                        ctx.model_dump(mode="json") if ctx else None))
            st.run.flush(s)
        return len(claimed)

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
        done_before = st.summary.done
        t0 = time.perf_counter()
        with self.db.session() as s:
            # VIPs, own addresses and weights may change in the web UI while a run goes on:
            # score with what is in force now, not with what the engine started with.
            settings_now = current_settings(s, self.settings)
            saved_at = utcnow()  # deadlines are judged against the time of saving
            valid: list[tuple[_Item, Analysis]] = []
            for item, data in zip(items, result.analyses, strict=True):
                try:
                    valid.append((item, Analysis.model_validate(data)))
                except ValidationError as exc:
                    self._quarantine(st, s, item.job_id, item.email_id,
                                     f"worker returned an invalid analysis: {exc.errors()[:1]}")
            # Fenced: a job whose lease was taken over is left to its new owner.
            ours = jobs.complete(s, [item.job_id for item, _ in valid], self.owner)
            saved = [(item, analysis) for item, analysis in valid if item.job_id in ours]
            # The batch is saved at once (its rows read together, one flush, a thread's head
            # elected once): one by one cost this process ~6 ms of CPU per email, taken from
            # the workers on a machine whose cores they share.
            accounts = AccountSettings(settings_now)
            save_analyses(s, [(item.email_id, analysis) for item, analysis in saved], settings_now, saved_at, accounts)
            after_analyses(s, [item.email_id for item, _ in saved], settings_now, saved_at, accounts)
            for item, _ in saved:
                st.summary.done += 1
                st.run.record(s, "email_done", self._counts(st, email_id=item.email_id, job_id=item.job_id))
            st.run.record(s, "batch_done", self._counts(
                st, worker=result.worker, emails=len(items), elapsed=round(result.elapsed, 3),
                rss=result.rss, uss=result.uss))
            self._update_counts(st, s)
            st.run.flush(s)
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
                st.run.record(s, "batch_failed", self._counts(
                    st, reason=failure.reason, detail=failure.detail, worker=failure.worker,
                    email_ids=[i.email_id for i in items]))
                for i in items:
                    st.run.record(s, "email_retry", self._counts(
                        st, email_id=i.email_id, job_id=i.job_id, reason=failure.reason, alone=False))
            else:
                item = items[0]
                st.solo_failures[item.job_id] += 1
                n = st.solo_failures[item.job_id]
                if n >= self.settings.max_attempts or item.attempts >= self.attempt_cap:
                    self._quarantine(st, s, item.job_id, item.email_id,
                                     f"quarantined after {n} failed attempt(s) on its own; last: {err}")
                else:
                    jobs.release(s, [item.job_id], self.owner, error=f"{err} (attempt {n} alone)")
                    st.summary.retried += 1
                    self.recorder.add_retried(1)
                    st.run.record(s, "email_retry", self._counts(
                        st, email_id=item.email_id, job_id=item.job_id, reason=failure.reason, alone=True))
            self._update_counts(st, s)
            st.run.flush(s)

    def _quarantine(self, st: _RunState, s: Session, job_id: int, email_id: int, error: str) -> None:
        if not jobs.quarantine(s, job_id, self.owner, error):
            return  # fenced: the job is not ours any more
        st.summary.quarantined += 1
        self.recorder.add_quarantined(1)
        logs.event(log, "quarantine", logging.WARNING, email=email_id, job=job_id, error=error)
        st.run.record(s, "email_quarantined", self._counts(st, email_id=email_id, job_id=job_id, error=error))

    # -- events and bookkeeping ----------------------------------------------------------------
    def _counts(self, st: _RunState, **extra: Any) -> dict[str, Any]:
        elapsed = max(time.monotonic() - st.t0, 1e-6)
        return {"done": st.summary.done, "quarantined": st.summary.quarantined,
                "total": st.summary.total, "rate": round(st.summary.done / elapsed, 2), **extra}

    def _update_counts(self, st: _RunState, s: Session) -> None:
        st.summary.total = max(st.summary.total, st.summary.done + st.summary.quarantined)
        st.run.update(s, total=st.summary.total, done=st.summary.done, failed=st.summary.quarantined)

    def _record_engine_events(self, st: _RunState) -> None:
        pending: list[tuple[str, dict[str, Any]]] = []
        while True:
            try:
                pending.append(st.engine_events.get_nowait())
            except queue.Empty:
                break
        if pending:
            with self.db.session() as s:
                for kind, data in pending:
                    st.run.record(s, kind, data)
                st.run.flush(s)

    def _progress(self, st: _RunState, before: int) -> None:
        if st.summary.done // PROGRESS_EVERY == before // PROGRESS_EVERY:
            return
        m = self.executor.metrics()
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
        m = self.executor.metrics()
        summary.kills, summary.recycles = m.kills, m.recycles
        self._record_engine_events(st)
        with self.db.session() as s:
            jobs.release_owner(s, self.owner)
        st.run.finish(
            summary.status, error=summary.error, done=summary.done, failed=summary.quarantined,
            summary={**summary.stored(), "peak_total_pss": m.peak_total_pss, "main_rss": m.main_rss},
            data=self._counts(st),
        )
        before = memory.rss()
        collected = gc.collect()
        memory.malloc_trim()
        logs.event(log, "gc", objects=collected, rss_before=before, rss=memory.rss())
        logs.event(log, "job_end", run=st.run.run_id, status=summary.status, done=summary.done,
                   quarantined=summary.quarantined, retried=summary.retried,
                   elapsed=summary.elapsed, rate=summary.rate, main_rss=m.main_rss,
                   total=m.total_pss, kills=summary.kills, recycles=summary.recycles)


class _RunState:
    """One run's working state, owned by the thread that runs it."""

    def __init__(self, run: RunRecorder, stop: Callable[[], bool], t0: float) -> None:
        self.run = run
        self.stop = stop
        self.t0 = t0
        self.summary = RunSummary(run.run_id)
        self.backlog: deque[_Item] = deque()
        self.in_flight: dict[Future[BatchResult], list[_Item]] = {}
        self.solo: set[int] = set()
        self.solo_failures: Counter[int] = Counter()
        self.engine_events: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()

    def engine_event(self, kind: str, data: dict[str, Any]) -> None:
        self.engine_events.put((kind, data))  # from the executor's threads; recorded by the runner
