"""Data access for the durable analysis job queue (``analysis_jobs``).

One row per email per pipeline version. An executor *claims* pending rows (status ``running``,
``attempts + 1``, a lease with an owner and an expiry), then either completes them (``done``),
releases them for a retry (``pending``) or quarantines them. A row left ``running`` by an owner
that died, or whose lease expired, goes back to ``pending``: nothing is lost. Every state change
out of ``running`` is fenced by the owner, so a slow executor whose lease was taken over cannot
mark a job twice. Any executor (the engine today, Celery later) can follow these rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from beacon.store.schema import AnalysisJob, AnalysisRow, EmailRow, Run

PENDING, RUNNING, DONE, QUARANTINED = "pending", "running", "done", "quarantined"


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
        EmailRow.id, literal(version), literal(PENDING), literal(0),
        literal(_now(), AnalysisJob.updated_at.type),
    ).where(EmailRow.deleted.is_(False), ~has_analysis, ~has_job)
    if account_id is not None:
        src = src.where(EmailRow.account_id == account_id)
    cols = ["email_id", "pipeline_version", "status", "attempts", "updated_at"]
    dialect = s.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(AnalysisJob)
    created = len(s.execute(ins.from_select(cols, src).on_conflict_do_nothing().returning(AnalysisJob.id)).all())

    lost = ~exists().where(
        AnalysisRow.email_id == AnalysisJob.email_id, AnalysisRow.pipeline_version == version
    )
    reopen = update(AnalysisJob).where(
        AnalysisJob.pipeline_version == version, AnalysisJob.status == DONE, lost
    )
    if account_id is not None:
        reopen = reopen.where(
            AnalysisJob.email_id.in_(select(EmailRow.id).where(EmailRow.account_id == account_id))
        )
    reopened = s.execute(
        reopen.values(status=PENDING, attempts=0, last_error=None).execution_options(synchronize_session=False)
    ).rowcount or 0
    return created + reopened


def recover_stale(s: Session, owner_is_dead: Callable[[str], bool]) -> int:
    """Return to ``pending`` every running job whose lease expired or whose owner is dead."""
    rows = s.execute(
        select(AnalysisJob.lease_owner, AnalysisJob.lease_expires_at)
        .where(AnalysisJob.status == RUNNING)
        .distinct()
    ).all()
    now = _now()
    stale = {
        owner for owner, expires in rows
        if owner is None or owner_is_dead(owner) or (expires is not None and expires < now)
    }
    n = 0
    for owner in stale:
        cond = AnalysisJob.lease_owner.is_(None) if owner is None else AnalysisJob.lease_owner == owner
        n += s.execute(
            update(AnalysisJob)
            .where(AnalysisJob.status == RUNNING, cond)
            .values(status=PENDING, lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount or 0
    return n


def claim(
    s: Session, version: str, owner: str, limit: int, lease_seconds: float, run_id: int | None = None,
) -> list[ClaimedJob]:
    """Atomically take up to ``limit`` pending jobs (oldest first) for ``owner``."""
    pick = (
        select(AnalysisJob.id)
        .where(AnalysisJob.status == PENDING, AnalysisJob.pipeline_version == version)
        .order_by(AnalysisJob.id)
        .limit(limit)
    )
    if s.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)  # concurrent claimers take different rows
    # A CTE, not "id IN (subquery LIMIT n)": PostgreSQL may re-run such a subquery and update
    # more than n rows; the CTE is evaluated exactly once.
    picked = pick.cte("picked")
    stmt = (
        update(AnalysisJob)
        .where(AnalysisJob.id == picked.c.id, AnalysisJob.status == PENDING)
        .values(
            status=RUNNING, attempts=AnalysisJob.attempts + 1, lease_owner=owner,
            lease_expires_at=_now() + timedelta(seconds=lease_seconds), run_id=run_id,
            updated_at=_now(),
        )
        .returning(AnalysisJob.id, AnalysisJob.email_id, AnalysisJob.attempts)
        .execution_options(synchronize_session=False)
    )
    rows = s.execute(stmt).all()
    return sorted((ClaimedJob(r[0], r[1], r[2]) for r in rows), key=lambda j: j.job_id)


def _mine(job_ids: Iterable[int], owner: str):  # type: ignore[no-untyped-def]
    return and_(AnalysisJob.id.in_(list(job_ids)), AnalysisJob.status == RUNNING, AnalysisJob.lease_owner == owner)


def complete(s: Session, job_ids: Iterable[int], owner: str) -> set[int]:
    """Mark jobs done, in one statement; returns those that were still ours. A job missing
    from the answer was taken over by another owner: its result must not be saved here."""
    ids = list(job_ids)
    if not ids:
        return set()
    rows = s.execute(
        update(AnalysisJob).where(_mine(ids, owner))
        .values(status=DONE, lease_owner=None, lease_expires_at=None, last_error=None, updated_at=_now())
        .returning(AnalysisJob.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    return set(rows)


def release(s: Session, job_ids: Iterable[int], owner: str, error: str | None = None) -> int:
    """Give jobs back to the queue (a retry, or a clean stop)."""
    values: dict = dict(status=PENDING, lease_owner=None, lease_expires_at=None, updated_at=_now())
    if error is not None:
        values["last_error"] = error
    return s.execute(
        update(AnalysisJob).where(_mine(job_ids, owner)).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount or 0


def quarantine(s: Session, job_id: int, owner: str, error: str) -> bool:
    res = s.execute(
        update(AnalysisJob).where(_mine([job_id], owner))
        .values(status=QUARANTINED, lease_owner=None, lease_expires_at=None, last_error=error, updated_at=_now())
        .execution_options(synchronize_session=False)
    )
    return (res.rowcount or 0) == 1


def renew(s: Session, owner: str, lease_seconds: float) -> int:
    return s.execute(
        update(AnalysisJob)
        .where(AnalysisJob.status == RUNNING, AnalysisJob.lease_owner == owner)
        .values(lease_expires_at=_now() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    ).rowcount or 0


def release_owner(s: Session, owner: str) -> int:
    """On a clean stop: everything this owner still holds goes back to pending."""
    return s.execute(
        update(AnalysisJob)
        .where(AnalysisJob.status == RUNNING, AnalysisJob.lease_owner == owner)
        .values(status=PENDING, lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount or 0


def requeue_quarantined(s: Session, version: str) -> int:
    """Give quarantined jobs another chance (after a fix), with a fresh attempt count."""
    return s.execute(
        update(AnalysisJob)
        .where(AnalysisJob.status == QUARANTINED, AnalysisJob.pipeline_version == version)
        .values(status=PENDING, attempts=0, last_error=None)
        .execution_options(synchronize_session=False)
    ).rowcount or 0


def counts(s: Session, version: str) -> dict[str, int]:
    rows = s.execute(
        select(AnalysisJob.status, func.count())
        .where(AnalysisJob.pipeline_version == version)
        .group_by(AnalysisJob.status)
    ).all()
    out = {PENDING: 0, RUNNING: 0, DONE: 0, QUARANTINED: 0}
    out.update({status: n for status, n in rows})
    return out


def quarantined(s: Session, version: str, limit: int = 50) -> list[AnalysisJob]:
    return list(
        s.scalars(
            select(AnalysisJob)
            .where(AnalysisJob.status == QUARANTINED, AnalysisJob.pipeline_version == version)
            .order_by(AnalysisJob.id)
            .limit(limit)
        )
    )


def interrupt_dead_runs(s: Session, owner_is_dead: Callable[[str], bool]) -> int:
    """Runs of any kind still 'running' whose owner process is gone become 'interrupted'."""
    n = 0
    for run in s.scalars(select(Run).where(Run.status == "running")):
        owner = (run.params or {}).get("owner")
        if owner and owner_is_dead(owner):
            run.status = "interrupted"
            run.finished_at = _now()
            n += 1
    return n
