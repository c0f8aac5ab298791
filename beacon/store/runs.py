"""Runs: what a person sees of an import, an analysis or an IMAP sync (the ``runs`` table).

A run's status goes one way::

                   finish(DONE | FAILED | INTERRUPTED)
    RUNNING ──────────────────────────────────────────▶ DONE | FAILED | INTERRUPTED
       │
       └── its owner process is gone: interrupt_dead_runs() ──▶ INTERRUPTED

Who may change it: the process named in ``params["owner"]`` (``host:pid:start:nonce``, see
:mod:`beacon.store.owner`), through the one :class:`RunRecorder` it started the run with, and
nobody else while that process lives. When it dies, :func:`interrupt_dead_runs` (called when the
web app starts and before every analysis run) marks its runs ``interrupted``: the one rule for
every kind, applied to runs whose owner is dead or that name no owner at all (made before owners
were recorded, so their process has long ended). A run is never reopened; the work it left is
not lost (imports are idempotent, analysis jobs go back to ``pending``, see
:mod:`beacon.store.jobs`) and the next run picks it up.

Every run's events are numbered rows (``run_events``; the SSE id): ``run_start`` first, the
kind's own progress events, and ``run_end`` last, exactly once, with the final ``status`` (also
when a dead run is interrupted), so a stream knows it has seen everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from beacon.store.db import Database
from beacon.store.tenancy import UserScope, is_everyone
from beacon.store.schema import Run, RunEvent, utcnow

__all__ = [
    "END_EVENT", "START_EVENT", "OnEvent", "RunEventData", "RunKind", "RunRecorder", "RunStatus",
    "interrupt_dead_runs",
]

START_EVENT = "run_start"
END_EVENT = "run_end"
ERROR_CHARS = 2000  # a run's stored error message is cut here


class RunStatus(StrEnum):
    """``runs.status``; only RUNNING ever changes."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class RunKind(StrEnum):
    IMPORT = "import"
    ANALYZE = "analyze"
    SYNC = "sync"


@dataclass(frozen=True)
class RunEventData:
    """An event as recorded, with its row id (the SSE event id)."""

    type: str
    data: dict[str, Any]
    id: int | None = None


OnEvent = Callable[[RunEventData], None]


