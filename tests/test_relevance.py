"""PostgreSQL's relevance: searched words in the subject and the sender (no database needed)."""

from __future__ import annotations

from beacon.query import parse
from beacon.query.model import positive_texts
from beacon.query.relevance import SENDER_WEIGHT, SUBJECT_WEIGHT, head_rank


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
