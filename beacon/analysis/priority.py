"""Priority 0–100 with HIGH / MEDIUM / LOW, built from explicit, explained factors.

Scoring runs in the main process after the NLP analysis, because some factors come from the
store (how often the reader corresponds with the sender, whether the reader took part in the
thread). It is cheap, so changing a weight or a VIP list re-scores everything in seconds
without re-running spaCy. Every factor carries its points and the evidence behind them.

Deadline points measure how near the due date is *now* (``now``, passed in: the caller's clock),
in calendar days of the deadline's timezone: "due today", "overdue by 3 days", and a deadline
long past stops counting. The stored score is therefore recomputed as days pass
(``beacon.triage.rescore``); :func:`next_change` says when it next needs to be. A reply by the
reader answers the mail: its requests stop counting and it needs no reply.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TypeVar

from beacon.analysis.kind_signals import forged_date, is_list_post
from beacon.analysis.models import Analysis, Factor, Level, Priority
from beacon.models import Email
from beacon.settings import Settings

_T = TypeVar("_T")

DEFAULT_WEIGHTS: dict[str, float] = {
    "base": 20,
    "request": 18,  # first request to the reader
    "request_extra": 3,  # each further request, up to request_max in all
    "request_max": 24,
    "question": 5,
    "deadline_today": 20,
    "deadline_tomorrow": 16,
    "deadline_3d": 12,
    "deadline_7d": 8,
    "deadline_later": 4,
    "deadline_overdue": 12,  # past due by at most deadline_overdue_days calendar days
    "deadline_overdue_days": 7,  # later than this an overdue deadline lapses: it earns nothing
    "direct": 8,  # reader in To
    "cc": 2,  # reader only in Cc
    "not_addressed": -5,  # reader in neither (list, Bcc)
    "vip": 20,
    "frequent_max": 10,  # the reader has written to the sender, on a log scale
    "thread_participation": 8,
    "urgency": 8,
    "dissatisfaction": 5,
    "from_you": -40,  # the reader's own message, kept for the thread
    # Machine mail sinks below every person's mail, in this order; spam to the bottom.
    "kind_notification": -8,
    "kind_newsletter": -12,
    "kind_marketing": -15,
    "kind_spam": -60,
    # Personal-looking mail from a stranger that the kind model finds spam-like loses up to this.
    "spam_like_max": -25,
    # A notification's due date (a bill, a renewal) counts, at this share of a person's deadline;
    # a newsletter's or an advert's ("the sale ends Sunday") does not.
    "notification_deadline_factor": 0.75,
    "security_alert": 15,  # a notification about the reader's account security
    "snooze_woke": 30,  # back from a snooze: on top again for SNOOZE_LIFT
}
# How long mail back from a snooze keeps its lift.
SNOOZE_LIFT = timedelta(days=1)
# P(spam) from the kind text model above which a stranger's "personal" mail is spam-like.
SPAM_LIKE = 0.25
# In another language the English model only counts against a reply flag, and only past even odds.
SPAM_LIKE_FOREIGN = 0.5
# Only these words make urgency; "today" or "now" alone do not.
_REAL_URGENCY = re.compile(
    r"urgent|asap|a\.s\.a\.p|as soon as possible|immediately|right away|time[- ]sensitive|critical|"
    r"high priority|top priority|emergency|without delay",
    re.IGNORECASE,
)
_SECURITY = re.compile(
    r"security alert|unusual (?:sign[- ]in|activity|login)|new (?:sign[- ]in|login|device)|"
    r"password (?:was )?(?:changed|reset)|(?:two|2)[- ]factor|suspicious|compromised|locked|"
    r"verify (?:it'?s you|your identity)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PriorityContext:
    """Facts about the email that only the store knows."""

    messages_from_sender: int = 0  # other stored mails from this sender
    messages_to_sender: int = 0  # mails the reader sent to this sender
    reader_in_thread: bool = False  # the reader wrote in this thread before this message
    # The reader answered it: wrote in the thread after it, or it is marked replied or \\Answered.
    replied: bool = False
    woke_at: datetime | None = None  # a snooze on it ended then (it comes back on top for a while)
    extra: dict[str, str] = field(default_factory=dict)


def weights_for(settings: Settings) -> dict[str, float]:
    return {**DEFAULT_WEIGHTS, **settings.priority_weights}


def level_for(score: int, settings: Settings) -> Level:
    if score >= settings.priority_high:
        return "HIGH"
    if score >= settings.priority_medium:
        return "MEDIUM"
    return "LOW"


def score(email: Email, analysis: Analysis, ctx: PriorityContext, settings: Settings,
          now: datetime | None = None) -> Priority:
    """The priority judged at ``now`` (None: at the mail's own Date, for text with no clock)."""
    w = weights_for(settings)
    ref = now or email.date
    own = {a.lower() for a in settings.own_addresses}
    factors: list[Factor] = []

    def add(name: str, points: float, detail: str, evidence: str | None = None,
            span: tuple[int, int] | None = None) -> None:
        if points:
            factors.append(Factor(name=name, points=round(points, 1), detail=detail, evidence=evidence, span=span))

    kind = analysis.kind
    personal, spam = kind == "personal", kind == "spam"
    sender = email.from_address.address.lower()
    from_you = bool(sender) and sender in own
    if from_you:
        # Requests and deadlines in your own mail are yours to others, not to you.
        add("from_you", w["from_you"], "you sent this message", sender)
    elif ctx.replied:
        # Answered: what it asked is dealt with; its deadline (below) may still be yours.
        if personal and (analysis.requests or analysis.questions):
            factors.append(Factor(name="replied", points=0, detail="you replied: its requests no longer count"))
    elif personal and analysis.requests:
        r0 = analysis.requests[0]
        pts = min(w["request"] + w["request_extra"] * (len(analysis.requests) - 1), w["request_max"])
        n = len(analysis.requests)
        add("request", pts, f"{n} request{'s' if n > 1 else ''} to you", r0.text, (r0.start, r0.end))
    elif personal and analysis.questions:
        q = analysis.questions[0]
        add("question", w["question"], "asks you a question", q.text, (q.start, q.end))

    # People set deadlines; of machines only notifications (a bill, a renewal) do.
    factor = 1.0 if personal else w["notification_deadline_factor"] if kind == "notification" else 0.0
    due = None if from_you or not factor else nearest_deadline(analysis, email.date, ref)
    if due is not None:
        when, ref_text, span = due
        who = "" if personal else " (in a notification)"
        pts, label = _deadline_points(w, days_left(when, ref))
        detail = f"deadline {label} ({when:%a %d %b %H:%M}){who}"
        if pts:
            add("deadline", pts * factor, detail, ref_text, span)
        else:  # lapsed: said, worth nothing
            factors.append(Factor(name="deadline", points=0, detail=detail, evidence=ref_text, span=span))
    if kind == "notification" and not from_you:
        m = _SECURITY.search(email.subject or "") or _SECURITY.search(analysis.text[:500])
        if m:
            add("security", w["security_alert"], "security alert about your account", m.group(0))

    if own and not from_you and not spam:
        to = {a.address.lower() for a in email.to}
        cc = {a.address.lower() for a in email.cc}
        if to & own:
            add("recipient", w["direct"], "sent directly to you", ", ".join(sorted(to & own)))
        elif cc & own:
            add("recipient", w["cc"], "you are in Cc", ", ".join(sorted(cc & own)))
        else:
            add("recipient", w["not_addressed"], "not addressed to you directly (list or Bcc)")

    vips = {v.lower() for v in settings.vip_senders}
    sender_domain = sender.rpartition("@")[2]
    if sender and not spam and (sender in vips or f"@{sender_domain}" in vips):
        add("vip", w["vip"], "VIP sender", str(email.from_address))

    # A correspondent is someone the reader has written to, not just someone who writes.
    if ctx.messages_to_sender > 0 and not from_you and not spam:
        corr = 2 * ctx.messages_to_sender + ctx.messages_from_sender
        pts = min(w["frequent_max"], w["frequent_max"] * math.log2(1 + corr) / math.log2(1 + 20))
        add(
            "correspondent", pts,
            f"you have written to this sender ({ctx.messages_to_sender} sent, {ctx.messages_from_sender} received)",
            sender,
        )
    if ctx.reader_in_thread and not ctx.replied and not from_you and not spam:
        add("thread", w["thread_participation"], "reply in a thread you took part in", email.subject)

    urgent = [] if from_you or not personal else [
        t for t in analysis.tone if t.flag == "urgency" and _REAL_URGENCY.search(t.text)
    ]
    if urgent:
        u = urgent[0]
        add("urgency", w["urgency"], "urgent wording" + (" in the subject" if u.where == "subject" else ""),
            u.text, (u.start, u.end) if u.where == "body" else None)
    unhappy = [] if from_you or not personal else [t for t in analysis.tone if t.flag == "dissatisfaction"]
    if unhappy:
        d = unhappy[0]
        add("dissatisfaction", w["dissatisfaction"], "the sender sounds dissatisfied", d.text,
            (d.start, d.end) if d.where == "body" else None)

    p_spam = analysis.kind_scores.get("spam", 0.0)
    # The text model reads English: in another language its spam guess is not evidence.
    if personal and not from_you and analysis.depth != "text" and _spam_like(analysis, ctx):
        add("spam_like", w["spam_like_max"] * p_spam,
            f"a stranger's mail with spam-like wording (text model: spam {100 * p_spam:.0f} %)")

    if ctx.woke_at is not None and ref < ctx.woke_at + SNOOZE_LIFT:
        add("snooze", w["snooze_woke"], f"back from your snooze ({ctx.woke_at:%a %d %b %H:%M})")

    penalty = w.get(f"kind_{kind}", 0)
    if penalty:
        add("kind", penalty, f"{kind} mail", "; ".join(analysis.kind_reasons[:2]))

    total = w["base"] + sum(f.points for f in factors)
    value = int(round(max(0, min(100, total))))
    if spam and value >= settings.priority_medium:
        capped = max(0, settings.priority_medium - 1)
        factors.append(Factor(name="spam_cap", points=capped - value, detail="spam is never above LOW"))
        value = capped
    for note in analysis.notes:
        if analysis.depth == "text":  # another language: said, and worth nothing either way
            factors.append(Factor(name="language", points=0, detail=note))
    factors.insert(0, Factor(name="base", points=w["base"], detail="starting score"))
    return Priority(score=value, level=level_for(value, settings), factors=factors)


def days_left(when: datetime, now: datetime) -> int:
    """Calendar days from ``now`` to ``when`` in the deadline's timezone: "tomorrow 5pm" is
    tomorrow whatever the hour; negative when past."""
    return (when.date() - now.astimezone(when.tzinfo).date()).days


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _deadline_points(w: dict[str, float], days: int) -> tuple[float, str]:
    if days < 0:
        late = _plural(-days, "day")
        if -days > w["deadline_overdue_days"]:
            return 0.0, f"overdue by {late}, lapsed"
        return w["deadline_overdue"], f"overdue by {late}"
    if days == 0:
        return w["deadline_today"], "today"
    if days == 1:
        return w["deadline_tomorrow"], "tomorrow"
    if days <= 3:
        return w["deadline_3d"], "within 3 days"
    if days <= 7:
        return w["deadline_7d"], "within a week"
    return w["deadline_later"], "in more than a week"


def _deadlines(analysis: Analysis, sent: datetime) -> list[tuple[datetime, str, tuple[int, int]]]:
    """Due dates of action items, not before the mail was sent (a deadline nobody asked you to
    meet, "the sale ends Sunday", is not yours; one before the Date is a misreading)."""
    cands = [
        (a.due, a.due_text or a.text, _span_of(analysis, a.due_text, a.start, a.end))
        for a in analysis.action_items if a.due
    ]
    return [c for c in cands if c[0] is not None and c[0] >= sent]  # type: ignore[misc]


def nearest_deadline(analysis: Analysis, sent: datetime,
                      now: datetime | None = None) -> tuple[datetime, str, tuple[int, int]] | None:
    """The nearest deadline not yet past at ``now`` (today counts), else the latest overdue one."""
    cands = _deadlines(analysis, sent)
    return _nearest(cands, lambda c: c[0], now or sent) if cands else None


def nearest_due(dues: Iterable[datetime | None], sent: datetime, now: datetime) -> datetime | None:
    """``nearest_deadline`` of bare due dates (an action item's ``due``, in its order): what a
    list shows of a deadline without the analysis's text."""
    cands = [d for d in dues if d is not None and d >= sent]
    return _nearest(cands, lambda d: d, now) if cands else None


def _nearest(cands: list[_T], when: Callable[[_T], datetime], now: datetime) -> _T:
    # The first of equal instants in the items' order either way (their offsets may differ).
    ahead = [c for c in cands if days_left(when(c), now) >= 0]
    return min(ahead, key=when) if ahead else max(cands, key=when)


def next_change(analysis: Analysis, sent: datetime, now: datetime, settings: Settings) -> datetime | None:
    """When time alone next changes the deadline points of this analysis (None: never again).

    While a deadline is within a week either side of today, the points move at midnight in the
    deadline's timezone; one further ahead matters only when it comes within a week.
    """
    w = weights_for(settings)
    soonest: datetime | None = None
    for when, _text, _span in _deadlines(analysis, sent):
        days = days_left(when, now)
        if days > 8:
            at = when - timedelta(days=8)
        elif days >= -w["deadline_overdue_days"]:
            local = now.astimezone(when.tzinfo)
            at = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=when.tzinfo)
        else:
            continue
        soonest = at if soonest is None or at < soonest else soonest
    return soonest


