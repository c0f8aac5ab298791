"""Sentiment (VADER, a lexicon- and rule-based scorer built for short social text) and tone flags."""

from __future__ import annotations

import re
from functools import cached_property

from beacon.analysis.models import Sentiment, ToneFlag

_TONE_PATTERNS: dict[str, re.Pattern[str]] = {
    "gratitude": re.compile(
        r"\b(?:thanks?(?: you| so much| a lot| again| in advance)?|thank\s+you|many thanks|"
        r"(?:much |really |greatly )?appreciated?|grateful|kudos|cheers)\b",
        re.IGNORECASE,
    ),
    "dissatisfaction": re.compile(
        r"\b(?:disappoint(?:ed|ing)|unacceptable|frustrat(?:ed|ing)|not (?:happy|satisfied|acceptable)|"
        r"unhappy|annoy(?:ed|ing)|complain(?:t|ing)?|still (?:waiting|haven't|have not|not)|"
        r"(?:this is|very) (?:poor|bad)|terrible|awful|fed up|escalat(?:e|ing|ion)|refund)\b",
        re.IGNORECASE,
    ),
    "urgency": re.compile(
        r"\b(?:urgent(?:ly)?|asap|a\.s\.a\.p\.?|as soon as possible|immediately|right away|"
        r"time[- ]sensitive|critical|high priority|top priority|emergency|without delay|"
        r"at your earliest convenience|deadline|today|eod|end of (?:the )?day|now)\b",
        re.IGNORECASE,
    ),
}
# "now" and "today" are urgent only when paired with a demand; keep them weak by context.
_WEAK_URGENCY = {"now", "today"}


def _linear_vader():  # type: ignore[no-untyped-def]
    """VADER with the same scores in linear time.

    vaderSentiment 3.3.2's ``_negation_check`` and ``_special_idioms_check`` lower-case *every*
    word of the text each time they look at one word, so scoring is quadratic in the text's
    length (two thirds of its time on a 2,500-character email). Both only read the words from
    three before to two after position ``i``, so from the fourth word on they are handed that
    window instead of the whole text (before it, the whole text: a negative index wraps round
    to the end there). ``test_tone`` checks the scores against stock VADER on real mail.
    """
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    stock = SentimentIntensityAnalyzer

    class LinearVader(SentimentIntensityAnalyzer):
        @staticmethod
        def _negation_check(valence, words_and_emoticons, start_i, i):  # type: ignore[no-untyped-def]
            if i >= 3:
                words_and_emoticons, i = words_and_emoticons[i - 3 : i + 1], 3
            return stock._negation_check(valence, words_and_emoticons, start_i, i)

        @staticmethod
        def _special_idioms_check(valence, words_and_emoticons, i):  # type: ignore[no-untyped-def]
            if i >= 3:
                words_and_emoticons, i = words_and_emoticons[i - 3 : i + 3], 3
            return stock._special_idioms_check(valence, words_and_emoticons, i)

    return LinearVader()


class ToneAnalyzer:
    """Loads the VADER lexicon once per process (workers keep it warm)."""

    @cached_property
    def _vader(self):  # type: ignore[no-untyped-def]
        return _linear_vader()

    def sentiment(self, text: str) -> Sentiment:
        # The opening carries a message's tone; VADER is pure Python and costs per word.
        s = self._vader.polarity_scores(text[:2500]) if text else {"compound": 0.0, "pos": 0.0, "neu": 1.0, "neg": 0.0}
        c = round(float(s["compound"]), 4)
        label = "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"
        return Sentiment(
            compound=c,
            positive=round(float(s["pos"]), 4),
            neutral=round(float(s["neu"]), 4),
            negative=round(float(s["neg"]), 4),
            label=label,
        )


def tone_flags(text: str, subject: str = "") -> list[ToneFlag]:
    flags: list[ToneFlag] = []
    for flag, pattern in _TONE_PATTERNS.items():
        for where, source in (("subject", subject), ("body", text)):
            for m in pattern.finditer(source):
                word = m.group(0).lower()
                if flag == "urgency" and word in _WEAK_URGENCY and where == "body":
                    # "today"/"now" count only beside a request word in the same clause.
                    window = source[max(0, m.start() - 40) : m.end() + 10].lower()
                    if not re.search(r"\b(?:need|must|please|by|before|asap|urgent)\b", window):
                        continue
                flags.append(
                    ToneFlag(flag=flag, text=m.group(0), start=m.start(), end=m.end(), where=where)  # type: ignore[arg-type]
                )
    flags.sort(key=lambda f: (f.where != "subject", f.start))
    return flags
