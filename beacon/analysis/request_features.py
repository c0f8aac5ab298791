"""Feature strings for the request detector, read off an already-parsed spaCy sentence.

Each sentence becomes two *blocks* of string features (words, syntax, the latter including
the main clause's person and modal from ``clause``);
every block is TF-IDF weighted and L2-normalised on its own before a linear model scores it.
Only the tagger's and parser's output is read (``tag_``, ``dep_``, heads) plus lexical
attributes, because the analysis pipeline excludes the lemmatizer to save memory: nothing
here may depend on ``lemma_``.

Changing what these features are changes what the shipped model sees, so bump
``FEATURE_VERSION`` and retrain (``python -m beacon.analysis.train_requests``). How they are
read is free to change: ``tests/test_request_features.py`` checks them against a plain
Token-API oracle on real mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from beacon.analysis.clause import ClauseRead, read_clause

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span

FEATURE_VERSION = "2"

# Block names, in the order the model stores them.
BLOCKS: tuple[str, ...] = ("word", "syntax")

_SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass", "csubj", "csubjpass", "expl"})
# Children of the root whose word matters, not just their relation ("you" as subject, "not").
_LEXICAL_CHILD_DEPS = frozenset({"nsubj", "aux", "neg", "dobj", "dative"})
_SECOND_PERSON = frozenset({"you", "your", "yours", "yourself", "yourselves", "u", "ya"})
# Punctuation that says something about intent; other punctuation is dropped from word blocks.
_KEPT_PUNCT = frozenset({"?", "!"})


@dataclass(frozen=True)
class TokenTable:
    """A parsed Doc's token attributes as plain lists, read once per Doc.

    The features look at every token several times, and each spaCy attribute access builds a
    ``Token`` and looks its string up again; one ``Doc.to_array`` per email and list indexing
    made request scoring ~20 % cheaper (4.2 -> 3.3 ms per email). ``children[i]`` are the
    tokens headed by token ``i``, in document order, as ``Token.children`` gives them.
    """

    orth: list[str]
    lower: list[str]
    tag: list[str]
    dep: list[str]
    head: list[int]
    space: list[bool]
    punct: list[bool]
    children: list[list[int]]

    @classmethod
    def of(cls, doc: Doc) -> TokenTable:
        from spacy.attrs import DEP, HEAD, IS_PUNCT, IS_SPACE, LOWER, ORTH, TAG

        strings = doc.vocab.strings
        cols = doc.to_array([ORTH, LOWER, TAG, DEP, HEAD, IS_SPACE, IS_PUNCT]).reshape(len(doc), 7)
        orth, lower, tag, dep, _, space, punct = (cols[:, k].tolist() for k in range(7))
        # HEAD is the offset to the head, stored unsigned: read it back as signed.
        head = [i + r for i, r in enumerate(cols[:, 4].astype("int64").tolist())]
        children: list[list[int]] = [[] for _ in head]
        for i, h in enumerate(head):
            if h != i:
                children[h].append(i)
        return cls(
            orth=[strings[x] for x in orth], lower=[strings[x] for x in lower],
            tag=[strings[x] for x in tag], dep=[strings[x] for x in dep], head=head,
            space=[bool(x) for x in space], punct=[bool(x) for x in punct], children=children,
        )


def _words(tab: TokenTable, start: int, end: int) -> list[str]:
    return [
        tab.lower[i] for i in range(start, end)
        if not (tab.space[i] or (tab.punct[i] and tab.orth[i] not in _KEPT_PUNCT))
    ]


def _with_bigrams(items: list[str]) -> list[str]:
    return items + [f"{a} {b}" for a, b in zip(items, items[1:])]


def _syntax(tab: TokenTable, start: int, end: int, text: str, clause: ClauseRead) -> list[str]:
    tags = [tab.tag[i] for i in range(start, end) if not tab.space[i]]
    out = [f"T_{t}" for t in tags]
    out += [f"TB_{a}_{b}" for a, b in zip(["BOS", *tags], [*tags, "EOS"])]

    content = [i for i in range(start, end) if not (tab.punct[i] or tab.space[i])]
    if content:
        first = content[0]
        out += [f"FIRST_TAG_{tab.tag[first]}", f"FIRST_WORD_{tab.lower[first]}"]
        if len(content) > 1:
            out.append(f"FIRST2_{tab.tag[first]}_{tab.tag[content[1]]}")

    for i in range(start, end):
        # A token heading its sentence inside the span: its head is itself or outside the span.
        if tab.head[i] != i and start <= tab.head[i] < end:
            continue
        kids = tab.children[i]
        child_deps = {tab.dep[c] for c in kids}
        has_subject = bool(child_deps & _SUBJECT_DEPS)
        out += [f"ROOT_TAG_{tab.tag[i]}", f"ROOT_WORD_{tab.lower[i]}", f"ROOT_SUBJ_{has_subject}"]
        # Imperative: a base-form verb heading the clause with no subject and no auxiliary.
        if tab.tag[i] == "VB" and not has_subject and "aux" not in child_deps:
            out.append("IMPERATIVE")
        for c in kids:
            dep = tab.dep[c]
            out.append(f"RC_{dep}_{tab.lower[c]}" if dep in _LEXICAL_CHILD_DEPS else f"RCD_{dep}")

    if "?" in text:
        out.append("QMARK")
    if text.rstrip().endswith("?"):
        out.append("ENDQ")
    for i in range(start, end):
        low = tab.lower[i]
        if low in _SECOND_PERSON:
            out.append("YOU")
        if tab.tag[i] == "MD" and i + 1 < end and tab.lower[i + 1] == "you":
            out.append(f"MD_YOU_{low}")
    # Who acts in the main clause: the reader, the writer ("I'll call them"), someone else.
    out += clause.features()
    return out


def sentence_features(span: Span, table: TokenTable | None = None) -> dict[str, list[str]]:
    """The feature strings of one parsed sentence, by block (see ``BLOCKS``).

    ``table`` is ``TokenTable.of(span.doc)``; pass it when scoring many sentences of one Doc.
    """
    return read_sentence(span, table)[0]


def read_sentence(span: Span, table: TokenTable | None = None) -> tuple[dict[str, list[str]], ClauseRead]:
    """The features of one parsed sentence and the clause reading they include."""
    tab = table if table is not None else TokenTable.of(span.doc)
    clause = read_clause(tab, span.start, span.end, span.text)
    return {
        "word": _with_bigrams(_words(tab, span.start, span.end)),
        "syntax": _syntax(tab, span.start, span.end, span.text, clause),
    }, clause
