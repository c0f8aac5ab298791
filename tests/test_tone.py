"""Sentiment: Beacon's linear-time VADER must score exactly as stock VADER does."""

from __future__ import annotations

import random

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from beacon.analysis.text import select_text
from beacon.analysis.tone import ToneAnalyzer, _linear_vader
from beacon.parse import parse_message
from testkit.corpora import iter_files, spamassassin_dir

# Every rule the two patched checks apply: negation one to three words back, "never so/this",
# "without doubt", idioms before and after the word, booster n-grams, "least", "no", caps, "but".
CRAFTED = [
    "This is not good.", "It isn't really that bad at all.", "I never so much enjoyed a meeting.",
    "Never this happy, honestly.", "Without a doubt the best report.", "Without doubt, great work.",
    "The new design is the bomb.", "This plan does not cut the mustard.", "She is kind of happy.",
    "It was sort of a disaster.", "At least it works. Least helpful answer ever.", "No good deed.",
    "No problem, glad to help!", "It is GREAT but the rest is TERRIBLE.", "Bad. Good. :) :(",
    "Good", "not", "", "yeah right, what a great idea... not", "Thanks!!! Very very much appreciated",
    "hand to mouth, back handed, upper hand: the devil is in the details",
    "I am not never not happy about the short-term gains but long-term losses.",
    "Honestly that merger was a kiss of death for us.", "We all felt a broken heart today.",
]


def _corpus_texts(n: int) -> list[str]:
    files = sorted(iter_files(spamassassin_dir(), "*.txt"))
    sample = random.Random(7).sample(files, n)
    return [select_text(parse_message(p.read_bytes()).email, 10_000).text for p in sample]


@pytest.mark.parametrize("text", CRAFTED)
def test_linear_vader_scores_crafted_rules_like_stock_vader(text: str) -> None:
    assert _linear_vader().polarity_scores(text) == SentimentIntensityAnalyzer().polarity_scores(text)


def test_linear_vader_scores_real_mail_like_stock_vader() -> None:
    fast, stock = _linear_vader(), SentimentIntensityAnalyzer()
    texts = _corpus_texts(250)
    differ = [t[:80] for t in texts if fast.polarity_scores(t[:2500]) != stock.polarity_scores(t[:2500])]
    assert differ == []
    assert any(stock.polarity_scores(t[:2500])["compound"] != 0 for t in texts)  # not all neutral


def test_tone_analyzer_uses_the_linear_vader() -> None:
    s = ToneAnalyzer().sentiment("Thank you so much, this is wonderful news!")
    assert s.label == "positive" and s.compound > 0.5
