"""Saving and reading analyses, and the store context that priority scoring needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from beacon.analysis import priority as prio
from beacon.analysis.models import Analysis, Priority, ScoredAnalysis
from beacon.analysis.version import pipeline_version
from beacon.errors import NotFound
from beacon.models import Email
from beacon.settings import Settings
from beacon.store.context import sent_to
from beacon.store.emails import load_email
from beacon.store.app_settings import personal_settings
from beacon.store.schema import Account, AnalysisRow, EmailRow
from beacon.store.tenancy import EVERYONE, UserScope, account_ids, is_everyone
from beacon.triage.learning import learned_factor, with_learned


def account_settings(s: Session, account_id: int, settings: Settings) -> Settings:
    """``settings`` with the account owner's personal settings (addresses, VIPs, thresholds)
    and the account's own addresses: what its mail is scored with."""
    acc = s.get(Account, account_id)
    settings = personal_settings(s, settings, acc.user_id if acc else None)
    extra = [a.lower() for a in (acc.addresses if acc else []) or []]
    if not extra:
        return settings
    merged = sorted(set(settings.own_addresses) | set(extra))
    return settings.model_copy(update={"own_addresses": merged})


def priority_context(s: Session, row: EmailRow, email: Email, settings: Settings) -> prio.PriorityContext:
    own = [a.lower() for a in settings.own_addresses]
    sender = row.from_addr
    same_account = EmailRow.account_id == row.account_id
    from_sender = 0
    to_sender = 0
    if sender:
        from_sender = s.scalar(
            select(func.count(EmailRow.id)).where(same_account, EmailRow.from_addr == sender, EmailRow.id != row.id)
        ) or 0
        to_sender = sent_to(s, row.account_id, own, sender)
    in_thread = bool(own) and bool(
        s.scalar(
            select(
                exists().where(
                    same_account, EmailRow.thread_id == row.thread_id, EmailRow.from_addr.in_(own),
                    EmailRow.id != row.id,
                )
            )
        )
    )
    return prio.PriorityContext(
        messages_from_sender=from_sender, messages_to_sender=to_sender, reader_in_thread=in_thread
    )


def score_row(s: Session, row: EmailRow, analysis: Analysis, settings: Settings) -> ScoredAnalysis:
    email = load_email(row)
    settings = account_settings(s, row.account_id, settings)
    ctx = priority_context(s, row, email, settings)
    return ScoredAnalysis(
        analysis=analysis,
        priority=_learned(s, row, analysis, prio.score(email, analysis, ctx, settings), settings),
        needs_reply=prio.needs_reply(email, analysis, settings, ctx),
    )


def _learned(s: Session, row: EmailRow, analysis: Analysis, priority: Priority, settings: Settings) -> Priority:
    """``priority`` with the owner's learned taste added, a factor of its own (beacon.triage.learning)."""
    owner = s.get(Account, row.account_id)
    learned = learned_factor(s, owner.user_id if owner else None, row, analysis, factors=priority.factors,
                             settings=settings)
    return priority if learned is None else with_learned(priority, learned, settings, spam=analysis.kind == "spam")


def save_analysis(s: Session, email_id: int, analysis: Analysis, settings: Settings) -> AnalysisRow:
    """Score and upsert the analysis of one email at its pipeline version (idempotent)."""
    row = s.get(EmailRow, email_id)
    if row is None:
        raise NotFound(f"no email {email_id}")
    scored = score_row(s, row, analysis, settings)
    existing = s.scalar(
        select(AnalysisRow).where(
            AnalysisRow.email_id == email_id, AnalysisRow.pipeline_version == analysis.pipeline_version
        )
    )
    target = existing or AnalysisRow(email_id=email_id, pipeline_version=analysis.pipeline_version)
    _fill(target, scored)
    target.email_date = row.date
    row.analysed_version = analysis.pipeline_version
    if existing is None:
        s.add(target)
    s.flush()
    return target


def _fill(target: AnalysisRow, scored: ScoredAnalysis) -> None:
    target.score = scored.priority.score
    target.level = scored.priority.level
    target.kind = scored.analysis.kind
    target.category = scored.analysis.category
    target.needs_reply = scored.needs_reply
    target.data = scored.model_dump(mode="json")
    dues = [x.due for x in scored.analysis.action_items if x.due]
    target.due_at = min(dues) if dues else None


def load_scored(row: AnalysisRow) -> ScoredAnalysis:
    return ScoredAnalysis.model_validate(row.data)


def current_analysis(s: Session, email_id: int, settings: Settings) -> AnalysisRow | None:
    return s.scalar(
        select(AnalysisRow).where(
            AnalysisRow.email_id == email_id,
            AnalysisRow.pipeline_version == pipeline_version(settings),
        )
    )


def _owned(q: Any, scope: UserScope) -> Any:
    """``q`` limited to analyses of mail ``scope`` may see: the one owner filter of this module."""
    return q if is_everyone(scope) else q.where(EmailRow.account_id.in_(account_ids(scope)))


def rescore_all(s: Session, settings: Settings, scope: UserScope = EVERYONE) -> int:
    """Recompute priorities of ``scope``'s current analyses (after weights, VIPs or addresses
    change); each email is scored with its owner's personal settings."""
    version = pipeline_version(settings)
    n = 0
    rows = s.execute(_owned(
        select(AnalysisRow, EmailRow).join(EmailRow, EmailRow.id == AnalysisRow.email_id)
        .where(AnalysisRow.pipeline_version == version), scope)
    )
    for arow, erow in rows:
        scored = score_row(s, erow, load_scored(arow).analysis, settings)
        _fill(arow, scored)
        n += 1
    return n
