"""The learned model's contribution as a priority factor with a reason a person can read:
"you marked 4 of 5 mails from this list not important"."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from beacon.analysis.models import Factor, Priority
from beacon.settings import Settings
from beacon.triage.learning.signals import SENTENCES, SHORT, SIGNALS, Signal

if TYPE_CHECKING:  # the model imports scikit-learn: only where a model is in use
    from beacon.triage.learning.model import UserModel

FACTOR_NAME = "learned"
# Between features that weigh the same, the reason names the most specific one.
_SPECIFIC = {"list": 0, "sender": 1, "thread": 2, "domain": 3, "due": 4, "kind": 5, "factor": 6}


def describe(feature: str) -> str:
    """How a feature reads after "mails …": "from this list", "from example.com"."""
    kind, _, value = feature.partition(":")
    return {
        "list": f"from the list {value}",
        "sender": f"from {value}",
        "domain": f"from {value}",
        "thread": "in this conversation",
        "kind": f"of the kind {value}",
        "due": "with a deadline",
        "factor": f"with the factor “{value}”",
    }.get(kind, feature)


def counts_sentence(feature: str, counts: Mapping[str, int], positive: bool) -> str | None:
    """"you marked 4 of 5 mails from this list not important", from the stats of one feature."""
    total = sum(counts.values())
    if not total:
        return None
    agree = {Signal(s): n for s, n in counts.items() if n and SIGNALS[Signal(s)][0] == positive}
    k = sum(agree.values())
    if not k:
        return None
    what = describe(feature)
    if len(agree) == 1:
        (signal,) = agree
        return SENTENCES[signal].format(mails=f"{k} of {total} mail{'s' if total > 1 else ''} {what}")
    how = ", ".join(f"{SHORT[s]} {n}" for s, n in sorted(agree.items(), key=lambda kv: -kv[1]))
    verdict = "important" if positive else "not important"
    return f"{k} of {total} mails {what} were {verdict} to you ({how})"


def learned_factor_for(model: UserModel, feats: Mapping[str, float], *, points_per_logit: float,
                       max_points: float) -> Factor | None:
    """The factor (points and reason) the model adds to one email, or None when it adds nothing."""
    contrib = model.contributions(feats)
    points = max(-max_points, min(max_points, points_per_logit * math.fsum(contrib.values())))
    if round(points, 1) == 0:
        return None
    positive = points > 0
    # The reason is the feature that pushed hardest in the direction of the total, with its counts.
    ranked = sorted((kv for kv in contrib.items() if (kv[1] > 0) == positive),
                    key=lambda kv: (-round(abs(kv[1]), 6), _SPECIFIC.get(kv[0].partition(":")[0], 9)))
    reason, evidence = None, None
    for name, _ in ranked:
        reason = counts_sentence(name, model.stats.get(name, {}), positive)
        if reason:
            evidence = name.partition(":")[2] if not name.startswith("thread:") else None
            break
    if reason is None and ranked:
        reason = f"mail {describe(ranked[0][0])} has been {'important' if positive else 'not important'} to you"
    detail = f"learned from your feedback: {reason}" if reason else "learned from your feedback"
    return Factor(name=FACTOR_NAME, points=round(points, 1), detail=detail, evidence=evidence)


def with_learned(priority: Priority, factor: Factor | None, settings: Settings, *, spam: bool) -> Priority:
    """``priority`` with its learned factor replaced by ``factor`` (None: without one): the score
    again from the factors' points, the level from the thresholds, and spam still never above
    LOW (the reader's taste does not lift spam)."""
    from beacon.analysis.priority import level_for

    kept = [f for f in priority.factors if f.name not in (FACTOR_NAME, "spam_cap")]
    # The scorer's score is the sum of its factors' points (the base among them), in 0..100.
    total = math.fsum(f.points for f in kept) + (factor.points if factor else 0.0)
    value = int(round(max(0, min(100, total))))
    factors = kept + ([factor] if factor else [])
    if spam and value >= settings.priority_medium:
        capped = max(0, settings.priority_medium - 1)
        factors.append(Factor(name="spam_cap", points=capped - value, detail="spam is never above LOW"))
        value = capped
    return Priority(score=value, level=level_for(value, settings), factors=factors)
