"""Learning after actions (a ``beacon.triage.hooks`` hook): each action teaches its reader's
model, then the learned factor of the reader's mail that the lesson concerns most is refreshed at
once, so marking one list post "not important" moves the other posts of that list in the same
request.

"Most": open mail sharing the acted-on email's sender, mailing list or conversation, the newest
:data:`RELATED_LIMIT` of it among the newest :data:`RECENT`. What the lesson says about kinds of mail or factors in general
reaches the rest of the inbox at the next re-score (the periodic pass, or ``beacon rescore``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from beacon.settings import Settings
from beacon.store.schema import EmailRow, EmailStateRow
from beacon.store.tenancy import account_ids
from beacon.triage.learning.refresh import elect_heads, refresh_scores
from beacon.triage.learning.store import observe
from beacon.triage.models import ActionRecord
from beacon.store.analyses import AccountSettings

if TYPE_CHECKING:
    from beacon.triage.hooks import Transactions

RELATED_LIMIT = 50  # a page of the inbox: the action's request stays quick
RECENT = 1000  # the newest mails searched for related ones
REFRESH_CHUNK = 10  # related mails refreshed per unit of work (a short write each, when deferred)


def _list_id(row: EmailRow) -> str | None:
    return ((row.data or {}).get("list_headers") or {}).get("list_id")


def related_email_ids(s: Session, user_id: int | None, email_ids: Sequence[int], limit: int = RELATED_LIMIT) -> list[int]:
    """The user's open mail (not done) that shares a sender, a list or a conversation with
    ``email_ids``, newest first, among the user's newest :data:`RECENT` mails."""
    rows = list(s.scalars(select(EmailRow).where(EmailRow.id.in_(list(email_ids)))))
    senders = {r.from_addr for r in rows if r.from_addr}
    threads = {r.thread_id for r in rows}
    lists = {x for x in (_list_id(r) for r in rows) if x}
    same = [EmailRow.thread_id.in_(threads)]
    if senders:
        same.append(EmailRow.from_addr.in_(senders))
    if lists:
        same.append(EmailRow.data["list_headers"]["list_id"].as_string().in_(lists))
    # Among the newest mail only: the list test reads each email's JSON, which must not mean all of it.
    recent = select(EmailRow.id).where(EmailRow.deleted.is_(False)).order_by(EmailRow.date.desc()).limit(RECENT)
    if user_id is not None:
        recent = recent.where(EmailRow.account_id.in_(account_ids(user_id)))
    q = (select(EmailRow.id).outerjoin(EmailStateRow, EmailStateRow.email_id == EmailRow.id)
         .where(EmailRow.id.in_(select(recent.subquery().c.id)), or_(*same), EmailStateRow.done_at.is_(None))
         .order_by(EmailRow.date.desc()).limit(limit))
    return list(s.scalars(q))


def learn_after_actions(tx: Transactions, records: Sequence[ActionRecord], settings: Settings) -> None:
    """Learn from ``records`` (or unlearn the undone ones), then refresh the related mail's
    scores, :data:`REFRESH_CHUNK` emails per unit of work, each account's settings read once."""
    if not settings.learning_enabled or not tx(lambda s: observe(s, records, settings)):
        return
    by_user: dict[int | None, list[int]] = {}
    for r in records:
        by_user.setdefault(r.user_id, []).append(r.email_id)
    accounts = AccountSettings(settings)
    for user_id, ids in by_user.items():
        related = tx(lambda s, u=user_id, i=ids: related_email_ids(s, u, i))
        moved: set[tuple[int, str]] = set()
        for start in range(0, len(related), REFRESH_CHUNK):
            chunk = related[start:start + REFRESH_CHUNK]
            moved |= tx(lambda s, u=user_id, c=chunk: refresh_scores(s, u, c, settings, accounts))[1]
        # Each election its own unit: its read then comes before any write of its transaction.
        for key in sorted(moved):
            tx(lambda s, k=key: elect_heads(s, [k], settings, accounts))
