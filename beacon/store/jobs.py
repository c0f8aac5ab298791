"""The durable analysis job queue (``analysis_jobs``): one row per email per pipeline version.

A job's status (:class:`JobStatus`)::

                      claim: attempts + 1, a lease (owner, expiry)
    enqueue ──▶ PENDING ─────────────────────────────────────────────▶ RUNNING
                 ▲  ▲                                                │  │  │
                 │  └──── release: a retry, or a clean stop ─────────┘  │  │
                 │  └──── recover_stale: owner dead or lease expired ───┘  │
                 │                                                         ├── complete ──▶ DONE
                 │                                                         └── quarantine ─▶ QUARANTINED
                 ├── enqueue_missing: a DONE job whose analysis row vanished
                 └── requeue_quarantined: a person asks again (attempts back to 0)

Who changes it: the lease owner alone moves a job out of RUNNING (``complete``, ``release``,
``quarantine`` are fenced by the owner, so an executor whose lease was taken over cannot mark
a job twice or save its result); anybody may return the jobs of a dead owner or an expired
lease (``recover_stale``, run before every analysis run), which is how the death of the whole
main process becomes a retry. ``attempts`` counts claims and survives restarts; the job runner
(:mod:`beacon.engine.runner`) decides from it and from its own failures when to stop retrying.
Any executor (the engine's workers today, Celery later) follows these rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from beacon.store.schema import Account, AnalysisJob, AnalysisRow, EmailRow

__all__ = [
    "ClaimedJob", "JobStatus", "claim", "complete", "counts", "enqueue_missing", "quarantine",
    "quarantined", "recover_stale", "release", "release_owner", "renew", "requeue_quarantined",
]


class JobStatus(StrEnum):
    """``analysis_jobs.status``; the diagram above says who moves a job between them."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    QUARANTINED = "quarantined"



def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ClaimedJob:
    job_id: int
    email_id: int
    attempts: int  # including this claim


def enqueue_missing(s: Session, version: str, account_id: int | None = None) -> int:
    """Create pending jobs for emails without an analysis (or a job) at ``version``.

    Also re-opens ``done`` jobs whose analysis row has disappeared. Returns how many jobs
    became pending. Safe to run concurrently: duplicates are ignored by the unique key.
    """
    has_analysis = exists().where(AnalysisRow.email_id == EmailRow.id, AnalysisRow.pipeline_version == version)
    has_job = exists().where(AnalysisJob.email_id == EmailRow.id, AnalysisJob.pipeline_version == version)
    src = select(
        EmailRow.id, literal(version), literal(JobStatus.PENDING.value), literal(0),
        literal(_now(), AnalysisJob.updated_at.type), Account.user_id,
    ).join(Account, Account.id == EmailRow.account_id).where(EmailRow.deleted.is_(False), ~has_analysis, ~has_job)
    if account_id is not None:
        src = src.where(EmailRow.account_id == account_id)
    cols = ["email_id", "pipeline_version", "status", "attempts", "updated_at", "user_id"]
    dialect = s.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(AnalysisJob)
    created = len(s.execute(ins.from_select(cols, src).on_conflict_do_nothing().returning(AnalysisJob.id)).all())

    lost = ~exists().where(
        AnalysisRow.email_id == AnalysisJob.email_id, AnalysisRow.pipeline_version == version
    )
    reopen = update(AnalysisJob).where(
        AnalysisJob.pipeline_version == version, AnalysisJob.status == JobStatus.DONE, lost
    )
    if account_id is not None:
        reopen = reopen.where(
            AnalysisJob.email_id.in_(select(EmailRow.id).where(EmailRow.account_id == account_id))
        )
    reopened = s.execute(
        reopen.values(status=JobStatus.PENDING, attempts=0, last_error=None).execution_options(synchronize_session=False)
    ).rowcount or 0
    return created + reopened


def _update(s: Session, *where: Any, **values: Any) -> int:
    """One UPDATE of the jobs matching ``where``; returns how many rows it changed."""
    stmt = update(AnalysisJob).where(*where).values(**values).execution_options(synchronize_session=False)
    return s.execute(stmt).rowcount or 0


# Leaving RUNNING without a result: the lease goes with it.
_UNLEASED = {"lease_owner": None, "lease_expires_at": None}


def recover_stale(s: Session, owner_is_dead: Callable[[str], bool]) -> int:
    """Return to ``pending`` every running job whose lease expired or whose owner is dead."""
    rows = s.execute(
        select(AnalysisJob.lease_owner, AnalysisJob.lease_expires_at)
        .where(AnalysisJob.status == JobStatus.RUNNING)
        .distinct()
    ).all()
    now = _now()
    stale = {
        owner for owner, expires in rows
        if owner is None or owner_is_dead(owner) or (expires is not None and expires < now)
    }
    n = 0
    for owner in stale:
        held = AnalysisJob.lease_owner.is_(None) if owner is None else AnalysisJob.lease_owner == owner
        n += _update(s, AnalysisJob.status == JobStatus.RUNNING, held, status=JobStatus.PENDING, **_UNLEASED)
    return n


def _pending(version: str, limit: int, user_id: Any = None, *, any_user: bool = True) -> Any:
    pick = (
        select(AnalysisJob.id)
        .where(AnalysisJob.status == JobStatus.PENDING, AnalysisJob.pipeline_version == version)
        .order_by(AnalysisJob.id)
        .limit(limit)
    )
    if not any_user:
        pick = pick.where(AnalysisJob.user_id.is_(None) if user_id is None else AnalysisJob.user_id == user_id)
    return pick


