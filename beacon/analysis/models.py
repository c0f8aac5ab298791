"""Typed, versioned, JSON-serialisable results of analysing one email.

Character offsets (``start``/``end``) refer to :attr:`Analysis.text`, the exact text that was
analysed (the new text of the message, capped), so a UI can highlight spans without re-running NLP.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

MailKind = Literal["personal", "notification", "newsletter", "marketing", "spam"]
MAIL_KINDS: tuple[str, ...] = ("personal", "notification", "newsletter", "marketing", "spam")
Level = Literal["HIGH", "MEDIUM", "LOW"]


class TextSpan(BaseModel):
    text: str
    start: int
    end: int


class Entity(BaseModel):
    text: str
    label: str  # spaCy label: PERSON, ORG, GPE, DATE, TIME, MONEY, ...
    count: int
    spans: list[tuple[int, int]] = Field(default_factory=list)


class KeyPhrase(BaseModel):
    text: str
    score: float
    count: int


class Request(TextSpan):
    """A sentence that asks the reader to do something."""

    score: float  # detector probability
    is_question: bool = False


class TimeRef(TextSpan):
    label: str  # DATE | TIME | phrase
    resolved: datetime | None = None  # absolute, from the email's own Date
    is_deadline: bool = False


class ActionItem(TextSpan):
    due: datetime | None = None
    due_text: str | None = None


class Sentiment(BaseModel):
    compound: float
    positive: float
    neutral: float
    negative: float
    label: Literal["positive", "neutral", "negative"]


class ToneFlag(TextSpan):
    flag: Literal["gratitude", "dissatisfaction", "urgency"]
    where: Literal["body", "subject"] = "body"  # offsets refer to the subject when "subject"


class Analysis(BaseModel):
    pipeline_version: str
    model: str
    text: str  # what was analysed (offsets refer to it)
    text_source: Literal["new_text", "text", "subject"]
    truncated: bool = False
    original_chars: int = 0

    entities: list[Entity] = Field(default_factory=list)
    key_phrases: list[KeyPhrase] = Field(default_factory=list)
    questions: list[TextSpan] = Field(default_factory=list)
    requests: list[Request] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)
    time_refs: list[TimeRef] = Field(default_factory=list)
    sentiment: Sentiment | None = None  # None where not analysed (machine mail, other languages)
    tone: list[ToneFlag] = Field(default_factory=list)
    kind: MailKind
    kind_reasons: list[str] = Field(default_factory=list)
    kind_scores: dict[str, float] = Field(default_factory=dict)  # the text model's P(personal|bulk|spam)
    category: str
    summary: list[str] = Field(default_factory=list)
    language: str = "en"  # ISO 639-1 code of the detected language
    # How deep the analysis went: "full" (personal mail in a language the model reads),
    # "light" (machine mail: sentences, deadlines, entities of the opening), "text" (another
    # language: sentences only). ``notes`` says what was left out and why.
    depth: Literal["full", "light", "text"] = "full"
    notes: list[str] = Field(default_factory=list)


class Factor(BaseModel):
    """One reason behind a priority score, with the evidence a person can check."""

    name: str
    points: float
    detail: str
    evidence: str | None = None
    span: tuple[int, int] | None = None  # offsets into Analysis.text when the evidence is text


class Priority(BaseModel):
    score: int  # 0..100
    level: Level
    factors: list[Factor] = Field(default_factory=list)

    @property
    def top_reason(self) -> str:
        """The strongest reason for *this* email (the base score every email gets says nothing)."""
        return top_reason((f.name, f.points, f.detail) for f in self.factors)


def top_reason(factors: Iterable[tuple[str, float, str]]) -> str:
    """:attr:`Priority.top_reason` of factors given as (name, points, detail): list pages read
    them from the stored JSON without validating a Priority per row."""
    found = [f for f in factors if f[0] != "base" and f[1] != 0]
    if not found:
        return "no particular signals"
    positive = [f for f in found if f[1] > 0]
    best = max(positive, key=lambda f: f[1]) if positive else min(found, key=lambda f: f[1])
    return best[2]


class ScoredAnalysis(BaseModel):
    """What the store keeps per email and pipeline version: the NLP analysis and its priority."""

    analysis: Analysis
    priority: Priority
    needs_reply: bool = False