def _span_of(analysis: Analysis, needle: str | None, start: int, end: int) -> tuple[int, int]:
    if needle:
        i = analysis.text.find(needle, start, end)
        if i >= 0:
            return (i, i + len(needle))
    return (start, end)


def _spam_like(analysis: Analysis, ctx: PriorityContext | None, threshold: float = SPAM_LIKE) -> bool:
    written_to = ctx is not None and ctx.messages_to_sender > 0
    return not written_to and analysis.kind_scores.get("spam", 0.0) >= threshold


def needs_reply(email: Email, analysis: Analysis, settings: Settings, ctx: PriorityContext | None = None) -> bool:
    """Personal mail from someone else that asks something; never machine mail, spam, a
    stranger's spam-like mail, or a stranger's direct mail with a forged-looking Date."""
    own = {a.lower() for a in settings.own_addresses}
    if email.from_address.address.lower() in own or (ctx is not None and ctx.replied):
        return False
    threshold = SPAM_LIKE_FOREIGN if analysis.depth == "text" else SPAM_LIKE
    if analysis.kind != "personal" or _spam_like(analysis, ctx, threshold):
        return False
    stranger = ctx is None or ctx.messages_to_sender == 0
    if stranger and not is_list_post(email) and forged_date(email):
        return False
    return bool(analysis.requests or analysis.questions)
