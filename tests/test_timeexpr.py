"""Time references resolved against the email's own Date (exact values)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from beacon.analysis.timeexpr import find_time_refs

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