class RunRecorder:
    """Writes one run: its row, its events and its end. Used by one thread, the run's own.

    ``record`` adds an event to the caller's open session, so a run can write its events in
    the same transaction as the work they describe (the analysis runner saves a batch's results
    and their events together); ``flush`` assigns their ids and announces them to ``on_event``.
    ``event``, ``progress`` and ``finish`` open their own short transaction each, so a reader
    (the SSE stream) sees progress while the run goes on.
    """

    def __init__(self, db: Database, run_id: int, on_event: OnEvent | None = None) -> None:
        self.db = db
        self.run_id = run_id
        self.on_event = on_event
        self.total = 0  # as recorded at the start
        self._unannounced: list[RunEvent] = []

    @classmethod
    def start(
        cls, db: Database, kind: RunKind, owner: str, *, params: dict[str, Any] | None = None,
        total: int = 0, on_event: OnEvent | None = None, user_id: int | None = None, **start_data: Any,
    ) -> RunRecorder:
        """Create the run, ``running`` and owned by process ``owner``, with its ``run_start``
        event; ``user_id`` is the user it is for (who sees it)."""
        with db.session() as s:
            run = Run(kind=kind, status=RunStatus.RUNNING, total=total, user_id=user_id,
                      params={**(params or {}), "owner": owner})
            s.add(run)
            s.flush()
            rec = cls(db, run.id, on_event)
            rec.total = total
            rec.record(s, START_EVENT, {"kind": str(kind), "total": total, **start_data})
            rec.flush(s)
        return rec

    # -- events --------------------------------------------------------------------------------
    def record(self, s: Session, type_: str, data: dict[str, Any]) -> None:
        """Add an event to ``s``; it gets its id, and is announced, at the next ``flush(s)``."""
        ev = RunEvent(run_id=self.run_id, type=type_, data=data)
        s.add(ev)
        self._unannounced.append(ev)

    def flush(self, s: Session) -> None:
        if not self._unannounced:
            return
        s.flush()  # one round trip for all of them; assigns their ids
        events, self._unannounced = self._unannounced, []
        if self.on_event is not None:
            for ev in events:
                self.on_event(RunEventData(ev.type, ev.data, ev.id))

    def event(self, type_: str, data: dict[str, Any]) -> None:
        with self.db.session() as s:
            self.record(s, type_, data)
            self.flush(s)

    # -- the row ---------------------------------------------------------------------------------
    def update(self, s: Session, *, total: int | None = None, done: int | None = None,
               failed: int | None = None, params: dict[str, Any] | None = None) -> None:
        """Set the row's counts (and merge ``params``) within ``s``."""
        run = s.get(Run, self.run_id)
        if run is None:
            return
        if total is not None:
            run.total = total
        if done is not None:
            run.done = done
        if failed is not None:
            run.failed = failed
        if params:
            run.params = {**(run.params or {}), **params}

    def progress(self, *, done: int, total: int | None = None, failed: int | None = None,
                 data: dict[str, Any] | None = None) -> None:
        """Counts on the row and a ``progress`` event carrying them (and ``data``), in one
        transaction."""
        with self.db.session() as s:
            self.update(s, done=done, total=total, failed=failed)
            counts = {"done": done, "total": total, "failed": failed}
            self.record(s, "progress", {**(data or {}), **{k: v for k, v in counts.items() if v is not None}})
            self.flush(s)

    def finish(self, status: RunStatus, *, error: str | None = None,
               summary: dict[str, Any] | None = None, total: int | None = None,
               done: int | None = None, failed: int | None = None,
               data: dict[str, Any] | None = None) -> None:
        """End the run: final status, counts and summary on the row, and its ``run_end``
        event (``data``, else the summary, plus the status and error), in one transaction."""
        if status is RunStatus.RUNNING:
            raise ValueError("a run finishes as done, failed or interrupted")
        with self.db.session() as s:
            self.update(s, total=total, done=done, failed=failed)
            run = s.get(Run, self.run_id)
            if run is not None:
                run.status = status
                run.error = error[:ERROR_CHARS] if error else None
                run.finished_at = utcnow()
                if summary is not None:
                    run.summary = summary
            self.record(s, END_EVENT, {**(data if data is not None else summary or {}),
                                       "status": str(status), "error": error[:500] if error else None})
            self.flush(s)


def interrupt_dead_runs(s: Session, owner_is_dead: Callable[[str], bool]) -> int:
    """Mark ``interrupted`` every running run whose owner is dead or that names no owner,
    with its ``run_end`` event. Runs of a live owner (another server, another host whose lease
    cannot be judged from here) are left alone. Returns how many were interrupted."""
    n = 0
    for run in s.scalars(select(Run).where(Run.status == RunStatus.RUNNING)):
        owner = (run.params or {}).get("owner")
        if owner and not owner_is_dead(owner):
            continue
        run.status = RunStatus.INTERRUPTED
        run.finished_at = utcnow()
        s.add(RunEvent(run_id=run.id, type=END_EVENT, data={
            "status": str(RunStatus.INTERRUPTED),
            "error": "the process running it ended before it finished",
        }))
        n += 1
    return n


def _owned(q: Any, scope: UserScope) -> Any:
    """``q`` limited to the runs ``scope`` may see: the one owner filter of this module. An
    analysis run works through everyone's queue and belongs to no one: all users see it."""
    if is_everyone(scope):
        return q
    return q.where(or_(Run.user_id == scope, and_(Run.user_id.is_(None), Run.kind == RunKind.ANALYZE)))


def recent_runs(s: Session, scope: UserScope, limit: int = 20) -> list[Run]:
    return list(s.scalars(_owned(select(Run).order_by(Run.id.desc()).limit(limit), scope)))


def get_run(s: Session, run_id: int, scope: UserScope) -> Run | None:
    """The run, if ``scope`` may see it (another user's run is as absent as a missing one)."""
    return s.scalar(_owned(select(Run).where(Run.id == run_id), scope))
