"""A 1–3 sentence summary: what happened (for notifications) and the sentences that carry the message.

Boilerplate never makes it in: sentences lying mostly in a boilerplate span (``boilerplate``),
sentences holding a link or an e-mail address, and sentences with footer wording are skipped.
For mail from known automated senders the first line says what happened
(``notifications.describe``), e.g. "Bug 123 RESOLVED FIXED: spamd leaves its pid file".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from beacon.analysis.boilerplate import FOOTER_CUE, Boilerplate, covered
from beacon.analysis.notifications import describe

_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings|thanks|thank you|"
    r"best|regards|kind regards|cheers|sincerely|all the best|hope (?:you|this|all))\b",
    re.IGNORECASE,
)
_LINK = re.compile(r"(?:https?://|ftp://|www\.|mailto:)\S+|[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
# A link the HTML-to-text conversion put after its anchor text: "Car crash on Route 7 (http://...)".
_ANNOTATED_LINK = re.compile(r"\s*[(<\[](?:https?://|ftp://|www\.|mailto:)[^)>\]\s]*[)>\]]", re.IGNORECASE)
_HEADER_LINE = re.compile(r"^\s*(?:from|sent|to|cc|subject|date)\s*:", re.IGNORECASE)
# Separator runs and table rules ("-----", "=====", "|---|") are layout, not words.
_RULE = re.compile(r"(?:[-_=*~#|+]\s*){5,}")


def _usable(clean: str) -> bool:
    return not (_LINK.search(clean) or FOOTER_CUE.search(clean) or _HEADER_LINE.match(clean)
                or _RULE.search(clean))


def summarise(
    sentences: Sequence[tuple[str, int, int]],
    key_terms: set[str],
    boosted_starts: set[int],
    *,
    boilerplate: Sequence[Boilerplate] = (),
    subject: str = "",
    text: str = "",
    kind: str = "personal",
) -> list[str]:
    """Pick the best sentences, in their original order, after a notification's headline.

    ``sentences`` are (text, start, end); ``key_terms`` lower-cased key phrases and entity texts;
    ``boosted_starts`` the start offsets of sentences that hold requests or deadlines;
    ``boilerplate`` the spans of ``find_boilerplate(text)``; ``kind`` the mail's kind.
    """
    headline = describe(subject, text, kind)
    candidates = []
    for idx, (sent, start, end) in enumerate(sentences):
        first, newline, rest = sent.strip().partition("\n")
        if newline and _GREETING.match(first) and len(first.split()) <= 4:
            sent = rest  # "hi all,\nI installed gentoo ...": the parser glued the greeting on
        clean = " ".join(_ANNOTATED_LINK.sub("", sent).split()).lstrip("•*-– ")
        words = clean.split()
        if len(words) < 4 or _GREETING.match(clean) or len(clean) > 400:
            continue
        if covered(boilerplate, start, end) or not _usable(clean):
            continue
        if headline and clean.lower() in headline.lower():
            continue
        lower = clean.lower()
        score = sum(1.0 for term in key_terms if term in lower)
        score += 2.0 if start in boosted_starts else 0.0
        score += max(0.0, 1.0 - idx * 0.25)  # the opening usually states the point
        score /= 1.0 + len(words) / 40  # prefer crisp sentences over run-ons
        candidates.append((score, idx, clean))
    n = 1 if len(sentences) <= 3 else 2 if len(sentences) <= 8 else 3
    if headline:
        # A notification's headline says most of it; one sentence of detail at most.
        n = 1
    best = sorted(candidates, key=lambda c: (-c[0], c[1]))[:n]
    picked = [text_ for _score, _idx, text_ in sorted(best, key=lambda c: c[1])]
    return [headline, *picked] if headline else picked
