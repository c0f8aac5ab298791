"""Named entities (deduplicated, with counts and spans) and ranked key phrases."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from beacon.analysis.models import Entity, KeyPhrase

if TYPE_CHECKING:
    from spacy.tokens import Doc

# Entity labels worth showing a reader; ORDINAL/CARDINAL/QUANTITY are noise in mail.
ENTITY_LABELS = {
    "PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
    "DATE", "TIME", "MONEY", "PERCENT",
}
_NUMERIC_LABELS = {"MONEY", "PERCENT", "DATE", "TIME"}
# Mail jargon and file types the small model tags as organisations.
_NOT_ENTITIES = {"asap", "eod", "cob", "fyi", "pdf", "csv", "url", "html", "faq", "re", "fwd", "cc", "bcc",
                 "ps", "p.s.", "rsvp", "ooo", "tbd", "eta", "q&a"}
_JUNK = re.compile(r"^[\W\d_]+$|https?://|www\.|@|\.com\b", re.IGNORECASE)
_MAX_PHRASE_TOKENS = 6
# Words that head greeting and thank-you chunks ("Hi Alex", "Thanks"): never key content.
_SMALL_TALK = {"hi", "hello", "hey", "dear", "thanks", "thank", "regards", "cheers", "best", "greetings"}


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" \t\n'\"-–—:;,.()[]")


def extract_entities(doc: Doc, limit: int = 40) -> list[Entity]:
    groups: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    surface: dict[tuple[str, str], str] = {}
    full = doc.text  # Doc.text re-joins every token on each access: read it once
    for ent in doc.ents:
        if ent.label_ not in ENTITY_LABELS:
            continue
        start, end = ent.start_char, ent.end_char
        if ent.label_ == "MONEY" and ent.start > 0 and doc[ent.start - 1].is_currency:
            start = doc[ent.start - 1].idx  # the model often leaves "$" outside the span
        text = _clean(full[start:end])
        if text.lower() in _NOT_ENTITIES:
            continue
        numeric_ok = ent.label_ in _NUMERIC_LABELS and any(c.isdigit() for c in text)
        if len(text) < 2 or (_JUNK.search(text) and not numeric_ok):
            continue
        key = (text.lower(), ent.label_)
        groups[key].append((start, end))
        surface.setdefault(key, text)
    ents = [
        Entity(text=surface[k], label=k[1], count=len(spans), spans=spans)
        for k, spans in groups.items()
    ]
    ents.sort(key=lambda e: (-e.count, e.spans[0][0]))
    return ents[:limit]


def extract_key_phrases(doc: Doc, limit: int = 8) -> list[KeyPhrase]:
    """Rank noun chunks by frequency, length and how early they first appear.

    Chunks are trimmed of determiners/pronouns so "the quarterly report" and "our quarterly
    report" count as one phrase.
    """
    counts: Counter[str] = Counter()
    first_pos: dict[str, int] = {}
    surface: dict[str, str] = {}
    n_tokens = max(len(doc), 1)
    for chunk in doc.noun_chunks:
        toks = [
            t for t in chunk
            if not (t.is_stop or t.is_punct or t.is_space or t.pos_ in ("PRON", "DET", "NUM", "SYM", "INTJ"))
            and t.lower_ not in _SMALL_TALK
        ]
        toks = [t for t in toks if not t.like_url and not t.like_email and not t.like_num]
        if not toks or len(toks) > _MAX_PHRASE_TOKENS:
            continue
        if all(t.ent_type_ == "PERSON" for t in toks):
            continue  # people are entities already
        text = _clean(" ".join(t.text for t in toks))
        if len(text) < 3 or _JUNK.search(text):
            continue
        key = text.lower()
        counts[key] += 1
        first_pos.setdefault(key, toks[0].i)
        surface.setdefault(key, text)
    scored = []
    for key, count in counts.items():
        words = len(key.split())
        position = 1.0 - first_pos[key] / n_tokens  # earlier = more central to the message
        score = count * (1.0 + 0.5 * min(words, 3)) * (0.6 + 0.4 * position)
        scored.append(KeyPhrase(text=surface[key], score=round(score, 3), count=count))
    scored.sort(key=lambda k: (-k.score, k.text))
    return scored[:limit]
