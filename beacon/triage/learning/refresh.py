"""Bringing stored scores up to date with what a reader's model now knows, without re-scoring
from scratch: the stored factors stay, only the learned one is recomputed and the score summed
again. A few milliseconds an email where a full re-score reads the store for each (history with
the sender, the thread), so an action can refresh the mail it concerns right after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from beacon.analysis.models import ScoredAnalysis
from beacon.analysis.version import pipeline_version
from beacon.settings import Settings
from beacon.store.rows import JSONText
from beacon.store.schema import AnalysisRow, EmailRow
from beacon.store.tenancy import account_ids
from beacon.triage.learning.explain import with_learned
from beacon.triage.learning.features import MailFacts, normal_list_id
from beacon.triage.learning.store import factor_for_facts
from beacon.store.analyses import AccountSettings
from beacon.triage.threads import elect_head


def refresh_learned(s: Session, user_id: int | None, email_ids: Sequence[int] | None, settings: Settings, *,
                    accounts: AccountSettings | None = None) -> int:
    """Recompute the learned factor of ``user_id``'s current analyses (of ``email_ids``; None:
    all of them) and their scores, and elect again the head of each thread whose scores moved;
    returns how many analyses changed (their score, or only the learned factor's points)."""
    accounts = accounts or AccountSettings(settings)
    changed, moved = refresh_scores(s, user_id, email_ids, settings, accounts)
    elect_heads(s, moved, settings, accounts)
    return changed


def elect_heads(s: Session, threads: Iterable[tuple[int, str]], settings: Settings, accounts: AccountSettings) -> None:
    """Elect again the head of each (account id, thread id)."""
    version, now = pipeline_version(settings), datetime.now(timezone.utc)
    for account_id, thread_id in sorted(threads):
        elect_head(s, account_id, thread_id, version, now, accounts.of(s, account_id).own_addresses)


def refresh_scores(s: Session, user_id: int | None, email_ids: Sequence[int] | None, settings: Settings,
                   accounts: AccountSettings) -> tuple[int, set[tuple[int, str]]]:
    """:func:`refresh_learned` without the election: how many analyses changed, and the
    (account id, thread id) of those whose score moved (their heads are to be elected again)."""
    version = pipeline_version(settings)
    # Only the columns the features need: an email's JSON (its whole text and HTML) stays unread.
    list_id = EmailRow.data["list_headers"]["list_id"].as_string()
    q = (select(AnalysisRow, EmailRow.account_id, EmailRow.from_addr, EmailRow.thread_id, list_id)
         .join(EmailRow, EmailRow.id == AnalysisRow.email_id)
         .where(AnalysisRow.pipeline_version == version))
    if user_id is not None:
        q = q.where(EmailRow.account_id.in_(account_ids(user_id)))
    if email_ids is not None:
        q = q.where(EmailRow.id.in_(list(email_ids)))
    moved: set[tuple[int, str]] = set()
    written: list[AnalysisRow] = []
    # Every new score is written at the end (reads first: SQLite's write lock is taken late).
    with s.no_autoflush:
        for arow, account_id, from_addr, thread_id, raw_list in s.execute(q):
            own = accounts.of(s, account_id)
            scored = ScoredAnalysis.model_validate(arow.data)
            facts = MailFacts((from_addr or "").lower(), normal_list_id(raw_list), thread_id)
            factor = factor_for_facts(s, user_id, facts, scored.analysis, scored.priority.factors, own)
            priority = with_learned(scored.priority, factor, own, spam=scored.analysis.kind == "spam")
            if priority == scored.priority:
                continue
            if (arow.score, arow.level) != (priority.score, priority.level):
                arow.score, arow.level = priority.score, priority.level
                moved.add((account_id, thread_id))  # its thread's head may change
            # Serialised here, not in the flush: the flush runs with the write lock held.
            arow.data = JSONText(scored.model_copy(update={"priority": priority}).model_dump_json())
            written.append(arow)
    s.flush()
    for arow in written:
        s.expire(arow, ["data"])  # read back as JSON, not as the text written
    return len(written), moved
