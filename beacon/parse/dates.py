"""Message date: the Date header, else the newest Received header, else import time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from dateutil import parser as dateutil_parser

from beacon.models import DateSource

# Dates outside this range are typos or garbage (year 0, 2099, ...), not real send times.
_MIN_YEAR = 1980
_MAX_YEAR = 2100
# RFC 5322 3.3: "-0000" means the time is UTC (the sender's zone is unknown); the stdlib
# returns a naive datetime for it, but it is not a missing zone.
_MINUS_ZERO = re.compile(r"-0000\s*(\([^)]*\))?\s*$")
# Zone abbreviations seen in non-RFC dates; dateutil warns on any it cannot resolve.
# "06:09:22 PM": the stdlib's RFC 5322 reader ignores AM/PM (and so lands 12 hours off).
_AM_PM = re.compile(r"\d:\d\d(?::\d\d)?\s*(?:AM|PM)\b", re.IGNORECASE)
# A Date this far after the newest Received header (or the import) was set by a wrong clock
# or a spammer: sorting by it would pin the mail to the top of the inbox for years.
_FUTURE_SLACK = timedelta(days=2)
# The wording of the date problems that say the Date header was not written by a real clock
# (the analysis reads them as signs of forged headers).
NO_ZONE = "date without timezone"
FUTURE_OF_DELIVERY = "is in the future of the message's delivery"
_ZONE_HOURS = {"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
               "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "CET": 1, "CEST": 2, "MET": 1,
               "MEST": 2, "BST": 1, "EET": 2, "EEST": 3, "JST": 9, "KST": 9, "IST": 5.5}


def _zone(name: str | None, offset: int | None) -> timezone | None:
    """dateutil ``tzinfos`` callback: known abbreviations, else None (naive, no warning)."""
    if offset is not None:
        return timezone(timedelta(seconds=offset))
    hours = _ZONE_HOURS.get((name or "").upper())
    return None if hours is None else timezone(timedelta(hours=hours))


def parse_date(value: str | None) -> tuple[datetime | None, str | None]:
    """Parse one date string. Returns ``(aware datetime | None, problem | None)``."""
    if value is None or not value.strip():
        return None, None
    text = " ".join(value.split())
    found: datetime | None = None
    try:
        if _AM_PM.search(text):
            raise ValueError("12-hour clock")
        found = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:  # dateutil copes with ISO dates, 12-hour clocks and odd orders real clients emit
            found = dateutil_parser.parse(text, tzinfos=_zone)
        except (ValueError, OverflowError, TypeError):
            return None, f"unparseable date {text[:80]!r}"
    if found is None or not _MIN_YEAR <= found.year <= _MAX_YEAR:
        return None, f"implausible date {text[:80]!r}"
    if found.tzinfo is None and _MINUS_ZERO.search(text):
        return found.replace(tzinfo=timezone.utc), None
    if found.tzinfo is None:
        return found.replace(tzinfo=timezone.utc), f"{NO_ZONE} {text[:80]!r}; assumed UTC"
    try:
        found.utcoffset()
    except ValueError:
        return found.replace(tzinfo=timezone.utc), f"bad timezone in {text[:80]!r}; assumed UTC"
    return found, None


def received_date(received: list[str]) -> tuple[datetime | None, list[str]]:
    """Date of the newest (topmost) Received header that has a parseable one."""
    problems: list[str] = []
    for value in received:
        if ";" not in value:
            continue
        found, problem = parse_date(value.rsplit(";", 1)[1])
        if found is not None:
            return found, problems
        if problem:
            problems.append(f"Received: {problem}")
    return None, problems


def message_date(
    date_values: list[str], received: list[str], fallback: datetime
) -> tuple[datetime, DateSource, list[str]]:
    """Choose the message date; every fallback is explained in the returned problems.

    A Date header later than the newest Received header (or than ``fallback``, the import
    time, when there is none) by more than two days is not trusted.
    """
    problems: list[str] = []
    if fallback.tzinfo is None:
        fallback = fallback.replace(tzinfo=timezone.utc)
    got_received: tuple[datetime | None, list[str]] | None = None

    def newest_received() -> tuple[datetime | None, list[str]]:
        nonlocal got_received
        if got_received is None:
            got_received = received_date(received)
        return got_received

    for value in date_values:
        found, problem = parse_date(value)
        if problem:
            problems.append(problem)
        if found is None:
            continue
        ceiling = newest_received()[0] or max(fallback, datetime.now(timezone.utc))
        if found > ceiling + _FUTURE_SLACK:
            problems.append(f"Date {found.isoformat()} is in the future of the message's "
                            f"{'delivery' if newest_received()[0] else 'import'}; not trusted")
            continue
        return found, "header", problems
    if not date_values:
        problems.append("no Date header")
    found, more = newest_received()
    problems.extend(more)
    if found is not None:
        problems.append("date taken from the newest Received header")
        return found, "received", problems
    problems.append("date set to import time")
    return fallback, "import", problems