def _fair_pick(s: Session, version: str, limit: int, locking: bool) -> list[int] | None:
    """Job ids taken in turns between the users with pending jobs (oldest first within each),
    so one user's huge import does not hold back another's new mail; None with fewer than
    two such users (the plain oldest-first pick applies)."""
    users = list(s.scalars(
        select(AnalysisJob.user_id).where(AnalysisJob.status == JobStatus.PENDING,
                                          AnalysisJob.pipeline_version == version).distinct()))
    if len(users) < 2:
        return None
    queues = []
    for user_id in users:
        pick = _pending(version, limit, user_id, any_user=False)
        if locking:
            pick = pick.with_for_update(skip_locked=True)
        queues.append(list(s.scalars(pick)))
    taken: list[int] = []
    for turn in range(limit):
        for queue in queues:
            if turn < len(queue) and len(taken) < limit:
                taken.append(queue[turn])
    return taken


def claim(
    s: Session, version: str, owner: str, limit: int, lease_seconds: float, run_id: int | None = None,
) -> list[ClaimedJob]:
    """Atomically take up to ``limit`` pending jobs for ``owner``: oldest first, in turns
    between users when several have mail waiting."""
    locking = s.get_bind().dialect.name == "postgresql"  # concurrent claimers take different rows
    fair = _fair_pick(s, version, limit, locking)
    if fair is not None:
        target: Any = AnalysisJob.id.in_(fair)
    else:
        pick = _pending(version, limit)
        if locking:
            pick = pick.with_for_update(skip_locked=True)
        # A CTE, not "id IN (subquery LIMIT n)": PostgreSQL may re-run such a subquery and update
        # more than n rows; the CTE is evaluated exactly once.
        target = AnalysisJob.id == pick.cte("picked").c.id
    stmt = (
        update(AnalysisJob)
        .where(target, AnalysisJob.status == JobStatus.PENDING)
        .values(
            status=JobStatus.RUNNING, attempts=AnalysisJob.attempts + 1, lease_owner=owner,
            lease_expires_at=_now() + timedelta(seconds=lease_seconds), run_id=run_id,
            updated_at=_now(),
        )
        .returning(AnalysisJob.id, AnalysisJob.email_id, AnalysisJob.attempts)
        .execution_options(synchronize_session=False)
    )
    rows = s.execute(stmt).all()
    return sorted((ClaimedJob(r[0], r[1], r[2]) for r in rows), key=lambda j: j.job_id)


def _held_by(owner: str) -> Any:
    return and_(AnalysisJob.status == JobStatus.RUNNING, AnalysisJob.lease_owner == owner)


def _mine(job_ids: Iterable[int], owner: str) -> Any:
    return and_(AnalysisJob.id.in_(list(job_ids)), _held_by(owner))


def complete(s: Session, job_ids: Iterable[int], owner: str) -> set[int]:
    """Mark jobs done, in one statement; returns those that were still ours. A job missing
    from the answer was taken over by another owner: its result must not be saved here."""
    ids = list(job_ids)
    if not ids:
        return set()
    rows = s.execute(
        update(AnalysisJob).where(_mine(ids, owner))
        .values(status=JobStatus.DONE, last_error=None, updated_at=_now(), **_UNLEASED)
        .returning(AnalysisJob.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    return set(rows)


def release(s: Session, job_ids: Iterable[int], owner: str, error: str | None = None) -> int:
    """Give jobs back to the queue (a retry, or a clean stop)."""
    extra = {} if error is None else {"last_error": error}
    return _update(s, _mine(job_ids, owner), status=JobStatus.PENDING, updated_at=_now(), **_UNLEASED, **extra)


def quarantine(s: Session, job_id: int, owner: str, error: str) -> bool:
    return _update(s, _mine([job_id], owner), status=JobStatus.QUARANTINED, last_error=error,
                   updated_at=_now(), **_UNLEASED) == 1


def renew(s: Session, owner: str, lease_seconds: float) -> int:
    return _update(s, _held_by(owner), lease_expires_at=_now() + timedelta(seconds=lease_seconds))


def release_owner(s: Session, owner: str) -> int:
    """On a clean stop: everything this owner still holds goes back to pending."""
    return _update(s, _held_by(owner), status=JobStatus.PENDING, **_UNLEASED)


def requeue_quarantined(s: Session, version: str) -> int:
    """Give quarantined jobs another chance (after a fix), with a fresh attempt count."""
    return _update(s, AnalysisJob.status == JobStatus.QUARANTINED, AnalysisJob.pipeline_version == version,
                   status=JobStatus.PENDING, attempts=0, last_error=None)


def counts(s: Session, version: str) -> dict[str, int]:
    rows = s.execute(
        select(AnalysisJob.status, func.count())
        .where(AnalysisJob.pipeline_version == version)
        .group_by(AnalysisJob.status)
    ).all()
    out = {str(status): 0 for status in JobStatus}
    out.update({status: n for status, n in rows})
    return out


def quarantined(s: Session, version: str, limit: int = 50) -> list[AnalysisJob]:
    return list(
        s.scalars(
            select(AnalysisJob)
            .where(AnalysisJob.status == JobStatus.QUARANTINED, AnalysisJob.pipeline_version == version)
            .order_by(AnalysisJob.id)
            .limit(limit)
        )
    )
