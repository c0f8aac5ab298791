"""Time is now: scores recomputed from the stored analysis, the email's state and the clock,
without re-running the NLP.

The stored ``analyses.score/level/needs_reply`` stay the inbox's index keys; what changes them
without new mail is time (a deadline crossing a day, a snooze waking) and the reader's actions
(a reply, done, snooze). Each analysis records when time next changes it (``rescore_at``); the
periodic pass (:func:`rescore_due`, run by the web app and ``beacon rescore --due``) rescores
exactly those, a thread at a time, because a reply in a thread answers the messages before it
and the thread's head may move.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from beacon.analysis.version import pipeline_version
from beacon.settings import Settings
from beacon.store.analyses import AccountSettings, account_settings, rescore_row
from beacon.store.schema import AnalysisRow, EmailRow, EmailStateRow, utcnow
from beacon.store.state_sets import woken
from beacon.store.tenancy import EVERYONE, UserScope, account_ids, is_everyone
from beacon.triage.threads import elect_head, thread_email_ids, thread_keys

if TYPE_CHECKING:
    from beacon.triage.hooks import Transactions

__all__ = ["RescoreResult", "after_analyses", "mark_due", "rescore_after_actions", "rescore_due", "rescore_emails",
           "rescore_scope", "rescore_thread"]

log = logging.getLogger(__name__)

# The state fields an email's score or its thread's head depend on (read and importance do not).
SCORED_FIELDS = frozenset({"done_at", "snoozed_until", "replied_at"})
# Threads rescored per transaction in the periodic pass (a pass after a migration or a long
# pause may have every analysis due: it goes on in chunks and never holds a long transaction).
DUE_CHUNK = 200


@dataclass(frozen=True)
class RescoreResult:
    threads: int = 0
    emails: int = 0
    changed: int = 0  # emails whose score, level or needs-reply changed

    def __add__(self, other: RescoreResult) -> RescoreResult:
        return RescoreResult(self.threads + other.threads, self.emails + other.emails, self.changed + other.changed)


def rescore_thread(s: Session, thread_id: str, account_id: int, now: datetime, settings: Settings,
                   mine: Settings | None = None, *, elect: bool = True) -> RescoreResult:
    """Rescore every analysed message of one thread at ``now`` and elect its head (``elect``:
    the caller elects it later itself). ``mine``: the account's settings
    (``account_settings``) when the caller has read them already."""
    version = pipeline_version(settings)
    ids = thread_email_ids(s, account_id, thread_id)
    rows = s.execute(
        select(AnalysisRow, EmailRow, EmailStateRow)
        .join(EmailRow, EmailRow.id == AnalysisRow.email_id)
        .outerjoin(EmailStateRow, EmailStateRow.email_id == EmailRow.id)
        .where(AnalysisRow.email_id.in_(ids), AnalysisRow.pipeline_version == version)
    ).all() if ids else []
    if mine is None:
        mine = account_settings(s, account_id, settings)  # once per thread: one account's mail
    # The rows' new scores are written together at the end: each row's scoring reads the store
    # (its sender's history, its thread), and an earlier write would start the write
    # transaction (SQLite's lock on the whole database) while those reads go on.
    with s.no_autoflush:
        changed = sum(rescore_row(s, a, e, mine, now, st) for a, e, st in rows)
    s.flush()
    if elect:
        elect_head(s, account_id, thread_id, version, now, mine.own_addresses)
    return RescoreResult(threads=1, emails=len(rows), changed=changed)


def rescore_emails(s: Session, email_ids: Iterable[int], now: datetime, settings: Settings) -> RescoreResult:
    """Rescore the threads of ``email_ids`` at ``now`` (the whole thread: a reply answers the
    messages before it, and a done message may hand the thread's head to another)."""
    total, mine = RescoreResult(), AccountSettings(settings)
    for account_id, thread_id in thread_keys(s, email_ids):
        total += rescore_thread(s, thread_id, account_id, now, settings, mine.of(s, account_id))
    return total


def rescore_scope(s: Session, settings: Settings, scope: UserScope = EVERYONE,
                  now: datetime | None = None) -> RescoreResult:
    """Rescore every thread of ``scope``'s mail (after weights, VIPs or addresses change)."""
    now = now or utcnow()
    q = select(EmailRow.account_id, EmailRow.thread_id).distinct()
    if not is_everyone(scope):
        q = q.where(EmailRow.account_id.in_(account_ids(scope)))
    total, mine = RescoreResult(), AccountSettings(settings)
    for account_id, thread_id in s.execute(q).all():
        total += rescore_thread(s, thread_id, account_id, now, settings, mine.of(s, account_id))
    return total


def rescore_due(db: Any, settings: Settings, now: datetime | None = None, *, limit: int | None = None) -> RescoreResult:
    """The periodic pass: every thread with an analysis whose ``rescore_at`` has come, a chunk
    of threads per transaction, until none is due (or ``limit`` threads are done)."""
    now = now or utcnow()
    version = pipeline_version(settings)
    total, mine = RescoreResult(), AccountSettings(settings)
    while limit is None or total.threads < limit:
        chunk = DUE_CHUNK if limit is None else min(DUE_CHUNK, limit - total.threads)
        with db.session() as s:
            # One index range (ix_analyses_rescore); each rescore moves rescore_at past now.
            due = s.execute(
                select(EmailRow.account_id, EmailRow.thread_id)
                .join(AnalysisRow, AnalysisRow.email_id == EmailRow.id)
                .where(AnalysisRow.pipeline_version == version, AnalysisRow.rescore_at <= now)
                .order_by(AnalysisRow.rescore_at).limit(chunk * 4)
            ).all()
            keys = list(dict.fromkeys((a, t) for a, t in due))[:chunk]
            if not keys:
                break
            for account_id, thread_id in keys:
                total += rescore_thread(s, thread_id, account_id, now, settings, mine.of(s, account_id))
    if total.threads:
        log.info("rescored %d emails in %d threads (%d changed)", total.emails, total.threads, total.changed)
    return total


def rescore_woken(s: Session, scope: UserScope, now: datetime, settings: Settings) -> RescoreResult:
    """Rescore, before an inbox is read, the threads of ``scope``'s mail whose snooze has just
    ended and that the periodic pass has not reached yet: the woken message then heads its
    conversation at once. Reads the snooze index (usually nothing has woken)."""
    ids = woken(s, now)
    if not ids:
        return RescoreResult()
    q = (select(AnalysisRow.email_id).join(EmailRow, EmailRow.id == AnalysisRow.email_id)
         .where(AnalysisRow.email_id.in_(ids), AnalysisRow.pipeline_version == pipeline_version(settings),
                AnalysisRow.rescore_at <= now))
    if not is_everyone(scope):
        q = q.where(EmailRow.account_id.in_(account_ids(scope)))
    due = list(s.scalars(q))
    return rescore_emails(s, due, now, settings) if due else RescoreResult()


def mark_due(s: Session, email_ids: Collection[int] | Select[Any], now: datetime | None = None) -> None:
    """Have the next periodic pass rescore the threads of ``email_ids`` (for changes made
    where no settings are at hand: IMAP flags, messages gone from the server)."""
    s.execute(update(AnalysisRow).where(AnalysisRow.email_id.in_(email_ids))
              .values(rescore_at=now or utcnow()).execution_options(synchronize_session=False))


def after_analyses(s: Session, email_ids: Iterable[int], settings: Settings, now: datetime,
                   accounts: AccountSettings | None = None) -> None:
    """After new analyses are saved (which elected their threads' heads): the reader's own
    message answers the messages before it, so its thread is rescored whole (once, however
    many of the reader's messages it just got). ``accounts``: as for ``save_analyses``."""
    accounts = accounts or AccountSettings(settings)
    threads: dict[tuple[int, str], Settings] = {}
    for email_id in email_ids:
        row = s.get(EmailRow, email_id)
        if row is None:
            continue
        mine = accounts.of(s, row.account_id)
        if row.from_addr.lower() in {a.lower() for a in mine.own_addresses}:
            threads.setdefault((row.account_id, row.thread_id), mine)
    for (account_id, thread_id), mine in threads.items():
        rescore_thread(s, thread_id, account_id, now, settings, mine)


def rescore_after_actions(tx: Transactions, records: Sequence[Any], settings: Settings) -> None:
    """The ``after_actions`` hook (beacon.triage.hooks): a change (or undo) of a state field
    that scores or heads read (done, snooze, replied) rescores the threads of the emails acted
    on, at the time of the action, a thread per unit of work, each account's settings read once.
    Read, unread and importance change neither: what they teach reaches the scores through the
    learning hook's refresh."""
    scoring = [r for r in records if SCORED_FIELDS & set(r.before or {})]
    if not scoring:
        return
    now = max((r.undone_at or r.created_at) for r in scoring)
    keys = tx(lambda s: thread_keys(s, {r.email_id for r in scoring}))
    mine = AccountSettings(settings)
    version = pipeline_version(settings)
    for account_id, thread_id in keys:
        # Two units: the scores, then the election (its read before any write of its own).
        tx(lambda s, a=account_id, t=thread_id: rescore_thread(s, t, a, now, settings, mine.of(s, a), elect=False))
        tx(lambda s, a=account_id, t=thread_id: elect_head(s, a, t, version, now, mine.of(s, a).own_addresses))
