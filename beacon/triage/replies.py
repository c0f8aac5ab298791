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

from sqlalchemy import bindparam, select
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


# Fixed statements, the lists bound as one expanding parameter: built once, not per batch
# with a bound value per element.
_MATES = (select(EmailRow.id, EmailRow.account_id, EmailRow.thread_id, EmailRow.date, EmailRow.from_addr,
                 EmailRow.folder)
          .where(EmailRow.thread_id.in_(bindparam("threads", expanding=True)), EmailRow.deleted.is_(False)))
_NEW_ROWS = (select(EmailRow.id, EmailRow.account_id, EmailRow.thread_id, EmailRow.date, EmailRow.from_addr,
                    EmailRow.folder, EmailRow.answered)
             .where(EmailRow.id.in_(bindparam("ids", expanding=True)), EmailRow.deleted.is_(False)))


def _thread_mates(s: Session, rows: Sequence[Any]) -> dict[tuple[int, str], list[Any]]:
    """Every live email of the threads ``rows`` belong to, by (account, thread): one query
    per 500 threads (a query per new email made an import slow down as the store grew)."""
    wanted = {(r.account_id, r.thread_id) for r in rows}
    threads = sorted({t for _a, t in wanted})
    out: dict[tuple[int, str], list[Any]] = {key: [] for key in wanted}
    for start in range(0, len(threads), 500):
        for m in s.connection().execute(_MATES, {"threads": threads[start:start + 500]}):
            mates = out.get((m.account_id, m.thread_id))
            if mates is not None:
                mates.append(m)
    return out


def detect_replies(s: Session, email_ids: Sequence[int], settings: Settings | None = None,
                   now: datetime | None = None) -> list[ActionRecord]:
    """Mark replied what ``email_ids`` (newly stored) show the reader answered; the records."""
    if not email_ids:
        return []
    now = now or datetime.now(timezone.utc)
    rows = []
    ids = list(email_ids)
    # Core statements on the session's connection (after the flush an ORM query would make):
    # the ORM's handling of a column query cost more than the query on an import's batches.
    s.flush()
    for start in range(0, len(ids), 500):
        rows += s.connection().execute(_NEW_ROWS, {"ids": ids[start:start + 500]}).all()
    owns = {a: reader_addresses(s, a, settings) for a in {r.account_id for r in rows}}
    threads = _thread_mates(s, rows)
    found: dict[int, tuple[datetime, Source]] = {}

    def mark(email_id: int, at: datetime, source: Source) -> None:
        if email_id not in found or at < found[email_id][0]:
            found[email_id] = (at, source)

    for r in rows:
        own = owns[r.account_id]
        mates = [m for m in threads[(r.account_id, r.thread_id)] if m.id != r.id and m.date is not None]
        if r.date is None:
            mates = []
        if _is_own(r, own):
            # The thread's mail up to this reply, except the reader's own.
            for m in mates:
                if m.date <= r.date and not _is_own(m, own):
                    mark(m.id, r.date, Source.AUTO)
            continue
        first = min((m.date for m in mates if m.date >= r.date and _is_own(m, own)), default=None)
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
