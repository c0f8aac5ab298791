"""Request features read from a TokenTable must equal the ones read through spaCy's Token API
(what the shipped model was trained on): an oracle written the plain way, on real mail."""

from __future__ import annotations

import random

import pytest
from spacy.language import Language
from spacy.tokens import Span

from beacon.analysis.clause import read_clause
from beacon.analysis.pipeline import Pipeline
from beacon.analysis.request_features import TokenTable, sentence_features
from beacon.analysis.text import select_text
from beacon.parse import parse_message
from beacon.settings import Settings
from testkit.corpora import iter_files, spamassassin_dir

_SUBJECT_DEPS = {"nsubj", "nsubjpass", "csubj", "csubjpass", "expl"}
_LEXICAL_CHILD_DEPS = {"nsubj", "aux", "neg", "dobj", "dative"}
_SECOND_PERSON = {"you", "your", "yours", "yourself", "yourselves", "u", "ya"}


def oracle(span: Span) -> dict[str, list[str]]:
    """The features through the Token API, token by token (the pre-TokenTable code)."""
    words = [t.lower_ for t in span if not (t.is_space or (t.is_punct and t.text not in {"?", "!"}))]
    tags = [t.tag_ for t in span if not t.is_space]
    syn = [f"T_{t}" for t in tags] + [f"TB_{a}_{b}" for a, b in zip(["BOS", *tags], [*tags, "EOS"])]
    content = [t for t in span if not (t.is_punct or t.is_space)]
    if content:
        syn += [f"FIRST_TAG_{content[0].tag_}", f"FIRST_WORD_{content[0].lower_}"]
        if len(content) > 1:
            syn.append(f"FIRST2_{content[0].tag_}_{content[1].tag_}")
    for tok in span:
        if not (tok.head.i == tok.i or not (span.start <= tok.head.i < span.end)):
            continue
        deps = {c.dep_ for c in tok.children}
        subj = bool(deps & _SUBJECT_DEPS)
        syn += [f"ROOT_TAG_{tok.tag_}", f"ROOT_WORD_{tok.lower_}", f"ROOT_SUBJ_{subj}"]
        if tok.tag_ == "VB" and not subj and "aux" not in deps:
            syn.append("IMPERATIVE")
        syn += [f"RC_{c.dep_}_{c.lower_}" if c.dep_ in _LEXICAL_CHILD_DEPS else f"RCD_{c.dep_}"
                for c in tok.children]
    syn += ["QMARK"] * ("?" in span.text) + ["ENDQ"] * span.text.rstrip().endswith("?")
    for i, tok in enumerate(span):
        syn += ["YOU"] * (tok.lower_ in _SECOND_PERSON)
        if tok.tag_ == "MD" and i + 1 < len(span) and span[i + 1].lower_ == "you":
            syn.append(f"MD_YOU_{tok.lower_}")
    # The clause reading is defined on the table only (test_requests checks what it decides).
    syn += read_clause(TokenTable.of(span.doc), span.start, span.end, span.text).features()
    return {"word": words + [f"{a} {b}" for a, b in zip(words, words[1:])], "syntax": syn}


@pytest.fixture(scope="module")
def nlp(tmp_path_factory: pytest.TempPathFactory) -> Language:
    return Pipeline.load(Settings(data_dir=tmp_path_factory.mktemp("data"))).nlp


def test_table_features_equal_token_api_features_on_real_mail(nlp: Language) -> None:
    files = random.Random(11).sample(sorted(iter_files(spamassassin_dir(), "*.txt")), 120)
    texts = [select_text(parse_message(p.read_bytes()).email, 10_000).text for p in files]
    texts += ["Could you send it?\n\nThanks,\nDana", "Please   review.  Will you?", "", "?!", "Sign here"]
    n = 0
    for doc in nlp.pipe(texts):
        table = TokenTable.of(doc)
        # Sentences, and spans that cut through sentences (roots whose heads lie outside).
        spans = list(doc.sents) + [doc[:]] + [doc[i : i + 7] for i in range(0, len(doc), 13)]
        for span in spans:
            assert sentence_features(span, table) == oracle(span), span.text
            n += 1
    assert n > 2000
    assert sentence_features(doc[:]) == oracle(doc[:])  # the table is built when not passed
