"""Who does what in a sentence's main clause: the reader, the writer, or someone else.

The request detector's training data mixes two things a triage tool must keep apart: "you do X"
(a request) and "I/we will do X" (the writer's own commitment, "I shall call Risk on Thursday").
Word n-grams cannot tell them apart well ("call", "discuss", "Thursday" are in both), the
grammatical person of the main clause's subject and its modal can. ``read_clause`` reads these off
an already-parsed sentence (tags and dependencies only, no lemmas: the analysis pipeline excludes
the lemmatizer) and is used twice: as features of the statistical model and as the
post-rule that overrides it for plain commitments and for questions that ask nothing.

Lexical lists here are closed-class words (pronouns, modals, a few verbs of needing and
causing), not topic words: they generalise beyond the training set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from beacon.analysis.request_features import TokenTable

Person = Literal[0, 1, 2, 3]  # 0: no subject (imperative or fragment)

_FIRST = frozenset({"i", "we"})
_SECOND = frozenset({"you", "u", "ya", "yall", "y'all"})
_SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass", "csubj", "csubjpass", "expl"})
_FUTURE_AUX = frozenset({"will", "'ll", "ll", "shall", "wo", "sha"})
_BE = frozenset({"am", "'m", "m", "are", "'re", "re", "is", "'s"})
# "I'm going to / planning to / about to call them": the writer's intention.
_INTENT_HEADS = frozenset({"going", "gonna", "planning", "plan", "intend", "intending", "about"})
# Main verbs that make "I will ..." an ask after all ("I will need your signature").
_NEED_VERBS = frozenset({
    "need", "want", "require", "expect", "await", "wait", "appreciate", "welcome", "love", "like",
})
# Verbs that ask when their object is the reader ("I will ask you to ...").
_ASK_VERBS = frozenset({"ask", "invite", "remind", "urge", "encourage", "request", "beg", "advise"})
# "let you know", "keep you posted", "make sure you are included": the reader is not the actor.
_CAUSATIVE = frozenset({"let", "keep", "make", "help", "have", "see", "get", "ensure"})
# Meeting and contact verbs: "I'll call you tomorrow", "we will discuss it next week" arrange
# something the reader takes part in, which the training data counts as an ask; left to the model.
_MEET_VERBS = frozenset({
    "call", "phone", "ring", "meet", "join", "see", "visit", "talk", "speak", "chat", "discuss",
    "catch", "contact", "reach", "touch", "get", "fill", "lunch", "celebrate",
})
_CALL_NOUNS = frozenset({"call", "ring", "buzz", "shout"})
_CUE_WORDS = frozenset({"please", "pls", "plz", "kindly"})
_CUE_BIGRAMS = frozenset({
    ("let", "me"), ("let", "us"), ("need", "you"), ("want", "you"), ("like", "you"),
    ("feel", "free"), ("remember", "to"), ("n't", "forget"), ("if", "you"), ("would", "you"),
    ("could", "you"), ("can", "you"), ("will", "you"),
})
# Questions that ask the reader nothing: ad copy and exclamations in question form.
_RHETORICAL = re.compile(
    r"^\W*(?:who (?:knew|cares|(?:does ?n[o']t|would ?n[o']t|wouldn't|doesn't) (?:love|want|like|need))|"
    r"why (?:not|wait|pay|settle|worry|bother|suffer|struggle)|"
    r"what (?:are you waiting for|(?:'s|is) not to (?:like|love)|could be (?:better|easier|simpler|more)|"
    r"more could you (?:want|ask for)|(?:a|an) \w+)|"
    r"how (?:cool|great|awesome|amazing|easy|sweet|nice|good) is that|guess what|"
    r"(?:is ?n[o']t|isn't|was ?n[o']t|wasn't) (?:it|that|this) (?:great|amazing|awesome|wonderful|cool|time|nice)|"
    r"(?:would ?n[o']t|wouldn't) (?:it|that|you) (?:be|love|like)|"
    r"(?:are you |)(?:tired|sick) of|ever wonder(?:ed)?)\b",
    re.IGNORECASE,
)
# One-word questions that are exclamations, not asks ("Huh?", "Really?!").
_INTERJECTIONS = frozenset({
    "huh", "eh", "hmm", "hm", "what", "why", "really", "seriously", "wow", "right", "so", "and",
    "or", "yes", "no", "hello", "duh", "oh",
})


@dataclass(frozen=True)
class ClauseRead:
    """What the sentence's main clauses say about who acts."""

    persons: tuple[Person, ...]  # subject person of each main-clause verb, in order
    future_first_person: bool  # some main clause is "I/we will / shall / am going to ..."
    imperative: bool  # some main clause is a bare imperative ("Send it")
    reader_subject: bool  # "you" is the actor somewhere (not "let you know")
    asks_reader: bool  # a need/ask verb in the first person ("I will need", "we'll ask you to")
    arranges: bool  # the writer arranges something the reader takes part in ("I'll call you")
    cue: bool  # please, let me know, could you, if you ...
    question: bool  # ends with a question mark
    rhetorical: bool  # a question that asks nothing (ad copy, exclamation, lone "?")

    @property
    def commitment(self) -> bool:
        """The writer states what they will do and asks the reader nothing."""
        return (
            self.future_first_person and not (
                self.question or self.imperative or self.reader_subject or self.asks_reader or self.cue
                or self.arranges
            )
        )

    def features(self) -> list[str]:
        out = [f"CL_P{p}" for p in self.persons]
        if self.future_first_person:
            out.append("CL_P1_FUT")
        if self.reader_subject:
            out.append("CL_YOU_ACTS")
        if self.asks_reader:
            out.append("CL_ASKS")
        if self.arranges:
            out.append("CL_ARRANGES")
        if self.cue:
            out.append("CL_CUE")
        if self.commitment:
            out.append("CL_COMMITMENT")
        if self.rhetorical:
            out.append("CL_RHETORICAL")
        return out


