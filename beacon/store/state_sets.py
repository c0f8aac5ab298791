"""The reader's states (``email_states``) as sets of email ids, for the inbox and the ``is:``
terms of the search language.

Each set is read from a small index (done and snoozed mail have partial indexes of their own)
and tested against the inbox's index walk as ``email_id [NOT] IN (set)``, which both
databases build once per query (SQLite an ephemeral index, PostgreSQL a hashed subplan): the
walk never reads an email's row or state to learn whether it belongs in the inbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, column, or_, select, table, text, union_all

from beacon.store.schema import SENT_FOLDERS_0005, Account, AnalysisRow, EmailRow, EmailStateRow
from beacon.store.tenancy import UserScope, account_ids, is_everyone

__all__ = ["SENT_CONDITION", "SENT_FOLDERS", "account_addresses", "away", "one_set", "own_mail", "state_condition", "woken"]

# Folder names mail clients and servers give sent mail (IMAP SPECIAL-USE \Sent, Maildir++,
# Gmail, Exchange/Outlook, Apple Mail, Thunderbird), as stored in ``emails.folder``; the
# partial index ``ix_emails_sent`` holds exactly these (a new name needs a migration).
SENT_FOLDERS = SENT_FOLDERS_0005

# The one condition that finds them, written as the partial index ``ix_emails_sent`` states it
# (migration 0005), so both databases read that small index whatever their statistics say.
SENT_CONDITION = "folder IN (" + ", ".join(f"'{name}'" for name in SENT_FOLDERS) + ")"

_S = EmailStateRow


def _done() -> Select[Any]:
    return select(_S.email_id).where(_S.done_at.is_not(None))


def _snoozed(now: datetime) -> Select[Any]:
    return select(_S.email_id).where(_S.snoozed_until > now)


def away() -> list[Select[Any]]:
    """Mail out of the inbox: done, or snoozed (asleep, or woken and not acted on yet: those
    stand on top of the first page instead, :func:`woken`). Parts of one UNION ALL (SQLite
    takes no nested compound selects)."""
    return [_done(), select(_S.email_id).where(_S.snoozed_until.is_not(None))]


def woken(now: datetime) -> ColumnElement[bool]:
    """Mail whose snooze has ended and that nobody has acted on since."""
    ids = select(_S.email_id).where(_S.snoozed_until <= now, _S.done_at.is_(None))
    return AnalysisRow.email_id.in_(ids)


# ``emails`` as a plain table: a subquery on it must not make the inbox query join the emails
# row of every analysis it walks (beacon.store.inbox._from joins when a condition reads one).
_emails = table("emails", column("id"), column("account_id"), column("folder"), column("from_addr"))


def own_mail(scope: UserScope, addresses: Sequence[str]) -> list[Select[Any]]:
    """The reader's own messages: sent from one of their addresses, or filed in a Sent folder
    (both read from indexes on ``emails``). Parts of one UNION ALL, like :func:`away`."""
    e = _emails.c
    mine = [] if is_everyone(scope) else [e.account_id.in_(account_ids(scope))]
    parts = [select(e.id).where(text(SENT_CONDITION), *mine)]
    if addresses:
        parts.append(select(e.id).where(e.from_addr.in_(sorted({a.lower() for a in addresses})), *mine))
    return parts


def one_set(parts: list[Select[Any]]) -> Any:
    return union_all(*parts) if len(parts) > 1 else parts[0]


def account_addresses(s: Any, scope: UserScope) -> list[str]:
    """The addresses set on ``scope``'s accounts (besides the personal ``own_addresses``)."""
    q = select(Account.addresses)
    if not is_everyone(scope):
        q = q.where(Account.user_id == scope)
    return sorted({a.lower() for addrs in s.scalars(q) for a in (addrs or [])})


def state_condition(name: str, now: datetime) -> ColumnElement[bool]:
    """The ``is:`` terms kept in ``email_states`` as a condition on the inbox's analyses row."""
    eid = AnalysisRow.email_id
    if name == "done":
        return eid.in_(_done())
    if name == "snoozed":
        return eid.in_(_snoozed(now))
    if name == "read":
        return eid.in_(select(_S.email_id).where(_S.read_at.is_not(None)))
    if name == "unread":
        return eid.not_in(select(_S.email_id).where(_S.read_at.is_not(None)))
    if name == "replied":
        return eid.in_(select(_S.email_id).where(_S.replied_at.is_not(None)))
    if name == "important":
        # The reader's mark wins; unmarked mail is important when flagged on the server or HIGH.
        marked = select(_S.email_id).where(_S.importance.is_not(None))
        return or_(
            eid.in_(select(_S.email_id).where(_S.importance == "important")),
            and_(eid.not_in(marked), or_(EmailRow.flagged.is_(True), AnalysisRow.level == "HIGH")),
        )
    if name == "not-important":
        return eid.in_(select(_S.email_id).where(_S.importance == "not_important"))
    raise ValueError(f"not a state kept in email_states: {name}")
