"""The analysis pipeline: spaCy over a batch of emails -> list of typed Analysis results.

``Pipeline.analyze`` is a pure function of (emails, settings): the engine runs the very same
code in the calling process, in a one-shot subprocess or in pooled workers, and the results are
identical. spaCy is imported only when a pipeline is loaded, never at module import, so the
main process can import this module without paying for spaCy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from beacon.analysis.entities import extract_entities, extract_key_phrases
from beacon.analysis.kind import classify_category, classify_kind
from beacon.analysis.models import ActionItem, Analysis, Request, TextSpan, TimeRef
from beacon.analysis.summary import summarise
from beacon.analysis.text import select_text
from beacon.analysis.timeexpr import TimeMatch, find_time_refs
from beacon.analysis.tone import ToneAnalyzer, tone_flags
from beacon.analysis.version import pipeline_version
from beacon.models import Email
from beacon.settings import Settings

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span

    from beacon.analysis.requests import RequestDetector

# Components the analysis never reads; excluded so they are not even loaded (saves memory).
EXCLUDE = ["lemmatizer"]

# A sentence that states an obligation is an action item even when not phrased as a request.
_OBLIGATION = re.compile(
    r"\b(?:need(?:s)? to|must|have to|has to|should|required to|make sure|don't forget|remember to|"
    r"due|deadline)\b",
    re.IGNORECASE,
)
_QUESTION_END = re.compile(r"\?[\"')\]]*\s*$")


class Pipeline:
    def __init__(self, nlp: Language, detector: RequestDetector, settings: Settings) -> None:
        self.nlp = nlp
        self.detector = detector
        self.settings = settings
        self.version = pipeline_version(settings)
        self.tone = ToneAnalyzer()
        own = [a.lower() for a in settings.own_addresses]
        self._own_domains = {a.rpartition("@")[2] for a in own if "@" in a}

    @classmethod
    def load(cls, settings: Settings) -> Pipeline:
        import spacy

        from beacon.analysis.requests import RequestDetector
        from beacon.analysis.spacy_components import add_components

        nlp = add_components(spacy.load(settings.spacy_model, exclude=EXCLUDE))
        return cls(nlp, RequestDetector.load(), settings)

    def analyze(self, emails: Sequence[Email]) -> list[Analysis]:
        selected = [select_text(e, self.settings.max_text_chars) for e in emails]
        docs = self.nlp.pipe([s.text for s in selected], batch_size=max(1, len(emails)))
        return [
            self._analyze_one(email, sel, doc)
            for email, sel, doc in zip(emails, selected, docs, strict=True)
        ]

    # -- one email ---------------------------------------------------------------------------
    def _analyze_one(self, email: Email, sel: Any, doc: Doc) -> Analysis:
        text = sel.text
        sents = [s for s in doc.sents if s.text.strip()]
        probs = self.detector.score_sents(sents) if sents else []

        time_matches = find_time_refs(text, email.date)
        time_refs = [
            TimeRef(text=m.text, start=m.start, end=m.end, label=m.label, resolved=m.resolved,
                    is_deadline=m.is_deadline)
            for m in time_matches
        ]
        time_refs += _spacy_only_time_refs(doc, time_matches)

        questions: list[TextSpan] = []
        requests: list[Request] = []
        actions: list[ActionItem] = []
        for sent, prob in zip(sents, probs, strict=True):
            stext = sent.text.strip()
            start = sent.start_char + (len(sent.text) - len(sent.text.lstrip()))
            end = start + len(stext)
            is_q = bool(_QUESTION_END.search(stext))
            if is_q:
                questions.append(TextSpan(text=stext, start=start, end=end))
            is_req = self.detector.is_request(prob)
            if is_req:
                requests.append(Request(text=stext, start=start, end=end, score=round(prob, 4), is_question=is_q))
            deadline = _deadline_in(time_matches, start, end)
            if is_req or (deadline is not None and _OBLIGATION.search(stext)):
                actions.append(
                    ActionItem(
                        text=stext, start=start, end=end,
                        due=deadline.resolved if deadline else None,
                        due_text=deadline.text if deadline else None,
                    )
                )

        entities = extract_entities(doc)
        key_phrases = extract_key_phrases(doc)
        kind, kind_reasons = classify_kind(email, text)
        key_terms = {k.text.lower() for k in key_phrases} | {e.text.lower() for e in entities[:15]}
        boosted = {r.start for r in requests} | {a.start for a in actions if a.due}
        summary = summarise(
            [(s.text, s.start_char, s.end_char) for s in sents], key_terms,
            {_sent_start_of(sents, b) for b in boosted},
        )
        return Analysis(
            pipeline_version=self.version,
            model=self.settings.spacy_model,
            text=text,
            text_source=sel.source,
            truncated=sel.truncated,
            original_chars=sel.original_chars,
            entities=entities,
            key_phrases=key_phrases,
            questions=questions,
            requests=requests,
            action_items=actions,
            time_refs=sorted(time_refs, key=lambda t: t.start),
            sentiment=self.tone.sentiment(text),
            tone=tone_flags(text, email.subject),
            kind=kind,
            kind_reasons=kind_reasons,
            category=classify_category(email, kind, text, self._own_domains),
            summary=summary,
        )


def _deadline_in(matches: list[TimeMatch], start: int, end: int) -> TimeMatch | None:
    inside = [m for m in matches if start <= m.start < end and m.resolved is not None]
    for m in inside:
        if m.is_deadline:
            return m
    return inside[0] if inside else None


def _sent_start_of(sents: list[Span], offset: int) -> int:
    for s in sents:
        if s.start_char <= offset < s.end_char:
            return s.start_char
    return offset


def _spacy_only_time_refs(doc: Doc, matches: list[TimeMatch]) -> list[TimeRef]:
    """DATE/TIME entities our rules did not cover ("the third quarter", "last year")."""
    out = []
    for ent in doc.ents:
        if ent.label_ not in ("DATE", "TIME"):
            continue
        if any(m.start < ent.end_char and ent.start_char < m.end for m in matches):
            continue
        out.append(TimeRef(text=ent.text, start=ent.start_char, end=ent.end_char, label=ent.label_))
    return out


def analyze_to_json(pipeline: Pipeline, emails: Sequence[Email]) -> list[dict[str, Any]]:
    """Analyse inside a spaCy memory zone and return plain JSON-ready dicts.

    Docs and Spans must not outlive the zone (spaCy frees their strings on exit), so results
    are converted to plain data before it closes. Zones must not nest: one at a time per process.
    """
    with pipeline.nlp.memory_zone():
        return [a.model_dump(mode="json") for a in pipeline.analyze(emails)]