def _person(tab: TokenTable, subj: int) -> Person:
    words = [tab.lower[subj]] + [tab.lower[c] for c in tab.children[subj] if tab.dep[c] == "conj"]
    if any(w in _FIRST for w in words):
        return 1
    if any(w in _SECOND for w in words):
        return 2
    return 3


def _arranges_with_reader(tab: TokenTable, verb: int, subj: int | None) -> bool:
    """A meeting or contact with the reader ("call you", "meet with you", "give you a call"), or
    an inclusive "we" meeting ("we will discuss it next week")."""
    kids = tab.children[verb]
    word = tab.lower[verb]
    meets = word in _MEET_VERBS or (
        word == "give" and any(tab.lower[c] in _CALL_NOUNS for c in kids if tab.dep[c] == "dobj")
    )
    if word == "get":
        meets = any(tab.lower[c] == "together" for c in kids)
    if not meets:
        return False
    near = list(kids) + [g for c in kids if tab.dep[c] in ("prep", "prt") for g in tab.children[c]]
    if any(tab.lower[c] in _SECOND for c in near):
        return True
    return subj is not None and tab.lower[subj] == "we" and not any(tab.dep[c] == "dobj" for c in kids) \
        and not any(tab.dep[c] == "prep" and tab.lower[c] == "with" for c in kids)


def _main_verbs(tab: TokenTable, start: int, end: int) -> list[int]:
    """Roots of the span and the verbs conjoined to them ("I'll look into it and report back")."""
    roots = [i for i in range(start, end) if tab.head[i] == i or not (start <= tab.head[i] < end)]
    out: list[int] = []
    todo = list(roots)
    while todo:
        i = todo.pop(0)
        out.append(i)
        todo += [c for c in tab.children[i] if tab.dep[c] == "conj" and tab.tag[c][:2] in ("VB", "MD")]
    return out


def read_clause(tab: TokenTable, start: int, end: int, text: str) -> ClauseRead:
    words = [tab.lower[i] for i in range(start, end) if not (tab.space[i] or tab.punct[i])]
    alpha = [w for w in words if any(ch.isalpha() for ch in w)]
    stripped = text.strip().rstrip("\"')]").rstrip()
    question = stripped.endswith("?")

    persons: list[Person] = []
    future1 = imperative = asks = arranges = False
    inherited: tuple[Person, bool] | None = None  # a conjoined verb shares its left verb's subject
    for v in _main_verbs(tab, start, end):
        kids = tab.children[v]
        subj = next((c for c in kids if tab.dep[c] in _SUBJECT_DEPS), None)
        aux = [tab.lower[c] for c in kids if tab.dep[c] in ("aux", "auxpass")]
        verb = v
        future = any(a in _FUTURE_AUX for a in aux)
        if tab.lower[v] in _INTENT_HEADS:
            comp = next((c for c in kids if tab.dep[c] == "xcomp"), None)
            if comp is not None and (tab.lower[v] not in ("going", "about") or any(a in _BE for a in aux)):
                future, verb = True, comp
        if subj is not None:
            person = _person(tab, subj)
        elif tab.dep[v] == "conj" and inherited is not None:
            person, future = inherited[0], future or inherited[1]
        elif future and tab.tag[v] == "VB" and words and words[0] in _FUTURE_AUX and not question:
            person = 1  # "Will send it tomorrow.": the writer, subject left out
        else:
            person = 0
            if tab.tag[v] == "VB" and not aux:
                imperative = True
        inherited = (person, future)
        persons.append(person)
        if person == 1 and future:
            future1 = True
        if person == 1 and future and _arranges_with_reader(tab, verb, subj):
            arranges = True
        if person == 1 and (tab.lower[verb] in _NEED_VERBS or (
            tab.lower[verb] in _ASK_VERBS and any(tab.lower[c] in _SECOND for c in tab.children[verb])
        )):
            asks = True

    reader_subject = False
    for i in range(start, end):
        if tab.lower[i] in _SECOND and tab.dep[i] in ("nsubj", "nsubjpass"):
            verb = tab.head[i]
            governor = tab.head[verb]
            if not (governor != verb and tab.lower[governor] in _CAUSATIVE):
                reader_subject = True
                break

    cue = any(w in _CUE_WORDS for w in words) or any(
        pair in _CUE_BIGRAMS for pair in zip(words, words[1:])
    )
    rhetorical = question and (
        not alpha
        or (len(alpha) == 1 and alpha[0] in _INTERJECTIONS)
        or bool(_RHETORICAL.match(stripped))
    )
    return ClauseRead(
        persons=tuple(persons), future_first_person=future1, imperative=imperative,
        reader_subject=reader_subject, asks_reader=asks, arranges=arranges, cue=cue, question=question,
        rhetorical=rhetorical,
    )
