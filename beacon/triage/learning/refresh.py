"""Bringing stored scores up to date with what a reader's model now knows, without re-scoring
from scratch: the stored factors stay, only the learned one is recomputed and the score summed
again. A few milliseconds an email where a full re-score reads the store for each (history with
the sender, the thread), so an action can refresh the mail it concerns within its request.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from beacon.analysis.models import ScoredAnalysis
from beacon.analysis.version import pipeline_version
from beacon.settings import Settings
from beacon.store.analyses import account_settings
from beacon.store.schema import AnalysisRow, EmailRow
from beacon.store.tenancy import account_ids
from beacon.triage.learning.explain import with_learned
from beacon.triage.learning.features import MailFacts, normal_list_id
from beacon.triage.learning.store import factor_for_facts


def refresh_learned(s: Session, user_id: int | None, email_ids: Sequence[int] | None, settings: Settings) -> int:
    """Recompute the learned factor of ``user_id``'s current analyses (of ``email_ids``; None:
    all of them) and their scores; returns how many scores changed."""
    # Only the columns the features need: an email's JSON (its whole text and HTML) stays unread.
    list_id = EmailRow.data["list_headers"]["list_id"].as_string()
    q = (select(AnalysisRow, EmailRow.account_id, EmailRow.from_addr, EmailRow.thread_id, list_id)
         .join(EmailRow, EmailRow.id == AnalysisRow.email_id)
         .where(AnalysisRow.pipeline_version == pipeline_version(settings)))
    if user_id is not None:
        q = q.where(EmailRow.account_id.in_(account_ids(user_id)))
    if email_ids is not None:
        q = q.where(EmailRow.id.in_(list(email_ids)))
    per_account: dict[int, Settings] = {}
    changed = 0
    for arow, account_id, from_addr, thread_id, raw_list in s.execute(q):
        own = per_account.get(account_id)
        if own is None:
            own = per_account[account_id] = account_settings(s, account_id, settings)
        scored = ScoredAnalysis.model_validate(arow.data)
        facts = MailFacts((from_addr or "").lower(), normal_list_id(raw_list), thread_id)
        factor = factor_for_facts(s, user_id, facts, scored.analysis, scored.priority.factors, own)
        priority = with_learned(scored.priority, factor, own, spam=scored.analysis.kind == "spam")
        if priority == scored.priority:
            continue
        arow.score, arow.level = priority.score, priority.level
        arow.data = scored.model_copy(update={"priority": priority}).model_dump(mode="json")
        changed += 1
    s.flush()
    return changed
