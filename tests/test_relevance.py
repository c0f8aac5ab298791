"""PostgreSQL's relevance: searched words in the subject and the sender (no database needed)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from beacon.query import parse
from beacon.query.model import positive_texts
from beacon.query.relevance import _WORD, SENDER_WEIGHT, SUBJECT_WEIGHT, _words, head_rank
from beacon.query.snippet import fold


def _score(query: str, subject: str, sender: str) -> float:
    return head_rank(positive_texts(parse(query)))(subject, sender)


def test_subject_words_count_more_than_sender_words_and_the_body_not_at_all() -> None:
    assert _score("board deck", "Board deck for Thursday", "Priya <priya@example.com>") == 2 * SUBJECT_WEIGHT
    assert _score("priya deck", "Board deck", "Priya Shah <priya@example.com>") == SUBJECT_WEIGHT + SENDER_WEIGHT
    assert _score("chairs", "Lunch", "Bob <bob@example.net>") == 0


def test_words_are_folded_split_on_punctuation_and_prefixes_match() -> None:
    assert _score("cafe", "Café at noon", "x@example.com") == SUBJECT_WEIGHT
    assert _score("example", "Hi", "priya@example.com") == SENDER_WEIGHT
    assert _score("meet*", "Meeting notes", "") == SUBJECT_WEIGHT
    assert _score("from:priya", "Hello", "Priya <p@x.org>") == SENDER_WEIGHT  # a field's word counts where it is


def test_negated_words_do_not_count() -> None:
    assert _score("deck -board", "Board deck", "") == SUBJECT_WEIGHT


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
@settings(max_examples=300, deadline=None)
def test_ascii_text_is_cut_into_the_words_each_folded(text: str) -> None:
    # ASCII text is lower-cased once, not word by word: the same words.
    assert _words(text) == {fold(w) for w in _WORD.findall(text)}
