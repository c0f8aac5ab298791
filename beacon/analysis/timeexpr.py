"""Time references in email text, resolved to absolute datetimes from the email's own Date.

"by Friday" in a mail sent on Wednesday 2024-03-06 means Friday 2024-03-08. We resolve in the
email's own timezone: that is the clock the writer meant. Conventions:

- a date alone resolves to the end of that day (23:59); a stated clock time wins;
- "EOD"/"COB"/"end of week/month/quarter/year" resolve to 17:00 on that day, and combine with a
  day ("EOD tomorrow", "close of business Monday" -> that day 17:00);
- a weekday next to an explicit date ("before Monday, March 11th", "by Wednesday 3/6"): the
  explicit date wins, the weekday is only a reading aid;
- parts of the day: "this morning" 12:00, "this afternoon" 17:00, "tonight"/"evening" 20:00;
  a clock time beside them is read in that part ("2:30 this afternoon" = 14:30);
- "N business days" skips Saturdays and Sundays; quarters and halves are calendar ones
  ("end of Q3" = 30 September 17:00, "by H2"/"in H2" = 31 December 23:59);
- tense: a reference the sentence puts in the past ("last Saturday", "yesterday", "3 days ago",
  or any date when the caller's ``is_past`` says the governing verb is past, as in "we met on
  March 3") is never a deadline and never resolves to a future date: it resolves to the most
  recent such day on or before the email's date (or to nothing when that cannot be told).
  Deciding tense needs the parse; ``beacon.analysis.tense`` supplies ``is_past`` from spaCy.
- a reference that resolves before the email was sent is never a deadline (old dates in a
  newsletter's masthead, a quoted date line).

Rules are explicit and small on purpose. Maintained parsers were considered: dateparser's
``search_dates`` and datefinder guess too freely on prose ("are", "to", "a", "may", numbers
become dates: dateparser issues #394, #582, #942), and Microsoft's Recognizers-Text Python port
has had no release since its 2019 alpha. A wrong deadline costs the reader more than a missing one.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
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
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}

EOD = time(17, 0)
END_OF_DAY = time(23, 59)
# The latest moment of a part of the day, when it is given without a clock time.
DAYPART_END = {"morning": time(12, 0), "afternoon": time(17, 0), "evening": time(20, 0), "night": time(20, 0)}

# Says whether the sentence puts the text at [start, end) in the past (see ``tense``).
PastOracle = Callable[[int, int], bool]

_WD = r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)"
_MON = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_NUM = r"(?:\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|a couple of|a few)"
_AMPM = r"(?:[ap]m\b|[ap]\.m\.?)"
_TIME = rf"(?:(?:at|@|before|by|until)\s+)?(?:noon|midday|midnight|\d{{1,2}}(?::\d{{2}})?\s*{_AMPM}|\d{{1,2}}:\d{{2}}(?:\s*{_AMPM})?)"
_PART = r"(?:morning|afternoon|evening|night)"
_QTR = r"(?:q[1-4]|h[12]|(?:first|second|third|fourth|1st|2nd|3rd|4th)\s+(?:quarter|half))"
_YEAR_SUFFIX = r"(?:\s*(?:'\d{2}|(?:of\s+|fy\s*)?\d{4}))?"

# Each alternative is a named group so the resolver knows what it matched; order matters where
# two alternatives could start at the same place (the first one listed wins).
_DATE_PATTERNS = [
    ("eod", r"\b(?:eod|e\.o\.d\.?|cob|c\.o\.b\.?|eob|end of (?:the )?(?:business )?day|close of (?:business|play)|end of business)\b"),
    ("eow", r"\b(?:eow|end of (?:the |this )?week)\b"),
    ("eom", r"\b(?:end of (?:the |this )?month|month[- ]end)\b"),
    ("eoq", r"\b(?:end of (?:the |this )?quarter|quarter[- ]end|next quarter)\b"),
    ("eoy", r"\b(?:end of (?:the |this )?year|year[- ]end|eoy)\b"),
    ("quarter", rf"\b(?:(?:the\s+)?end\s+of\s+(?:the\s+)?)?{_QTR}\b{_YEAR_SUFFIX}"),
    ("dayafter", r"\b(?:the )?day after tomorrow\b"),
    ("tomorrow", rf"\b(?:tomorrow|tmrw|tmw)(?:\s+{_PART})?\b"),
    ("yesterday", rf"\byesterday(?:\s+{_PART})?\b"),
    ("earlier", r"\bearlier (?:today|this (?:morning|afternoon|evening|week))\b"),
    ("ago", rf"\b{_NUM}\s+(?:days?|weeks?)\s+ago\b"),
    ("last", rf"\b(?:last|this past)\s+(?:{_WD}(?:\s+{_PART})?|week(?:end)?)\b"),
    ("tonight", r"\b(?:tonight|this evening)\b"),
    ("today", rf"\b(?:today|this (?:morning|afternoon))\b"),
    ("dayord", rf"\b(?:{_WD},?\s+)?the\s+\d{{1,2}}(?:st|nd|rd|th)\b(?!\s+(?:of\s+)?{_MON})"),
    ("weekday", rf"\b(?:(?:this|next|on|coming|this coming)\s+)?{_WD}\b(?:\s+{_PART})?"),
    ("nextweek", r"\b(?:next|the following) week\b"),
    ("within", rf"\b(?:in|within)\s+(?:the\s+next\s+)?{_NUM}\s+(?:business\s+|working\s+)?(?:days?|weeks?|hours?|hrs?)\b"),
    ("bizdays", rf"\b{_NUM}\s+(?:business|working)\s+days?\b"),
    ("iso", r"\b\d{4}-\d{2}-\d{2}\b"),
    ("mdy", r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"),
    ("monthday", rf"\b{_MON}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?!:)(?:,?\s+\d{{4}})?"),
    ("daymonth", rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}\b(?:,?\s+\d{{4}})?"),
]
_DATE_RE = re.compile("|".join(f"(?P<{n}>{p})" for n, p in _DATE_PATTERNS), re.IGNORECASE)
_TIME_RE = re.compile(rf"\b{_TIME}(?![\w:])", re.IGNORECASE)
# "at 3" without am/pm: read only right beside a day ("tomorrow at 3", "at 10 this morning").
_BARE_HOUR_RE = re.compile(r"\b(?:at|by|before|until|around)\s+(\d{1,2})\b(?![:.]\d)(?!\s*(?:%|percent|[ap]\.?m\b))", re.IGNORECASE)
_DEADLINE_CUE = re.compile(
    r"\b(?:by|before|until|till|no later than|not later than|due(?: on| by)?|deadline(?: is| of)?|latest|"
    r"at the latest|prior to|ahead of)\s*[:\-]?\s*(?:the\s+)?(?:on\s+)?$",
    re.IGNORECASE,
)
_BRIDGE = re.compile(r"^\s*(?:,|at|@|on|by|before|\s)*\s*$", re.IGNORECASE)
# Between "EOD" and its day ("EOD tomorrow", "COB on Monday", "end of day, Friday").
_EOD_BRIDGE = re.compile(r"^\s*(?:,\s*|on\s+|of\s+|-\s*)?$", re.IGNORECASE)
# Between a weekday and an explicit date ("Monday, March 11th", "Wednesday 3/6").
_WD_DATE_BRIDGE = re.compile(r"^\s*,?\s*(?:the\s+)?$", re.IGNORECASE)

# Never in the past whatever the sentence's tense. "within 5 days" is not among them: "they
# credited my account within 5 days" is history.
_FUTURE_ONLY = frozenset({"tomorrow", "dayafter", "nextweek"})
_PAST_ONLY = frozenset({"yesterday", "ago", "last", "earlier"})
_EXPLICIT = frozenset({"iso", "mdy", "monthday", "daymonth", "dayord"})
_DAY_KINDS = _EXPLICIT | {"weekday", "tomorrow", "today", "tonight", "dayafter", "yesterday"}
# Words that make a weekday any such day, not a date: "on a Sunday", "some Saturday afternoon"
# (but "a Friday deadline" is a deadline on Friday).
_GENERIC_DAY = re.compile(r"(?:\b(?:on|of|for|in)\s+an?|\b(?:any|some|every|each))\s+$", re.IGNORECASE)
# "like there's no tomorrow"
_NO_TOMORROW = re.compile(r"\bno\s+$", re.IGNORECASE)
# A slash "date" inside arithmetic is a fraction: "O(n^(2+1/3+eps))".
_OPERATORS = frozenset("+*^=")
# The idiom "at the end of the day, ..." (all things considered), not a time.
_IDIOM_EOD = re.compile(r"(?:^|[.!?:;\n]\s*|\bbut\s+|\band\s+)at\s+the\s+$", re.IGNORECASE)
# "until" after a negation or an absence says when something starts again, not what is due:
# "I will not return until 07/29", "I'm out of the office until Monday", "don't send it until Friday".
_NOT_OR_AWAY = r"(?:\b(?:not|never)\b|n't\b|\bout of (?:the )?office\b|\baway\b|\bon (?:leave|vacation|holiday)\b|\boff\b)"
_NOT_UNTIL = re.compile(_NOT_OR_AWAY + r"[^.!?;\n]{0,50}\b(?:until|till|til)\s+(?:the\s+)?(?:on\s+)?$", re.IGNORECASE)
# A sign-off on a line of its own: "Until tomorrow," "Till next week!"
_VALEDICTION_HEAD = re.compile(r"(?:^|\n)[ \t]*(?:until|till)\s+$", re.IGNORECASE)
_VALEDICTION_TAIL = re.compile(r"[ \t]*[,!.]?[ \t]*(?:\n|$)")
_LEADING_CUE = re.compile(r"(?:by|before|until|till|no later than)\s+", re.IGNORECASE)
# Before a time: it says when something may start, so it is never a due date ("after 2am").
_STARTS = re.compile(r"\b(?:after|from|since|starting|beginning|as of)\s+(?:the\s+)?(?:on\s+)?$", re.IGNORECASE)


@dataclass(frozen=True)
class TimeMatch:
    text: str
    start: int
    end: int
    label: str  # DATE | TIME | DATETIME
    resolved: datetime | None
    is_deadline: bool
    exact_time: bool  # a clock time was stated (or implied, as with EOD)
    past: bool = False  # the sentence puts it in the past
    starts: bool = False  # when something may start ("after 2am", "from Monday"), not when it is due


@dataclass
class _Date:
    """One date expression while matches are being merged and resolved."""

    kind: str
    start: int
    end: int
    text: str  # lower-cased source of the part that names the day
    eod: bool = False  # combined with EOD/COB: the day at 17:00
    part: str | None = None  # morning / afternoon / evening / night


def _parse_clock(s: str, part: str | None = None) -> time | None:
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
    elif ampm is None and part is not None and hour <= 12:
        if part in ("afternoon", "evening", "night") and hour < 12:
            hour += 12
        elif part == "morning" and hour == 12:
            hour = 0
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _bare_hour(hour: int, part: str | None) -> time | None:
    """"at 3" beside a day: in its part of the day, else in office hours (1-6 -> pm)."""
    if not 1 <= hour <= 12:
        return None
    if part in ("afternoon", "evening", "night"):
        return time(hour % 12 + 12, 0)
    if part == "morning":
        return time(hour % 12, 0)
    return time(hour + 12 if hour <= 6 else hour, 0)


def _next_weekday(base: date, wd: int, qualifier: str) -> date:
    ahead = (wd - base.weekday()) % 7
    if qualifier == "next":
        # "next Tuesday" = the Tuesday of the following calendar week.
        monday_next = base + timedelta(days=7 - base.weekday())
        return monday_next + timedelta(days=wd)
    if ahead == 0 and qualifier not in ("this",):
        ahead = 7  # "by Friday" said on a Friday means next Friday
    return base + timedelta(days=ahead)


def _previous_weekday(base: date, wd: int) -> date:
    """The most recent such weekday strictly before ``base`` ("last Friday" said on a Friday)."""
    back = (base.weekday() - wd) % 7 or 7
    return base - timedelta(days=back)


def _add_business_days(start: date, n: int) -> date:
    day = start
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def _count(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word]


def _quarter_end(year: int, q: int) -> date:
    month = 3 * q
    return date(year, month, calendar.monthrange(year, month)[1])


def _part_of(text: str) -> str | None:
    m = re.search(_PART + r"\b", text) or re.search(r"\btonight\b", text)
    if not m:
        return None
    return "night" if m.group(0) == "tonight" else m.group(0)


def _resolve_day(d: _Date, base: datetime, past: bool) -> tuple[date | None, time | None]:
    """(day, implied clock time) for one date expression; ``past`` picks the past reading."""
    kind, t, d0 = d.kind, d.text, base.date()
    if kind == "eod":
        return d0, EOD
    if kind == "eow":
        return d0 + timedelta(days=(4 - d0.weekday()) % 7), EOD
    if kind == "eom":
        return d0.replace(day=calendar.monthrange(d0.year, d0.month)[1]), EOD
    if kind == "eoq":
        q = (d0.month - 1) // 3 + 1
        if t.startswith("next"):
            year, q = (d0.year + 1, 1) if q == 4 else (d0.year, q + 1)
            return _quarter_end(year, q), END_OF_DAY
        return _quarter_end(d0.year, q), EOD
    if kind == "eoy":
        return date(d0.year, 12, 31), EOD
    if kind == "quarter":
        return _resolve_quarter(t, d0, past)
    if kind == "dayafter":
        return d0 + timedelta(days=2), None
    if kind == "tomorrow":
        return d0 + timedelta(days=1), DAYPART_END.get(d.part or "")
    if kind == "yesterday":
        return d0 - timedelta(days=1), DAYPART_END.get(d.part or "")
    if kind == "earlier":
        return d0, None
    if kind == "ago":
        m = re.match(rf"({_NUM})\s+(day|week)", t)
        n = _count(m.group(1)) if m else 0
        return d0 - timedelta(days=n * (7 if m and m.group(2) == "week" else 1)), None
    if kind == "last":
        words = t.split()
        name = next((w.rstrip(".") for w in words if w.rstrip(".") in WEEKDAYS), None)
        if name is None:  # "last week(end)": no single day
            return None, None
        return _previous_weekday(d0, WEEKDAYS[name]), DAYPART_END.get(d.part or "")
    if kind == "tonight":
        return d0, DAYPART_END["night"]
    if kind == "today":
        return d0, DAYPART_END.get(d.part or "")
    if kind == "weekday":
        words = t.split()
        qualifier = words[0] if words[0] in ("this", "next", "on", "coming") else ""
        name = next(w.rstrip(".,") for w in words if w.rstrip(".,") in WEEKDAYS)
        if past and qualifier not in ("next", "coming"):
            return _previous_weekday(d0, WEEKDAYS[name]), DAYPART_END.get(d.part or "")
        return _next_weekday(d0, WEEKDAYS[name], qualifier), DAYPART_END.get(d.part or "")
    if kind == "dayord":
        # "the 18th" (optionally "Wednesday the 18th"): the next (or, in the past, last) such day.
        day = int(re.search(r"(\d{1,2})(?:st|nd|rd|th)", t).group(1))  # type: ignore[union-attr]
        step = -1 if past else 1
        for months in range(0, 3):
            y, m = divmod(d0.month - 1 + step * months, 12)
            try:
                cand = date(d0.year + y, m + 1, day)
            except ValueError:
                continue
            if (cand <= d0) if past else (cand >= d0):
                return cand, None
        return None, None
    if kind == "nextweek":
        monday_next = d0 + timedelta(days=7 - d0.weekday())
        return monday_next + timedelta(days=4), EOD
    if kind in ("within", "bizdays"):
        m = re.search(rf"({_NUM})\s+(business\s+|working\s+)?(day|week|hour|hr)", t)
        if not m:
            return None, None
        n, business, unit = _count(m.group(1)), bool(m.group(2)), m.group(3)
        if unit in ("hour", "hr"):
            dt = base + timedelta(hours=n)
            return dt.date(), dt.time().replace(second=0, microsecond=0)
        if business and unit == "day":
            return _add_business_days(d0, n), None
        return d0 + timedelta(days=n * (7 if unit == "week" else 1)), None
    if kind == "iso":
        try:
            return date.fromisoformat(t), None
        except ValueError:
            return None, None
    if kind == "mdy":
        parts = [int(p) for p in t.split("/")]
        year = parts[2] if len(parts) > 2 else None
        return _calendar_date(d0, parts[0], parts[1], year, past), None
    if kind in ("monthday", "daymonth"):
        mon = re.search(_MON, t)
        if not mon:
            return None, None
        rest = t[: mon.start()] + " " + t[mon.end():]
        day = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b(?!\d)", rest)
        year = re.search(r"\b(\d{4})\b", rest)
        if not day:
            return None, None
        name = mon.group(0)
        month = MONTHS["sept" if name.startswith("sept") else name[:3]]
        return _calendar_date(d0, month, int(day.group(1)), int(year.group(1)) if year else None, past), None
    return None, None


def _resolve_quarter(t: str, d0: date, past: bool) -> tuple[date | None, time | None]:
    m = re.search(r"\b(?:q([1-4])|h([12])|(first|second|third|fourth|1st|2nd|3rd|4th)\s+(quarter|half))", t)
    if not m:
        return None, None
    if m.group(1):
        q, half = int(m.group(1)), False
    elif m.group(2):
        q, half = int(m.group(2)), True
    else:
        q, half = ORDINALS[m.group(3)], m.group(4) == "half"
    if half and q > 2:
        return None, None
    quarter = 2 * q if half else q
    y = re.search(r"'(\d{2})\b|\b(\d{4})\b", t[m.end():])
    clock = EOD if t.startswith(("end", "the end")) else END_OF_DAY
    if y:
        year = 2000 + int(y.group(1)) if y.group(1) else int(y.group(2))
        return _quarter_end(year, quarter), clock
    end = _quarter_end(d0.year, quarter)
    if past and end > d0:
        end = _quarter_end(d0.year - 1, quarter)
    elif not past and end < d0:
        end = _quarter_end(d0.year + 1, quarter)  # "by Q1" said in October: next year's
    return end, clock


def _calendar_date(base: date, month: int, day: int, year: int | None, past: bool = False) -> date | None:
    if year is not None and year < 100:
        year += 2000
    try:
        if year is not None:
            return date(year, month, day)
        candidate = date(base.year, month, day)
    except ValueError:
        return None
    if past:
        if candidate > base:
            try:
                candidate = date(base.year - 1, month, day)
            except ValueError:
                return None
        return candidate
    # A date without a year that already passed by months means next year ("Jan 5" in December).
    if candidate < base - timedelta(days=60):
        try:
            candidate = date(base.year + 1, month, day)
        except ValueError:
            return None
    return candidate


def _merge(text: str, dates: list[_Date]) -> list[_Date]:
    """Join "EOD" with its day and a weekday with the explicit date beside it."""
    out: list[_Date] = []
    for d in dates:
        prev = out[-1] if out else None
        if prev is not None:
            gap = text[prev.end:d.start]
            if prev.kind == "eod" and d.kind in _DAY_KINDS and _EOD_BRIDGE.match(gap):
                out[-1] = replace(d, start=prev.start, eod=True)
                continue
            if d.kind == "eod" and prev.kind in _DAY_KINDS and _EOD_BRIDGE.match(gap.replace(" at ", " ")):
                out[-1] = replace(prev, end=d.end, eod=True)
                continue
            if prev.kind == "weekday" and d.kind in _EXPLICIT and _WD_DATE_BRIDGE.match(gap):
                out[-1] = replace(d, start=prev.start)
                continue
        out.append(d)
    return out


def find_time_refs(text: str, base: datetime, *, is_past: PastOracle | None = None) -> list[TimeMatch]:
    """All time references in ``text``, with clock times merged into their dates.

    ``is_past(start, end)`` says whether the sentence puts that stretch of text in the past
    (see ``beacon.analysis.tense``); without it only words such as "last", "yesterday" and
    "ago" mark the past.
    """
    dates = _merge(text, [
        _Date(m.lastgroup or "", m.start(), m.end(), m.group(0).lower(), part=_part_of(m.group(0).lower()))
        for m in _DATE_RE.finditer(text) if not _lowercase_abbreviation(m) and not _not_a_day(text, m)
    ])
    times = [(m.start(), m.end(), m.group(0)) for m in _TIME_RE.finditer(text)]
    times = [t for t in times if not any(d.start <= t[0] < d.end for d in dates)]
    used_times: set[int] = set()
    out: list[TimeMatch] = []
    for d in dates:
        past = d.kind in _PAST_ONLY or (
            d.kind not in _FUTURE_ONLY and is_past is not None and is_past(d.start, d.end)
            and not d.text.startswith(("next", "coming", "this coming"))
        )
        day, clock = _resolve_day(d, base, past)
        if d.eod:
            clock = EOD
        exact = clock is not None
        s, e = d.start, d.end
        # Attach an adjacent clock time: "tomorrow at 3pm", "3pm tomorrow", "Friday, 10:00".
        for i, (ts, te, ttext) in enumerate(times):
            if i in used_times:
                continue
            gap = text[e:ts] if ts >= e else text[te:s] if te <= s else None
            if gap is not None and len(gap) <= 6 and _BRIDGE.match(gap):
                c = _parse_clock(ttext, d.part)
                if c is not None:
                    clock, exact = c, True
                    used_times.add(i)
                    s, e = min(s, ts), max(e, te)
                    break
        else:
            if d.kind in _DAY_KINDS:
                hour = _adjacent_bare_hour(text, s, e)
                if hour is not None:
                    c = _bare_hour(hour[0], d.part)
                    if c is not None:
                        clock, exact = c, True
                        s, e = min(s, hour[1]), max(e, hour[2])
        resolved = datetime.combine(day, clock or END_OF_DAY, tzinfo=base.tzinfo) if day else None
        if past and resolved is not None and resolved > base:
            resolved = None  # "earlier today", or a future date in a past sentence: no reading
        label = "DATETIME" if exact and d.kind not in ("eod",) and not d.eod else "DATE"
        always = d.text.startswith("within") and not past
        out.append(_make(text, s, e, label, resolved, exact, base, past, always_deadline=always))
    for i, (ts, te, ttext) in enumerate(times):
        if i in used_times:
            continue
        c = _parse_clock(ttext)
        if c is None:
            continue
        past = is_past is not None and is_past(ts, te)
        resolved = datetime.combine(base.date(), c, tzinfo=base.tzinfo)
        if past:
            if resolved > base:
                resolved -= timedelta(days=1)
        elif resolved < base:  # "by 3pm" sent at 5pm means tomorrow
            resolved += timedelta(days=1)
        out.append(_make(text, ts, te, "TIME", resolved, True, base, past))
    out.sort(key=lambda m: m.start)
    return out


def _lowercase_abbreviation(m: re.Match[str]) -> bool:
    """"sat", "sun", "wed" in lower case are words ("I sat down"), not weekdays."""
    if m.lastgroup != "weekday":
        return False
    word = m.group(0).split()[-1] if m.group(0).split()[-1].rstrip(".").lower() in WEEKDAYS else \
        next(w for w in m.group(0).split() if w.rstrip(".").lower() in WEEKDAYS)
    word = word.rstrip(".")
    return len(word) <= 4 and word.islower()


def _not_a_day(text: str, m: re.Match[str]) -> bool:
    """A match that names no particular day: a generic weekday ("on a Sun", "every Monday"), an
    idiom ("no tomorrow", "at the end of the day, ..."), a fraction in a formula ("1/3+eps")."""
    kind, s, e = m.lastgroup, m.start(), m.end()
    before = text[max(0, s - 12) : s]
    if kind == "weekday" and m.group(0).split()[0].lower() not in ("this", "next", "on", "coming"):
        return bool(_GENERIC_DAY.search(before))
    if kind == "tomorrow":
        return bool(_NO_TOMORROW.search(before))
    if kind == "mdy":
        return before.rstrip()[-1:] in _OPERATORS or text[e:e + 3].lstrip()[:1] in _OPERATORS
    if kind == "eod" and m.group(0).lower().startswith("end of"):
        return text[e : e + 1] == "," and bool(_IDIOM_EOD.search(text[max(0, s - 20) : s]))
    return False


def _adjacent_bare_hour(text: str, s: int, e: int) -> tuple[int, int, int] | None:
    """An "at 3" right after or right before the date: (hour, start, end)."""
    after = _BARE_HOUR_RE.match(text, e + (len(text[e:]) - len(text[e:].lstrip(" ,"))))
    if after and after.start() - e <= 2:
        return int(after.group(1)), after.start(), after.end()
    for m in _BARE_HOUR_RE.finditer(text, max(0, s - 12), s):
        if 0 <= s - m.end() <= 2 and _BRIDGE.match(text[m.end():s]):
            return int(m.group(1)), m.start(), m.end()
    return None


def _make(
    text: str, s: int, e: int, label: str, resolved: datetime | None, exact: bool, base: datetime,
    past: bool, always_deadline: bool = False,
) -> TimeMatch:
    prefix = text[max(0, s - 25) : s]
    fragment = text[s:e]
    deadline = always_deadline or bool(_DEADLINE_CUE.search(prefix)) or bool(
        re.match(r"(?:by|before|until|no later than)\b", fragment, re.IGNORECASE)
    ) or bool(re.search(r"\b(?:eod|cob|eob|end of|close of)", fragment, re.IGNORECASE))
    cue = _LEADING_CUE.match(fragment)
    upto = s + (cue.end() if cue else 0)
    if deadline and (_NOT_UNTIL.search(text[max(0, upto - 80) : upto])
                     or (_VALEDICTION_HEAD.search(text[max(0, upto - 20) : upto]) and _VALEDICTION_TAIL.match(text, e))):
        deadline = False
    starts = not cue and bool(_STARTS.search(prefix))
    # A date the sentence puts in the past, or a day already gone when the mail was sent, is history.
    if past or resolved is None or resolved.date() < base.date():
        deadline = False
    return TimeMatch(fragment, s, e, label, resolved, deadline, exact, past, starts)
