"""Conversations: each thread's head (the message that stands for it in the inbox), the
message counts beside a page of heads, and a whole thread for the email page.

A thread is the messages of one account with one ``emails.thread_id``. Its head is its most
important *open* message (highest score, then newest): not the reader's own, not deleted,
not done, not snoozed at the time. ``analyses.thread_head`` marks it, so the conversation
inbox is the same index walk as the message inbox (``ix_analyses_head_priority``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from datetime import datetime

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.orm import Session, defer

from beacon.store.list_rows import ListRow
from beacon.store.schema import AnalysisRow, EmailRow, EmailStateRow

__all__ = ["ThreadMessage", "elect_head", "is_open", "thread_counts", "thread_email_ids", "thread_keys", "thread_messages"]


def thread_email_ids(s: Session, account_id: int, thread_id: str) -> list[int]:
    """The ids of one thread's messages (deleted ones too). Read alone, by the thread index:
    in one statement with the analyses, SQLite (no statistics unless someone runs ANALYZE)
    may walk a whole account's or pipeline version's index instead of the thread's few rows."""
    return [i for i, a in s.execute(_THREAD_IDS, {"thread": thread_id}) if a == account_id]


_THREAD_IDS = select(EmailRow.id, EmailRow.account_id).where(EmailRow.thread_id == bindparam("thread"))  # built once


def is_open(state: EmailStateRow | None, now: datetime) -> bool:
    """Not done and not snoozed at ``now`` (no state row: open)."""
    if state is None:
        return True
    return state.done_at is None and (state.snoozed_until is None or state.snoozed_until <= now)


def elect_head(s: Session, account_id: int, thread_id: str, version: str, now: datetime,
               own: Iterable[str]) -> int | None:
    """Mark the thread's head among its analyses at ``version``; the head's email id (None:
    no open message of someone else's)."""
    own = {a.lower() for a in own}
    ids = thread_email_ids(s, account_id, thread_id)
    rows = s.execute(
        select(AnalysisRow.id, AnalysisRow.score, AnalysisRow.email_date, AnalysisRow.email_id,
               AnalysisRow.thread_head, EmailRow.from_addr, EmailRow.deleted, EmailStateRow)
        .join(EmailRow, EmailRow.id == AnalysisRow.email_id)
        .outerjoin(EmailStateRow, EmailStateRow.email_id == EmailRow.id)
        .where(AnalysisRow.email_id.in_(ids), AnalysisRow.pipeline_version == version)
    ).all() if ids else []
    candidates = [r for r in rows if not r.deleted and r.from_addr.lower() not in own and is_open(r[-1], now)]
    head = max(candidates, key=lambda r: (r.score, r.email_date, r.email_id), default=None)
    stale = [r.id for r in rows if r.thread_head and (head is None or r.id != head.id)]
    if stale:
        s.execute(update(AnalysisRow).where(AnalysisRow.id.in_(stale)).values(thread_head=False))
    if head is not None and not head.thread_head:
        s.execute(update(AnalysisRow).where(AnalysisRow.id == head.id).values(thread_head=True))
    return head.email_id if head is not None else None


def thread_counts(s: Session, rows: Iterable[EmailRow | ListRow]) -> dict[int, int]:
    """For each email of ``rows`` (a page of heads), how many messages its thread has."""
    rows = list(rows)
    keys = {(e.account_id, e.thread_id) for e in rows}
    if not keys:
        return {}
    counted = dict(
        ((a, t), n) for a, t, n in s.execute(
            select(EmailRow.account_id, EmailRow.thread_id, func.count())
            .where(EmailRow.thread_id.in_({t for _a, t in keys}), EmailRow.deleted.is_(False))
            .group_by(EmailRow.account_id, EmailRow.thread_id))
        if (a, t) in keys
    )
    return {e.id: counted.get((e.account_id, e.thread_id), 1) for e in rows}


@dataclass(frozen=True)
class ThreadMessage:
    email: EmailRow
    analysis: AnalysisRow | None  # None: not analysed at this version (yet)
    state: EmailStateRow | None


def thread_messages(s: Session, row: EmailRow, version: str, *, texts: bool = True) -> list[ThreadMessage]:
    """Every message of ``row``'s thread (``row`` included), oldest first. The analyses' JSON is
    not read (a thread shows their scores); ``texts=False``: nor the emails' (the whole Email,
    for its text), read only if a message's ``data`` is used."""
    ids = thread_email_ids(s, row.account_id, row.thread_id)
    found = s.execute(_THREAD[texts], {"version": version, "ids": ids, "row": row.id}).all()
    return [ThreadMessage(e, a, st) for e, a, st in found]


def _thread_statement(texts: bool) -> Select[Any]:
    deferred = [defer(AnalysisRow.data)] + ([] if texts else [defer(EmailRow.data)])
    return (
        select(EmailRow, AnalysisRow, EmailStateRow).options(*deferred)
        .outerjoin(AnalysisRow, (AnalysisRow.email_id == EmailRow.id)
                   & (AnalysisRow.pipeline_version == bindparam("version")))
        .outerjoin(EmailStateRow, EmailStateRow.email_id == EmailRow.id)
        .where(EmailRow.id.in_(bindparam("ids", expanding=True)),
               EmailRow.deleted.is_(False) | (EmailRow.id == bindparam("row")))
        .order_by(EmailRow.date, EmailRow.id)
    )


# Built once, with and without the emails' text (an email page's statements cost more to
# build than to run).
_THREAD = {texts: _thread_statement(texts) for texts in (False, True)}


def thread_keys(s: Session, email_ids: Iterable[int]) -> list[tuple[int, str]]:
    """The distinct (account id, thread id) of ``email_ids``."""
    ids = list(email_ids)
    if not ids:
        return []
    return [(a, t) for a, t in s.execute(
        select(EmailRow.account_id, EmailRow.thread_id).where(EmailRow.id.in_(ids)).distinct())]
