"""Sentiment (VADER, a lexicon- and rule-based scorer built for short social text) and tone flags.

VADER scores words of feeling; a report of an incident ("our site has been down for 6 hours,
nothing works, customers are calling") has few of them, and the courtesy around it ("please
help, thanks") makes it come out positive. ``INCIDENTS`` are phrases of things going wrong,
each with a VADER-scale valence; they are added to VADER's own sum of valences before its
normalisation, so one incident outweighs a "thanks" and plain mail scores exactly as VADER does.
"""

from __future__ import annotations

import math
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
# Things going wrong, with a valence on VADER's scale (-4..4; "failed" is -2.3 there).
INCIDENTS: tuple[tuple[re.Pattern[str], float], ...] = tuple(
    (re.compile(p, re.IGNORECASE), v) for p, v in (
        (r"\b(?:is|are|was|were|been|went|goes|going|still|keeps? going)\s+down\b", -2.5),
        (r"\boutages?\b", -2.5),
        (r"\bnothing (?:works|is working|loads|is loading)\b", -2.5),
        (r"\b(?:not|n't|cannot|can't|unable to) (?:be )?(?:working|work|load(?:ing)?|respond(?:ing)?|"
         r"connect(?:ing)?|log ?in|sign ?in|access|start(?:ing)?|boot(?:ing)?|reach(?:able)?|send(?:ing)?)\b", -2.0),
        (r"\b(?:stopped|stops|has stopped) working\b", -2.0),
        (r"\b(?:nobody|no one|no-one|none of us)\s+(?:\w+\s+){0,4}?(?:can|could|is able to)\s+"
         r"(?:log ?in|sign ?in|access|connect|work|get in)\b", -2.0),
        (r"\b(?:down|broken|failing|crashing|not working|timing out) again\b", -1.0),
        (r"\b(?:crash(?:ed|es|ing)?|unresponsive|unreachable|unavailable|inaccessible|corrupt(?:ed|ion)?|"
         r"data loss|timing out|timed out|internal server error|5\d\d errors?|error 5\d\d)\b", -1.5),
        (r"\blost (?:all |our |the |my )?(?:data|orders|files|e-?mails|access|connection|money)\b", -2.0),
        (r"\b(?:customers|users|clients|people) (?:are|keep|have been) (?:calling|complaining|e-?mailing|"
         r"angry|furious|leaving|cancell?ing)\b", -1.5),
        (r"\b(?:losing|lost) (?:money|customers|revenue|sales|business)\b", -2.0),
        (r"\b(?:breach(?:ed)?|hacked|compromised)\b", -2.0),
    )
)
_NEGATED = re.compile(r"\b(?:no|not|without|zero|never)\s+(?:\w+\s+)?$", re.IGNORECASE)
_INCIDENT_FLOOR = -8.0  # a long list of symptoms is one bad day, not a catastrophe
_VADER_ALPHA = 15  # VADER's normalisation constant: compound = s / sqrt(s^2 + alpha)


def incident_valence(text: str) -> float:
    """Sum of the incident phrases' valences in ``text`` (0.0 when none)."""
    total = 0.0
    for pattern, valence in INCIDENTS:
        for m in pattern.finditer(text):
            if not _NEGATED.search(text[max(0, m.start() - 20): m.start()]):
                total += valence
    return max(total, _INCIDENT_FLOOR)


def _with_incidents(compound: float, incidents: float) -> float:
    """VADER's compound after adding ``incidents`` to the valence sum it normalised."""
    if not incidents:
        return compound
    c = max(-0.9999, min(0.9999, compound))
    raw = c * math.sqrt(_VADER_ALPHA / (1 - c * c))  # invert compound = s / sqrt(s^2 + alpha)
    s = raw + incidents
    return s / math.sqrt(s * s + _VADER_ALPHA)


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
        head = text[:2500]
        s = self._vader.polarity_scores(head) if text else {"compound": 0.0, "pos": 0.0, "neu": 1.0, "neg": 0.0}
        c = round(_with_incidents(float(s["compound"]), incident_valence(head)), 4)
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
