"""The "ignored" signal, from what the reader really did: mail she passed over.

An email counts as ignored when, :attr:`~beacon.settings.Settings.learning_ignored_days` after it
arrived, she has done nothing with it at all (not opened, marked, snoozed, archived or answered,
no action logged), while she did act on mail that arrived after it: she was working through her
inbox and left this one where it was. A reader away on holiday ignores nothing.

Run by the periodic pass (:class:`beacon.triage.scheduler.RescoreScheduler`); each reader's model
keeps how far it has looked (``UserModel.ignored_through``), so each email is judged once. An
ignored email teaches little (:data:`~beacon.triage.learning.signals.SIGNALS`: 0.2 of a mark).
The model keeps which emails taught it: should she act on one after all (open it, mark it,
reopen it from the archive, in Beacon or another client), :func:`~beacon.triage.learning.store.observe`
takes that lesson back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.orm import Session

from beacon.settings import Settings
from beacon.store.analyses import account_settings
from beacon.store.schema import Account, EmailActionRow, EmailRow, EmailStateRow
from beacon.triage.learning.store import load_model, observe, save_model
from beacon.triage.models import Source

__all__ = ["BATCH", "IgnoredRecord", "learn_ignored", "learn_ignored_for"]

BATCH = 200  # emails judged per reader and pass: a big import's backlog is taken in steps
_READER = (Source.WEB.value, Source.API.value, Source.CLI.value)


@dataclass
class IgnoredRecord:
    """An "ignored" example as the learning reads an action (no row in ``email_actions``: the
    reader did nothing, which is the point)."""

    user_id: int | None
    email_id: int
    created_at: datetime
    action: str = "ignored"
    before: dict[str, Any] = field(default_factory=dict)
    undone_at: datetime | None = None


def _arrival() -> Any:
    # When it reached the reader: an old message imported today arrived today.
    return case((EmailRow.date > EmailRow.imported_at, EmailRow.date), else_=EmailRow.imported_at)


def _owned(q: Any, user_id: int | None) -> Any:
    owner = Account.user_id.is_(None) if user_id is None else Account.user_id == user_id
    return q.join(Account, Account.id == EmailRow.account_id).where(owner)


def learn_ignored_for(s: Session, user_id: int | None, settings: Settings, now: datetime | None = None) -> int:
    """Learn from the mail ``user_id`` has ignored since the last look; returns how many."""
    now = now or datetime.now(timezone.utc)
    arrival = _arrival()
    # The newest arrival among the mail she acted on herself: she saw her inbox up to there.
    active = s.scalar(_owned(select(func.max(arrival)).select_from(EmailRow)
                             .join(EmailActionRow, EmailActionRow.email_id == EmailRow.id)
                             .where(EmailActionRow.source.in_(_READER)), user_id))
    if active is None:
        return 0
    if active.tzinfo is None:  # SQLite hands back naive UTC from an expression
        active = active.replace(tzinfo=timezone.utc)
    until = min(now - timedelta(days=settings.learning_ignored_days), active - timedelta(microseconds=1))
    model = load_model(s, user_id)
    since = model.ignored_through if model is not None else None
    touched = or_(EmailStateRow.read_at.is_not(None), EmailStateRow.done_at.is_not(None),
                  EmailStateRow.snoozed_until.is_not(None), EmailStateRow.importance.is_not(None),
                  EmailStateRow.replied_at.is_not(None))
    q = _owned(select(EmailRow.id, EmailRow.account_id, EmailRow.from_addr, arrival).select_from(EmailRow),
               user_id).where(
        EmailRow.deleted.is_(False), EmailRow.seen.is_(False), arrival <= until,
        ~exists().where(EmailStateRow.email_id == EmailRow.id, touched),
        ~exists().where(EmailActionRow.email_id == EmailRow.id))
    if since is not None:
        q = q.where(arrival > since)
    rows = [r for r in s.execute(q.order_by(arrival, EmailRow.id).limit(BATCH))]
    # Her own mail is not mail she ignored: her addresses are personal settings plus the
    # account's own, as when her mail is scored (read once per account).
    own: dict[int, set[str]] = {}
    for account_id in {r[1] for r in rows}:
        own[account_id] = {a.lower() for a in account_settings(s, account_id, settings).own_addresses}
    ignored = [IgnoredRecord(user_id, eid, now) for eid, account_id, sender, _ in rows
               if (sender or "").lower() not in own[account_id]]
    learned = observe(s, ignored, settings) if ignored else 0
    # How far it looked: to the last email judged when the batch was full, else to ``until``.
    through = rows[-1][3] if len(rows) == BATCH else until
    if through.tzinfo is None:
        through = through.replace(tzinfo=timezone.utc)
    model = load_model(s, user_id)
    if model is not None:
        model.ignored_through = through
        save_model(s, user_id, model)
    return learned


def learn_ignored(s: Session, settings: Settings, now: datetime | None = None) -> int:
    """:func:`learn_ignored_for` every reader who owns mail; returns how many emails taught."""
    if not settings.learning_enabled:
        return 0
    return sum(learn_ignored_for(s, uid, settings, now)
               for uid in s.scalars(select(Account.user_id).distinct()))
