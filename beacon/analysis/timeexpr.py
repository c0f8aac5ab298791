"""Time references in email text, resolved to absolute datetimes from the email's own Date.

"by Friday" in a mail sent on Wednesday 2024-03-06 means Friday 2024-03-08. We resolve in the
email's own timezone: that is the clock the writer meant. Date-only references resolve to the end
of that day (23:59); "EOD"/"COB" to 17:00; a stated time wins over both.

Rules are explicit and small on purpose: dateparser-style libraries guess too freely on
business prose ("may", "march", "second"), and a wrong deadline is worse than none.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
}
MONTHS = {
    name.lower(): i for i, name in enumerate(calendar.month_name) if name
} | {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name} | {"sept": 9}
NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "a few": 3,
}

EOD = time(17, 0)
END_OF_DAY = time(23, 59)

_WD = r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)"
_MON = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_NUM = r"(?:\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|a couple of|a few)"
_AMPM = r"(?:[ap]m\b|[ap]\.m\.?)"
_TIME = rf"(?:(?:at|@|before|by|until)\s+)?(?:noon|midday|midnight|\d{{1,2}}(?::\d{{2}})?\s*{_AMPM}|\d{{1,2}}:\d{{2}}(?:\s*{_AMPM})?)"

# Each alternative is a named group so the resolver knows what it matched.
_DATE_PATTERNS = [
    ("eod", r"\b(?:eod|e\.o\.d\.?|cob|c\.o\.b\.?|eob|end of (?:the )?(?:business )?day|close of (?:business|play))\b"),
    ("eow", r"\b(?:eow|end of (?:the |this )?week)\b"),
    ("eom", r"\b(?:end of (?:the |this )?month)\b"),
    ("dayafter", r"\b(?:the )?day after tomorrow\b"),
    ("tomorrow", r"\b(?:tomorrow|tmrw|tmw)(?:\s+(?:morning|afternoon|evening|night))?\b"),
    ("tonight", r"\b(?:tonight|this evening)\b"),
    ("today", r"\b(?:today|this afternoon|this morning)\b"),
    ("dayord", rf"\b(?:{_WD},?\s+)?the\s+\d{{1,2}}(?:st|nd|rd|th)\b(?!\s+(?:of\s+)?{_MON})"),
    ("weekday", rf"\b(?:(?:this|next|on|coming|this coming)\s+)?{_WD}\b(?:\s+(?:morning|afternoon|evening|night))?"),
    ("nextweek", r"\b(?:next|the following) week\b"),
    ("within", rf"\b(?:in|within)\s+(?:the\s+next\s+)?{_NUM}\s+(?:business\s+|working\s+)?(?:days?|weeks?|hours?|hrs?)\b"),
    ("iso", r"\b\d{4}-\d{2}-\d{2}\b"),
    ("mdy", r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"),
    ("monthday", rf"\b{_MON}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b"),
    ("daymonth", rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}\b(?:,?\s+\d{{4}})?"),
]
_DATE_RE = re.compile("|".join(f"(?P<{n}>{p})" for n, p in _DATE_PATTERNS), re.IGNORECASE)
_TIME_RE = re.compile(rf"\b{_TIME}(?![\w:])", re.IGNORECASE)
_DEADLINE_CUE = re.compile(
    r"\b(?:by|before|until|till|no later than|not later than|due(?: on| by)?|deadline(?: is| of)?|latest|"
    r"at the latest|prior to|ahead of)\s*[:\-]?\s*(?:the\s+)?$",
    re.IGNORECASE,
)
_BRIDGE = re.compile(r"^\s*(?:,|at|@|on|by|before|\s)*\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class TimeMatch:
    text: str
    start: int
    end: int
    label: str  # DATE | TIME | DATETIME
    resolved: datetime | None
    is_deadline: bool
    exact_time: bool  # a clock time was stated (or implied, as with EOD)


def _parse_clock(s: str) -> time | None:
    s = s.lower().strip()
    s = re.sub(r"^(?:at|@|before|by|until)\s+", "", s)
    if s in ("noon", "midday"):
        return time(12, 0)
    if s == "midnight":
        return time(23, 59)
    m = re.match(r"(\d{1,2})(?::(\d{2}))?\s*([ap])?\.?m?\.?$", s)
    if not m:
        return None
    hour, minute, ampm = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if ampm == "p" and hour < 12:
        hour += 12
    elif ampm == "a" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _next_weekday(base: date, wd: int, qualifier: str) -> date:
    ahead = (wd - base.weekday()) % 7
    if qualifier == "next":
        # "next Tuesday" = the Tuesday of the following calendar week.
        monday_next = base + timedelta(days=7 - base.weekday())
        return monday_next + timedelta(days=wd)
    if ahead == 0 and qualifier not in ("this",):
        ahead = 7  # "by Friday" said on a Friday means next Friday
    return base + timedelta(days=ahead)


def _resolve_date(kind: str, text: str, base: datetime) -> tuple[date | None, time | None]:
    """Return (day, implied clock time) for one matched date expression."""
    t = text.lower()
    d0 = base.date()
    if kind == "eod":
        return d0, EOD
    if kind == "eow":
        return d0 + timedelta(days=(4 - d0.weekday()) % 7), EOD
    if kind == "eom":
        return d0.replace(day=calendar.monthrange(d0.year, d0.month)[1]), EOD
    if kind == "dayafter":
        return d0 + timedelta(days=2), None
    if kind == "tomorrow":
        return d0 + timedelta(days=1), None
    if kind == "tonight":
        return d0, time(20, 0)
    if kind == "weekday" and t.endswith(("evening", "night")):
        day, _ = _resolve_date("weekday", t.rsplit(" ", 1)[0], base)
        return day, time(20, 0)
    if kind == "today":
        return d0, None
    if kind == "weekday":
        words = t.split()
        qualifier = words[0] if words[0] in ("this", "next", "on", "coming") else ""
        name = next(w for w in words if w.rstrip(".") in WEEKDAYS)
        return _next_weekday(d0, WEEKDAYS[name.rstrip(".")], qualifier), None
    if kind == "dayord":
        # "the 18th" (optionally "Wednesday the 18th"): the next day with that number.
        day = int(re.search(r"(\d{1,2})(?:st|nd|rd|th)", t).group(1))  # type: ignore[union-attr]
        for months_ahead in range(0, 3):
            y, m = divmod(d0.month - 1 + months_ahead, 12)
            try:
                cand = date(d0.year + y, m + 1, day)
            except ValueError:
                continue
            if cand >= d0:
                return cand, None
        return None, None
    if kind == "nextweek":
        monday_next = d0 + timedelta(days=7 - d0.weekday())
        return monday_next + timedelta(days=4), EOD
    if kind == "within":
        m = re.search(rf"({_NUM})\s+(?:business\s+|working\s+)?(day|week|hour|hr)", t)
        if not m:
            return None, None
        n = int(m.group(1)) if m.group(1).isdigit() else NUMBERS[m.group(1)]
        unit = m.group(2)
        if unit in ("hour", "hr"):
            dt = base + timedelta(hours=n)
            return dt.date(), dt.time().replace(second=0, microsecond=0)
        return d0 + timedelta(days=n * (7 if unit == "week" else 1)), None
    if kind == "iso":
        try:
            return date.fromisoformat(t), None
        except ValueError:
            return None, None
    if kind == "mdy":
        parts = [int(p) for p in t.split("/")]
        month, day = parts[0], parts[1]
        year = parts[2] if len(parts) > 2 else None
        return _calendar_date(d0, month, day, year), None
    if kind in ("monthday", "daymonth"):
        mon = re.search(_MON, t)
        day = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b(?!\d)", t.replace(mon.group(0), " ") if mon else t)
        year = re.search(r"\b(\d{4})\b", t)
        if not mon or not day:
            return None, None
        month = MONTHS[mon.group(0).rstrip(".")[:4] if mon.group(0)[:4] == "sept" else mon.group(0)[:3]]
        return _calendar_date(d0, month, int(day.group(1)), int(year.group(1)) if year else None), None
    return None, None


def _calendar_date(base: date, month: int, day: int, year: int | None) -> date | None:
    if year is not None and year < 100:
        year += 2000
    try:
        if year is not None:
            return date(year, month, day)
        candidate = date(base.year, month, day)
    except ValueError:
        return None
    # A date without a year that already passed by months means next year ("Jan 5" in December).
    if candidate < base - timedelta(days=60):
        try:
            candidate = date(base.year + 1, month, day)
        except ValueError:
            return None
    return candidate


def find_time_refs(text: str, base: datetime) -> list[TimeMatch]:
    """All time references in ``text``, with clock times merged into their dates."""
    dates = [(m.start(), m.end(), m.lastgroup or "", m.group(0)) for m in _DATE_RE.finditer(text)]
    times = [(m.start(), m.end(), m.group(0)) for m in _TIME_RE.finditer(text)]
    # Clock times inside a date match (e.g. "11/24" never is, but be safe) are dropped.
    times = [t for t in times if not any(d[0] <= t[0] < d[1] for d in dates)]
    used_times: set[int] = set()
    out: list[TimeMatch] = []
    for start, end, kind, dtext in dates:
        day, clock = _resolve_date(kind, dtext, base)
        exact = clock is not None
        s, e = start, end
        # Attach an adjacent clock time: "tomorrow at 3pm", "3pm tomorrow", "Friday, 10:00".
        for i, (ts, te, ttext) in enumerate(times):
            if i in used_times:
                continue
            gap = text[e:ts] if ts >= e else text[te:s] if te <= s else None
            if gap is not None and len(gap) <= 6 and _BRIDGE.match(gap):
                c = _parse_clock(ttext)
                if c is not None:
                    clock, exact = c, True
                    used_times.add(i)
                    s, e = min(s, ts), max(e, te)
                    break
        resolved = (
            datetime.combine(day, clock or END_OF_DAY, tzinfo=base.tzinfo) if day else None
        )
        label = "DATETIME" if exact and kind != "eod" else "DATE"
        out.append(_make(text, s, e, label, resolved, exact, always_deadline=dtext.lower().startswith("within")))
    for i, (ts, te, ttext) in enumerate(times):
        if i in used_times:
            continue
        c = _parse_clock(ttext)
        if c is None:
            continue
        resolved = datetime.combine(base.date(), c, tzinfo=base.tzinfo)
        if resolved < base:  # "by 3pm" sent at 5pm means tomorrow
            resolved += timedelta(days=1)
        out.append(_make(text, ts, te, "TIME", resolved, True))
    out.sort(key=lambda m: m.start)
    return out


def _make(
    text: str, s: int, e: int, label: str, resolved: datetime | None, exact: bool,
    always_deadline: bool = False,
) -> TimeMatch:
    prefix = text[max(0, s - 25) : s]
    fragment = text[s:e]
    deadline = always_deadline or bool(_DEADLINE_CUE.search(prefix)) or bool(
        re.match(r"(?:by|before|until|no later than)\b", fragment, re.IGNORECASE)
    ) or bool(re.search(r"\b(?:eod|cob|eob|end of)", fragment, re.IGNORECASE))
    return TimeMatch(fragment, s, e, label, resolved, deadline, exact)
