"""The analysis pipeline: spaCy over a batch of emails -> list of typed Analysis results.

``Pipeline.analyze`` is a pure function of (emails, settings): the engine runs the very same
code in the calling process, in a one-shot subprocess or in pooled workers, and the results are
identical. spaCy is imported only when a pipeline is loaded, never at module import, so the
main process can import this module without paying for spaCy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from beacon.analysis.boilerplate import Boilerplate, covered, find_boilerplate, inside
from beacon.analysis.entities import extract_entities, extract_key_phrases
from beacon.analysis.kind import classify_category, classify_kind
from beacon.analysis.models import ActionItem, Analysis, Request, TextSpan, TimeRef
from beacon.analysis.summary import summarise
from beacon.analysis.tense import past_oracle
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
# Said alone, these name no due date ("click here today", "act now").
_VAGUE_DAYS = frozenset({"today", "now", "tonight", "this morning", "this afternoon", "this evening"})


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
        verdicts = self.detector.judge_sents(sents) if sents else []
        boiler = find_boilerplate(text)

        time_matches = _outside_boilerplate(find_time_refs(text, email.date, is_past=past_oracle(doc)), boiler)
        time_refs = [
            TimeRef(text=m.text, start=m.start, end=m.end, label=m.label, resolved=m.resolved,
                    is_deadline=m.is_deadline)
            for m in time_matches
        ]
        time_refs += _spacy_only_time_refs(doc, time_matches)

        questions: list[TextSpan] = []
        requests: list[Request] = []
        actions: list[ActionItem] = []
        for sent, verdict in zip(sents, verdicts, strict=True):
            stext = sent.text.strip()
            start = sent.start_char + (len(sent.text) - len(sent.text.lstrip()))
            end = start + len(stext)
            if covered(boiler, start, end):
                continue  # footers, signatures, quoted history, lyrics: nothing asked of the reader
            is_q = bool(_QUESTION_END.search(stext)) and verdict.intent != "rhetorical"
            if is_q:
                questions.append(TextSpan(text=stext, start=start, end=end))
            is_req = verdict.is_request
            if is_req:
                requests.append(Request(text=stext, start=start, end=end, score=round(verdict.prob, 4),
                                        is_question=is_q))
            deadline = _deadline_in(time_matches, start, end, asked=is_req)
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
            boilerplate=boiler, subject=email.subject, text=text, kind=kind,
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


def _deadline_in(matches: list[TimeMatch], start: int, end: int, asked: bool) -> TimeMatch | None:
    """The sentence's due date: a stated deadline ("by Friday"); in a request, also a plain future
    day ("can you call me tomorrow?"), but not a lone "today" and never a past date."""
    found = [m for m in matches if start <= m.start < end and m.resolved is not None and not m.past]
    for m in found:
        if m.is_deadline:
            return m
    if not asked:
        return None
    return next((m for m in found if m.text.strip().lower() not in _VAGUE_DAYS), None)


def _outside_boilerplate(matches: list[TimeMatch], boiler: list[Boilerplate]) -> list[TimeMatch]:
    """Dates in mastheads, footers, signatures and quoted text are kept as references, never deadlines."""
    return [replace(m, is_deadline=False) if m.is_deadline and inside(boiler, m.start) else m for m in matches]


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
