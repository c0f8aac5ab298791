"""The open mail a lesson is compared with, so that the model learns a ranking, not only a label.

Beacon's learned factor only ever reorders the reader's inbox. A pointwise example ("this mail
is not important") is satisfied as soon as the model calls the mail unimportant, even while it
still sits on top of everything else: when every mail at the top of a reader's inbox is of a
kind she does not want, the lesson goes into what those mails share with all mail (their kind,
their factors), all mail moves together, and the top stays as it was. Comparing the mail she
judged with mail she has open (the pairwise approach to learning to rank; the open mail is
sampled, as Bayesian Personalised Ranking samples the items a user did not choose) moves what is
its own, its sender, domain, list, conversation, until it ranks where she put it. The open mail
is drawn at random from her newest open mail (not from the top of the inbox, which holds mail
like the one she judged), the same draw for the same email every time.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from beacon.analysis.models import Priority, ScoredAnalysis
from beacon.analysis.version import pipeline_version
from beacon.settings import Settings
from beacon.store.schema import AnalysisRow, EmailRow
from beacon.triage.learning.explain import FACTOR_NAME, with_learned
from beacon.triage.learning.features import MailFacts, features, normal_list_id
from beacon.triage.learning.model import Versus

__all__ = ["COMPARED", "RECENT", "pick", "unlearned_score", "versus_for"]

COMPARED = 5  # open mails each lesson is compared with: enough that one odd draw does not steer it
RECENT = 1000  # among the reader's newest open mails


def pick(candidates: Sequence[int], email_id: int, k: int = COMPARED) -> list[int]:
    """``k`` of ``candidates`` (newest last) at random, the same for the same email: only the
    newest :data:`RECENT` count."""
    pool = [c for c in candidates[-RECENT:] if c != email_id]
    return random.Random(email_id).sample(pool, min(k, len(pool)))


def unlearned_score(priority: Priority, kind: str, settings: Settings) -> int:
    """Beacon's own score of a mail, without what the model adds."""
    if not any(f.name == FACTOR_NAME for f in priority.factors):
        return priority.score
    return with_learned(priority, None, settings, spam=kind == "spam").score


def gap(score: float, other: float, settings: Settings) -> float:
    """How far one score is above another, in the model's log-odds."""
    ppl = settings.learning_points_per_logit
    return (score - other) / ppl if ppl else 0.0


def versus_for(s: Session, user_id: int | None, judged: Mapping[int, tuple[Mapping[str, float], int]],
               settings: Settings) -> dict[int, list[Versus]]:
    """For each judged email (id -> its features and unlearned score), the open mail of
    ``user_id`` it is compared with: their features and the score gap."""
    version = pipeline_version(settings)
    owner = AnalysisRow.user_id.is_(None) if user_id is None else AnalysisRow.user_id == user_id
    # The inbox's own index by date (pipeline version, owner, away, date): a walk of 1000 entries.
    newest = list(s.scalars(select(AnalysisRow.email_id).where(AnalysisRow.pipeline_version == version, owner,
                                                                AnalysisRow.away.is_(False))
                            .order_by(AnalysisRow.email_date.desc(), AnalysisRow.email_id.desc()).limit(RECENT)))
    newest.reverse()
    drawn = {eid: pick(newest, eid) for eid in judged}
    others = _facts(s, {o for ids in drawn.values() for o in ids}, version, settings)
    return {eid: [(others[o][0], gap(judged[eid][1], others[o][1], settings)) for o in ids if o in others]
            for eid, ids in drawn.items()}


def _facts(s: Session, ids: Iterable[int], version: str, settings: Settings) -> dict[int, tuple[dict[str, float], int]]:
    """Features and unlearned score of each email (only the columns the features need)."""
    ids = list(ids)
    if not ids:
        return {}
    list_id = EmailRow.data["list_headers"]["list_id"].as_string()
    q = (select(AnalysisRow.data, EmailRow.id, EmailRow.from_addr, EmailRow.thread_id, list_id)
         .join(EmailRow, EmailRow.id == AnalysisRow.email_id)
         .where(AnalysisRow.pipeline_version == version, EmailRow.id.in_(ids)))
    out = {}
    for data, eid, from_addr, thread_id, raw_list in s.execute(q):
        scored = ScoredAnalysis.model_validate(data)
        facts = MailFacts((from_addr or "").lower(), normal_list_id(raw_list), thread_id)
        factors = [f for f in scored.priority.factors if f.name != FACTOR_NAME]
        out[eid] = (features(facts, scored.analysis, factors),
                    unlearned_score(scored.priority, scored.analysis.kind, settings))
    return out
