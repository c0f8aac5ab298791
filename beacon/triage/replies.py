"""Telling that the reader replied, from the mail itself: their own message later in the thread
(sent from one of their addresses, or filed in a Sent folder), or the server's \\Answered flag.

Run on newly stored mail (imports and IMAP syncs) in both directions: a new own message marks
the thread's earlier mail replied, and new mail already answered by an own message stored
before is marked too. Each mark is an action (source ``auto``, or ``imap`` for \\Answered) so
what follows actions (re-scoring, learning) follows these as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from beacon.settings import Settings
from beacon.store.context import own_addresses
from beacon.store.schema import Account, EmailRow, UserSetting
from beacon.store.state_sets import SENT_FOLDERS
from beacon.store.tenancy import EVERYONE
from beacon.triage.actions import apply_action
from beacon.triage.models import Action, ActionRecord, Source
from beacon.triage.states import load_states

__all__ = ["detect_replies", "reader_addresses"]


def reader_addresses(s: Session, account_id: int, settings: Settings | None) -> set[str]:
    """The reader's addresses for this account; without ``settings`` (an import that has none),
    the owner's stored own addresses and the account's."""
    if settings is not None:
        return set(own_addresses(s, account_id, settings))
    acc = s.get(Account, account_id)
    if acc is None:
        return set()
    stored = s.get(UserSetting, (acc.user_id, "own_addresses")) if acc.user_id is not None else None
    return {a.lower() for a in [*(acc.addresses or []), *((stored.value or []) if stored else [])]}


def _is_own(row: Any, own: set[str]) -> bool:
    return row.from_addr in own or row.folder in SENT_FOLDERS


def _own_cond(own: set[str]) -> Any:
    return or_(EmailRow.folder.in_(SENT_FOLDERS), EmailRow.from_addr.in_(sorted(own)))


def detect_replies(s: Session, email_ids: Sequence[int], settings: Settings | None = None,
                   now: datetime | None = None) -> list[ActionRecord]:
    """Mark replied what ``email_ids`` (newly stored) show the reader answered; the records."""
    if not email_ids:
        return []
    now = now or datetime.now(timezone.utc)
    cols = (EmailRow.id, EmailRow.account_id, EmailRow.thread_id, EmailRow.date, EmailRow.from_addr,
            EmailRow.folder, EmailRow.answered)
    rows = s.execute(select(*cols).where(EmailRow.id.in_(list(email_ids)), EmailRow.deleted.is_(False))).all()
    owns: dict[int, set[str]] = {}
    found: dict[int, tuple[datetime, Source]] = {}

    def mark(email_id: int, at: datetime, source: Source) -> None:
        if email_id not in found or at < found[email_id][0]:
            found[email_id] = (at, source)

    for r in rows:
        own = owns.setdefault(r.account_id, reader_addresses(s, r.account_id, settings))
        thread = (EmailRow.account_id == r.account_id, EmailRow.thread_id == r.thread_id, EmailRow.id != r.id,
                  EmailRow.deleted.is_(False))
        if _is_own(r, own):
            # The thread's mail up to this reply, except the reader's own.
            for m in s.execute(select(EmailRow.id, EmailRow.from_addr, EmailRow.folder)
                               .where(*thread, EmailRow.date <= r.date)):
                if not _is_own(m, own):
                    mark(m.id, r.date, Source.AUTO)
            continue
        first = s.scalar(select(func.min(EmailRow.date)).where(*thread, EmailRow.date >= r.date, _own_cond(own)))
        if first is not None:
            mark(r.id, first, Source.AUTO)
        elif r.answered:
            mark(r.id, now, Source.IMAP)
    states = load_states(s, found)
    records: list[ActionRecord] = []
    for email_id, (at, source) in sorted(found.items()):
        if states[email_id].replied_at is None:
            records += apply_action(s, EVERYONE, [email_id], Action.REPLIED, source=source, now=at)
    return records
