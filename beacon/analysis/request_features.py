"""Feature strings for the request detector, read off an already-parsed spaCy sentence.

Each sentence becomes two *blocks* of string features (words, syntax);
every block is TF-IDF weighted and L2-normalised on its own before a linear model scores it.
Only the tagger's and parser's output is read (``tag_``, ``dep_``, heads) plus lexical
attributes, because the analysis pipeline excludes the lemmatizer to save memory: nothing
here may depend on ``lemma_``.

Changing anything in this module changes what the shipped model sees, so bump
``FEATURE_VERSION`` and retrain (``python -m beacon.analysis.train_requests``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.tokens import Span, Token

FEATURE_VERSION = "1"

# Block names, in the order the model stores them.
BLOCKS: tuple[str, ...] = ("word", "syntax")

_SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass", "csubj", "csubjpass", "expl"})
# Children of the root whose word matters, not just their relation ("you" as subject, "not").
_LEXICAL_CHILD_DEPS = frozenset({"nsubj", "aux", "neg", "dobj", "dative"})
_SECOND_PERSON = frozenset({"you", "your", "yours", "yourself", "yourselves", "u", "ya"})
# Punctuation that says something about intent; other punctuation is dropped from word blocks.
_KEPT_PUNCT = frozenset({"?", "!"})


def _words(tokens: Iterable[Token]) -> list[str]:
    return [
        t.lower_ for t in tokens
        if not (t.is_space or (t.is_punct and t.text not in _KEPT_PUNCT))
    ]


def _with_bigrams(items: list[str]) -> list[str]:
    return items + [f"{a} {b}" for a, b in zip(items, items[1:])]


def _is_root(tok: Token, span: Span) -> bool:
    """A token heading its sentence inside ``span`` (its head is itself or outside the span)."""
    return tok.head.i == tok.i or not (span.start <= tok.head.i < span.end)


def _syntax(span: Span) -> list[str]:
    tags = [t.tag_ for t in span if not t.is_space]
    out = [f"T_{t}" for t in tags]
    out += [f"TB_{a}_{b}" for a, b in zip(["BOS", *tags], [*tags, "EOS"])]

    content = [t for t in span if not (t.is_punct or t.is_space)]
    if content:
        first = content[0]
        out += [f"FIRST_TAG_{first.tag_}", f"FIRST_WORD_{first.lower_}"]
        if len(content) > 1:
            out.append(f"FIRST2_{first.tag_}_{content[1].tag_}")

    for tok in span:
        if not _is_root(tok, span):
            continue
        child_deps = {c.dep_ for c in tok.children}
        has_subject = bool(child_deps & _SUBJECT_DEPS)
        out += [f"ROOT_TAG_{tok.tag_}", f"ROOT_WORD_{tok.lower_}", f"ROOT_SUBJ_{has_subject}"]
        # Imperative: a base-form verb heading the clause with no subject and no auxiliary.
        if tok.tag_ == "VB" and not has_subject and "aux" not in child_deps:
            out.append("IMPERATIVE")
        for c in tok.children:
            if c.dep_ in _LEXICAL_CHILD_DEPS:
                out.append(f"RC_{c.dep_}_{c.lower_}")
            else:
                out.append(f"RCD_{c.dep_}")

    text = span.text
    if "?" in text:
        out.append("QMARK")
    if text.rstrip().endswith("?"):
        out.append("ENDQ")
    for i, tok in enumerate(span):
        low = tok.lower_
        if low in _SECOND_PERSON:
            out.append("YOU")
        if tok.tag_ == "MD" and i + 1 < len(span) and span[i + 1].lower_ == "you":
            out.append(f"MD_YOU_{low}")
    return out


def sentence_features(span: Span) -> dict[str, list[str]]:
    """The feature strings of one parsed sentence, by block (see ``BLOCKS``)."""
    return {
        "word": _with_bigrams(_words(span)),
        "syntax": _syntax(span),
    }
