"""When a snooze ends, as people write it: ``2026-12-03T09:00``, ``2h``, ``in 3 days``,
``tomorrow``, ``tomorrow 9:00``, ``monday 8am``, ``tonight``, ``next week``.

A day without a time means 09:00 that day (the start of a working day); times are read in
the caller's zone. Small and explicit on purpose, like :mod:`beacon.analysis.timeexpr`: a
snooze that wakes at a guessed time costs the reader more than a refusal that says why.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo

from beacon.errors import InvalidInput

__all__ = ["parse_when"]

MORNING = time(9, 0)
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_UNITS = {"m": "minutes", "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
          "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
          "d": "days", "day": "days", "days": "days", "w": "weeks", "week": "weeks", "weeks": "weeks"}
_AMOUNT = re.compile(r"^(?:in\s+)?(\d{1,4})\s*([a-z]+)$")
_CLOCK = re.compile(r"^(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$")
_HELP = ("give an ISO date/time (2026-12-03T09:00), an amount (30m, 2h, 3d, 1w, 'in 2 hours'), or a day "
         "with an optional time (today 17:00, tomorrow, tomorrow 9:00, monday 8am, tonight, next week)")


def _clock(text: str) -> time:
    m = _CLOCK.match(text.strip())
    if not m:
        raise InvalidInput(f"cannot read the time {text!r}: {_HELP}")
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if half:
        if not 1 <= hour <= 12:
            raise InvalidInput(f"{text!r}: the hour of a time with am/pm is 1-12")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise InvalidInput(f"{text!r} is not a time of day")
    return time(hour, minute)


def _day(word: str, today: date) -> date | None:
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    names = [w for w in _WEEKDAYS if w == word or (len(word) >= 3 and w.startswith(word))]
    if len(names) == 1:
        ahead = (_WEEKDAYS.index(names[0]) - today.weekday()) % 7 or 7  # "monday" on a Monday: the next one
        return today + timedelta(days=ahead)
    return None


def parse_when(text: str, now: datetime, zone: tzinfo | None = None) -> datetime:
    """The moment ``text`` names, after ``now`` (aware); raises InvalidInput saying why not."""
    zone = zone or now.tzinfo
    raw = " ".join(text.strip().lower().split())
    if not raw:
        raise InvalidInput(f"say when: {_HELP}")
    local = now.astimezone(zone)
    when = _read(raw, text, local)
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    if when <= now:
        raise InvalidInput(f"{text!r} ({when.isoformat(timespec='minutes')}) is not in the future")
    return when


def _read(raw: str, text: str, local: datetime) -> datetime:
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}$", raw):
            return datetime.combine(date.fromisoformat(raw), MORNING, local.tzinfo)
        if re.match(r"^\d{4}-\d{2}-\d{2}[t ]", raw):
            return datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"cannot read {text!r} as a date and time: {exc}") from None
    m = _AMOUNT.match(raw)
    if m and m.group(2) in _UNITS:
        amount = int(m.group(1))
        if amount == 0:
            raise InvalidInput(f"{text!r} is now: snooze for at least a minute")
        return local + timedelta(**{_UNITS[m.group(2)]: amount})
    if raw in ("tonight", "this evening"):
        return datetime.combine(local.date(), time(20, 0), local.tzinfo)
    if raw == "next week":
        return datetime.combine(local.date() + timedelta(days=7 - local.weekday()), MORNING, local.tzinfo)
    head, _, rest = raw.partition(" ")
    day = _day(head, local.date())
    if day is not None:
        at = _clock(rest) if rest else MORNING
        return datetime.combine(day, at, local.tzinfo)
    if _CLOCK.match(raw):  # a time alone: its next occurrence
        at = datetime.combine(local.date(), _clock(raw), local.tzinfo)
        return at if at > local else at + timedelta(days=1)
    raise InvalidInput(f"cannot read {text!r}: {_HELP}")
