"""Does a sentence put a date in the past? Read off spaCy's parse of the date's governing verb.

"We met on March 3", "the meeting on Monday went well", "did you get the files I sent on
Monday?" put the date in the past; "please send it by Monday", "I'll call on Monday", "the call
was moved to Friday" do not. The date's tokens are followed up the dependency tree to the first
verb; that verb is past when it is tagged VBD (or is a participle with "have"/"be"/"did" in the
past), unless a modal ("will", "would", "can" ...) governs it. A date that is the target of the
verb ("moved *to* Friday", "scheduled *for* Monday") is where something is going, not history.
Only tags and dependencies are read (the pipeline has no lemmatizer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from beacon.analysis.timeexpr import PastOracle

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

_MODALS = frozenset({
    "will", "'ll", "ll", "shall", "wo", "sha", "would", "'d", "can", "ca", "could", "should",
    "must", "may", "might", "need", "ought",
})
_PAST_AUX = frozenset({"did", "was", "were", "had", "'d", "has", "have", "'ve", "'s"})
_TARGET_PREPS = frozenset({"to", "for", "until", "till", "into"})
_DEADLINE_PREPS = frozenset({"by", "before", "until", "till"})
_MAX_HOPS = 8


def _governing_verb(tok: Token) -> tuple[Token | None, Token | None]:
    """The first verb above ``tok`` and the token just below it on the way up."""
    below = None
    for _ in range(_MAX_HOPS):
        if tok.tag_.startswith("VB") or tok.tag_ == "MD":
            return tok, below
        if tok.head.i == tok.i:
            return None, None
        below, tok = tok, tok.head
    return None, None


def _is_past_verb(verb: Token) -> bool:
    aux = [c for c in verb.children if c.dep_ in ("aux", "auxpass")]
    if any(a.lower_ in _MODALS or a.tag_ == "MD" for a in aux):
        return False
    if verb.tag_ == "VBD":
        return True
    if any(a.lower_ in ("did", "was", "were", "had") for a in aux):
        return True
    # Present perfect ("we have met on Monday") is about the past too; "'s" only with a participle.
    return verb.tag_ == "VBN" and any(a.lower_ in _PAST_AUX for a in aux)


def _past_progressive(verb: Token) -> bool:
    return verb.tag_ == "VBG" and any(c.dep_ == "aux" and c.lower_ in ("was", "were") for c in verb.children)


def past_oracle(doc: Doc) -> PastOracle:
    """``is_past(start, end)`` over character offsets of ``doc.text``, for ``find_time_refs``."""

    def is_past(start: int, end: int) -> bool:
        span = doc.char_span(start, end, alignment_mode="expand")
        if span is None or not len(span):
            return False
        verb, below = _governing_verb(span.root)
        if verb is None:
            return False
        if below is not None and below.dep_ == "prep" and below.lower_ in _TARGET_PREPS:
            # "it was working until this morning" lasted up to then: history, unlike "moved until".
            return below.lower_ in ("until", "till") and _past_progressive(verb)
        if verb.tag_ == "VBN" and not any(c.dep_ in ("aux", "auxpass") for c in verb.children):
            # A bare participle: "the slides presented on Monday" is history, "sign-off needed
            # by Friday" is a deadline.
            before = doc[span.start - 1].lower_ if span.start > 0 else ""
            return not (before in _DEADLINE_PREPS or (below is not None and below.lower_ in _DEADLINE_PREPS))
        return _is_past_verb(verb)

    return is_past
