"""Reading a snooze time as people write it, relative to a fixed now in a given zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from beacon.errors import InvalidInput
from beacon.triage.when import parse_when

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 2, 14, 30, tzinfo=BERLIN)  # a Wednesday afternoon


@pytest.mark.parametrize(("text", "expected"), [
    ("2h", NOW + timedelta(hours=2)),
    ("in 2 hours", NOW + timedelta(hours=2)),
    ("30m", NOW + timedelta(minutes=30)),
    ("3d", NOW + timedelta(days=3)),
    ("1w", NOW + timedelta(weeks=1)),
    ("tomorrow", datetime(2026, 12, 3, 9, 0, tzinfo=BERLIN)),
    ("Tomorrow 9:00", datetime(2026, 12, 3, 9, 0, tzinfo=BERLIN)),
    ("tomorrow 5pm", datetime(2026, 12, 3, 17, 0, tzinfo=BERLIN)),
    ("today 17:30", datetime(2026, 12, 2, 17, 30, tzinfo=BERLIN)),
    ("tonight", datetime(2026, 12, 2, 20, 0, tzinfo=BERLIN)),
    ("monday", datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)),
    ("mon 8am", datetime(2026, 12, 7, 8, 0, tzinfo=BERLIN)),
    ("wednesday", datetime(2026, 12, 9, 9, 0, tzinfo=BERLIN)),  # today is Wednesday: the next one
    ("next week", datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)),
    ("16:00", datetime(2026, 12, 2, 16, 0, tzinfo=BERLIN)),
    ("9:00", datetime(2026, 12, 3, 9, 0, tzinfo=BERLIN)),  # passed today: tomorrow's
    ("2026-12-24", datetime(2026, 12, 24, 9, 0, tzinfo=BERLIN)),
    ("2026-12-24T18:00", datetime(2026, 12, 24, 18, 0, tzinfo=BERLIN)),
    ("2026-12-24T18:00:00+00:00", datetime(2026, 12, 24, 18, 0, tzinfo=timezone.utc)),
])
def test_when(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW.astimezone(timezone.utc), BERLIN) == expected


@pytest.mark.parametrize(("text", "why"), [
    ("", "say when"), ("soon", "cannot read"), ("yesterday", "cannot read"), ("0h", "is now"),
    ("today 9:00", "not in the future"), ("2026-12-01", "not in the future"), ("tomorrow 25:00", "not a time"),
    ("tomorrow 13pm", "1-12"), ("2026-13-01", "cannot read"), ("t", "cannot read"),
])
def test_what_cannot_be_read_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        parse_when(text, NOW, BERLIN)
