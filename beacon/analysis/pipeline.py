"""The analysis pipeline: a batch of emails -> list of typed Analysis results.

``Pipeline.analyze`` is a pure function of (emails, their store contexts, settings): the engine
runs the very same code in the calling process, in a one-shot subprocess or in pooled workers,
and the results are identical. spaCy is imported only when a pipeline is loaded, never at
module import, so the main process can import this module without paying for spaCy.

Language and kind are decided first, from headers, the store context and cheap text models;
they choose how much NLP an email gets (one loaded model, components picked per call):

- ``full``: personal mail in English — the whole spaCy pipeline, requests, key phrases, sentiment;
- ``light``: notifications, newsletters, marketing and spam — a rule-based sentence splitter
  over the tokenizer and NER alone over the opening characters: enough for a summary, the due
  date of a bill and the key entities, at a fraction of the parse's cost;
- ``text``: mail in a language the loaded model does not read — sentences only; no entities,
  requests, deadlines or sentiment, and the analysis says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from beacon.analysis.boilerplate import Boilerplate, covered, find_boilerplate, inside
from beacon.analysis.context import EMPTY_CONTEXT, MailContext
from beacon.analysis.entities import extract_entities, extract_key_phrases
from beacon.analysis.kind import KindVerdict, classify_category, classify_kind
from beacon.analysis.models import ActionItem, Analysis, Request, TextSpan, TimeRef
from beacon.analysis.requests import Verdict
from beacon.analysis.summary import summarise
from beacon.analysis.tense import past_oracle
from beacon.analysis.text import SelectedText, cap, select_text
from beacon.analysis.timeexpr import TimeMatch, find_time_refs
from beacon.analysis.tone import ToneAnalyzer, tone_flags
from beacon.analysis.version import pipeline_version
from beacon.models import Email
from beacon.settings import Settings

if TYPE_CHECKING:
    from datetime import datetime

    from spacy.language import Language
    from spacy.tokens import Doc, Span

    from beacon.analysis.kind_model import KindModel
    from beacon.analysis.language import LanguageDetector
    from beacon.analysis.requests import RequestDetector

# Components the analysis never reads; excluded so they are not even loaded (saves memory).
EXCLUDE = ["lemmatizer"]
# The light path reads the opening of machine mail (what a bill, an alert or an offer says comes
# first; tokenizing the rest of a long HTML newsletter was most of its cost) and runs NER over
# the first part of that.
LIGHT_TEXT_CHARS = 4000
LIGHT_NER_CHARS = 1500
# How much of the body the kind signals read (footers sit at the end of the whole text).
KIND_TEXT_CHARS = 20_000

# A sentence that states an obligation is an action item even when not phrased as a request.
_OBLIGATION = re.compile(
    r"\b(?:need(?:s)? to|must|have to|has to|should|required to|make sure|don't forget|remember to|"
    r"due|deadline)\b",
    re.IGNORECASE,
)
_QUESTION_END = re.compile(r"\?[\"')\]]*\s*$")
# Said alone, these name no due date ("click here today", "act now").
_VAGUE_DAYS = frozenset({"today", "now", "tonight", "this morning", "this afternoon", "this evening"})
# What the light and text paths say of every sentence: no parse, so nothing is judged a request.
_UNJUDGED = Verdict(0.0, "statement")


@dataclass(frozen=True)
class Plan:
    """What an email gets, decided before any NLP runs."""

    sel: SelectedText
    language: str
    verdict: KindVerdict
    depth: str  # "full" | "light" | "text"


class Pipeline:
    def __init__(self, nlp: Language, detector: RequestDetector, settings: Settings,
                 kind_model: KindModel | None = None, languages: LanguageDetector | None = None) -> None:
        from spacy.pipeline import Sentencizer

        self.nlp = nlp
        self.detector = detector
        self.kind_model = kind_model
        self.languages = languages
        self.settings = settings
        self.version = pipeline_version(settings)
        self.tone = ToneAnalyzer()
        self.model_language = nlp.lang  # the one language the loaded pipeline reads
        self._sentencizer = Sentencizer()
        # Everything but NER is skipped on the light path; one model, components chosen per call.
        self._light_disable = [p for p in nlp.pipe_names if p != "ner"]
        own = [a.lower() for a in settings.own_addresses]
        self._own_domains = {a.rpartition("@")[2] for a in own if "@" in a}

    @classmethod
    def load(cls, settings: Settings) -> Pipeline:
        import spacy

        from beacon.analysis.kind_model import KindModel
        from beacon.analysis.language import LanguageDetector
        from beacon.analysis.requests import RequestDetector
        from beacon.analysis.spacy_components import add_components

        nlp = add_components(spacy.load(settings.spacy_model, exclude=EXCLUDE))
        return cls(nlp, RequestDetector.load(), settings, KindModel.load(), LanguageDetector.load())

    # -- planning --------------------------------------------------------------------------------
    def plan(self, email: Email, ctx: MailContext = EMPTY_CONTEXT) -> Plan:
        sel = select_text(email, self.settings.max_text_chars)
        language = self.languages.detect(f"{email.subject}\n{sel.text}").code if self.languages else self.model_language
        verdict = classify_kind(email, (email.text or sel.text)[:KIND_TEXT_CHARS], ctx, self.kind_model,
                                foreign=language != self.model_language)
        if language != self.model_language:
            depth = "text"
        elif verdict.kind == "personal" or not self.settings.light_machine_mail:
            depth = "full"
        else:
            depth = "light"
            text, cut = cap(sel.text, LIGHT_TEXT_CHARS)
            if cut:
                sel = SelectedText(text, sel.source, True, sel.original_chars)
        return Plan(sel, language, verdict, depth)

    def analyze(self, emails: Sequence[Email], contexts: Sequence[MailContext | None] | None = None) -> list[Analysis]:
        ctxs = list(contexts) if contexts is not None else [None] * len(emails)
        plans = [self.plan(e, c or EMPTY_CONTEXT) for e, c in zip(emails, ctxs, strict=True)]
        docs: list[Doc | None] = [None] * len(plans)
        ner: list[Doc | None] = [None] * len(plans)
        full = [i for i, p in enumerate(plans) if p.depth == "full"]
        light = [i for i, p in enumerate(plans) if p.depth == "light"]
        for i, doc in zip(full, self.nlp.pipe([plans[i].sel.text for i in full], batch_size=max(1, len(full)))):
            docs[i] = doc
        light_texts = [plans[i].sel.text[:LIGHT_NER_CHARS] for i in light]
        for i, doc in zip(light, self.nlp.pipe(light_texts, batch_size=max(1, len(light)),
                                               disable=self._light_disable)):
            ner[i] = doc
        for i, p in enumerate(plans):
            if docs[i] is None:
                docs[i] = self._sentences(p.sel.text)
        return [
            self._analyze_one(email, plan, doc, ner_doc)  # type: ignore[arg-type]
            for email, plan, doc, ner_doc in zip(emails, plans, docs, ner, strict=True)
        ]

    def _sentences(self, text: str) -> Doc:
        """Tokenizer + rule-based sentence splitter + paragraph breaks: no statistical model."""
        from beacon.analysis.spacy_components import paragraph_boundaries

        return paragraph_boundaries(self._sentencizer(self.nlp.make_doc(text)))

    # -- one email ---------------------------------------------------------------------------
    def _analyze_one(self, email: Email, plan: Plan, doc: Doc, ner_doc: Doc | None) -> Analysis:
        sel, depth = plan.sel, plan.depth
        text = sel.text
        sents = [s for s in doc.sents if s.text.strip()]
        # Requests are asked of the reader by people: only the full path runs the detector.
        verdicts = self.detector.judge_sents(sents) if depth == "full" and sents else [_UNJUDGED] * len(sents)
        boiler = find_boilerplate(text)

        # Tense comes from the parse on the full path; the light path reads past-marking words only.
        is_past = past_oracle(doc) if depth == "full" else None
        time_matches = (
            _outside_boilerplate(find_time_refs(text, email.date, is_past=is_past), boiler) if depth != "text" else []
        )
        time_refs = [
            TimeRef(text=m.text, start=m.start, end=m.end, label=m.label, resolved=m.resolved,
                    is_deadline=m.is_deadline)
            for m in time_matches
        ]
        entity_doc = doc if depth == "full" else ner_doc
        if entity_doc is not None:
            time_refs += _spacy_only_time_refs(entity_doc, time_matches)

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
            deadline = _deadline_in(time_matches, start, end, asked=is_req, sent=email.date)
            if is_req or (deadline is not None and _OBLIGATION.search(stext)):
                actions.append(
                    ActionItem(
                        text=stext, start=start, end=end,
                        due=deadline.resolved if deadline else None,
                        due_text=deadline.text if deadline else None,
                    )
                )

        entities = extract_entities(entity_doc) if entity_doc is not None else []
        key_phrases = extract_key_phrases(doc) if depth == "full" else []
        kind = plan.verdict.kind
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
            sentiment=self.tone.sentiment(text) if depth == "full" else None,
            tone=tone_flags(text, email.subject) if depth != "text" else [],
            kind=kind,
            kind_reasons=plan.verdict.reasons,
            kind_scores=plan.verdict.scores,
            category=classify_category(email, kind, text, self._own_domains),
            summary=summary,
            language=plan.language,
            depth=depth,  # type: ignore[arg-type]
            notes=_notes(plan, self.model_language),
        )


def _notes(plan: Plan, model_language: str) -> list[str]:
    if plan.depth == "text":
        return [f"language: {plan.language}, not analysed for requests, entities, deadlines or sentiment "
                f"(the installed spaCy pipeline reads {model_language} only)"]
    if plan.depth == "light":
        return [f"{plan.verdict.kind} mail: light analysis of the first {LIGHT_TEXT_CHARS:,} characters "
                f"(sentences, deadlines, entities in the first {LIGHT_NER_CHARS:,}; no requests or sentiment)"]
    return []


def _deadline_in(matches: list[TimeMatch], start: int, end: int, asked: bool, sent: datetime) -> TimeMatch | None:
    """The sentence's due date: a stated deadline ("by Friday"); in a request, also a plain future
    day ("can you call me tomorrow?"), but not the sending day itself without a time (a lone
    "today", the mail's own date in a byline), not a time something may start after ("call me
    after 2pm") and never a past date."""
    found = [m for m in matches if start <= m.start < end and m.resolved is not None and not m.past]
    for m in found:
        if m.is_deadline:
            return m
    if not asked:
        return None
    return next((m for m in found if m.text.strip().lower() not in _VAGUE_DAYS and not m.starts
                 and (m.exact_time or m.resolved.date() != sent.date())), None)


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


def analyze_to_json(pipeline: Pipeline, emails: Sequence[Email],
                    contexts: Sequence[MailContext | None] | None = None) -> list[dict[str, Any]]:
    """Analyse inside a spaCy memory zone and return plain JSON-ready dicts.

    Docs and Spans must not outlive the zone (spaCy frees their strings on exit), so results
    are converted to plain data before it closes. Zones must not nest: one at a time per process.
    """
    with pipeline.nlp.memory_zone():
        return [a.model_dump(mode="json") for a in pipeline.analyze(emails, contexts)]
