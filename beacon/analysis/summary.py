"""A 1–3 sentence extractive summary: the sentences that carry the message's key content."""

from __future__ import annotations

import re
from collections.abc import Sequence

_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings|thanks|thank you|"
    r"best|regards|kind regards|cheers|sincerely|all the best|hope (?:you|this|all))\b",
    re.IGNORECASE,
)


def summarise(
    sentences: Sequence[tuple[str, int, int]],
    key_terms: set[str],
    boosted_starts: set[int],
) -> list[str]:
    """Pick the best sentences, in their original order.

    ``sentences`` are (text, start, end); ``key_terms`` lower-cased key phrases and entity texts;
    ``boosted_starts`` the start offsets of sentences that hold requests or deadlines.
    """
    candidates = []
    for idx, (text, start, _end) in enumerate(sentences):
        clean = " ".join(text.split())
        words = clean.split()
        if len(words) < 4 or _GREETING.match(clean) or len(clean) > 400:
            continue
        lower = clean.lower()
        score = sum(1.0 for term in key_terms if term in lower)
        score += 2.0 if start in boosted_starts else 0.0
        score += max(0.0, 1.0 - idx * 0.25)  # the opening usually states the point
        score /= 1.0 + len(words) / 40  # prefer crisp sentences over run-ons
        candidates.append((score, idx, clean))
    if not candidates:
        return []
    n = 1 if len(sentences) <= 3 else 2 if len(sentences) <= 8 else 3
    best = sorted(candidates, key=lambda c: (-c[0], c[1]))[:n]
    return [text for _score, _idx, text in sorted(best, key=lambda c: c[1])]
