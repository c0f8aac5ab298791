"""Sentiment: Beacon's linear-time VADER must score exactly as stock VADER does."""

from __future__ import annotations

import random

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from beacon.analysis.text import select_text
from beacon.analysis.tone import ToneAnalyzer, _linear_vader, incident_valence
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


# Incidents: VADER has few words for things going wrong, and the courtesy around a complaint
# ("please help, thanks") turned outage reports positive.
COMPLAINTS = [
    "Our site has been down for 6 hours, nothing works, customers are calling. Please help ASAP, thanks.",
    "Since the upgrade the checkout page keeps timing out and we have lost orders all morning. Thanks for looking.",
    "The VPN is down again and nobody on the team can log in. Could you please take a look? Thank you!",
    "Hi, the app crashed three times today and our users cannot sign in. Appreciate a quick fix.",
    "We have had an outage since 9am; the API returns 502 errors on every call. Please advise.",
]
NOT_COMPLAINTS = [
    "Good news: no outage this week, everything works great. Thanks!",
    "Thank you so much for the wonderful presentation, the team loved it!",
    "The server crashed twice last night but it is back up now and running great. Thanks for the quick fix!",
    "Could you send me the slides from today's meeting? Thanks!",
]


@pytest.mark.parametrize("text", COMPLAINTS)
def test_incident_complaints_are_negative(text: str) -> None:
    assert ToneAnalyzer().sentiment(text).label == "negative", text


@pytest.mark.parametrize("text", NOT_COMPLAINTS)
def test_mail_without_an_open_incident_is_not_made_negative(text: str) -> None:
    assert ToneAnalyzer().sentiment(text).label == "positive", text


def test_mail_without_incident_words_scores_as_vader() -> None:
    for text in CRAFTED:
        stock = SentimentIntensityAnalyzer().polarity_scores(text[:2500])["compound"]
        if incident_valence(text) == 0.0:
            assert ToneAnalyzer().sentiment(text).compound == round(stock, 4), text
