"""Deadlines and needs-reply judged against the clock (``now`` passed in), and a reply by the
reader answering a mail; no spaCy: analyses are built by hand, the scorer is the real one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from beacon.analysis import priority as prio
from beacon.analysis.models import ActionItem, Factor
from beacon.triage.due import DueStatus, due_at
from tests.test_priority import SENT, SETTINGS, analysis, email, factors


def deadline(p: prio.Priority) -> Factor:
    return next(f for f in p.factors if f.name == "deadline")


@pytest.mark.parametrize(("days_later", "points", "words"), [
    (0, 16, "deadline tomorrow"),  # judged on the day it was sent
    (1, 20, "deadline today"),
    (2, 12, "deadline overdue by 1 day ("),
    (5, 12, "deadline overdue by 4 days ("),
    (8, 12, "deadline overdue by 7 days ("),
    (9, 0, "deadline overdue by 8 days, lapsed"),
])
def test_a_deadline_is_judged_against_now(days_later: int, points: float, words: str) -> None:
    now = SENT + timedelta(days=days_later, hours=2)
    p = prio.score(email(), analysis(), prio.PriorityContext(), SETTINGS, now)
    d = deadline(p)
    assert d.points == points and d.detail.startswith(words), d.detail


def test_the_issue_case_due_12_nov_on_2_december_is_overdue_and_no_longer_high() -> None:
    sent = datetime(2026, 11, 11, 9, 0, tzinfo=timezone.utc)
    due = datetime(2026, 11, 12, 17, 0, tzinfo=timezone.utc)
    a = analysis(due_days=None)
    a.action_items = [ActionItem(text="Send the signed contract", start=0, end=10, due=due, due_text="12 Nov")]
    mail = email().model_copy(update={"date": sent})
    then = prio.score(mail, a, prio.PriorityContext(), SETTINGS, sent)
    today = prio.score(mail, a, prio.PriorityContext(), SETTINGS, datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc))
    assert then.level == "HIGH" and today.level != "HIGH" and today.score < then.score
    assert "overdue by 20 days" in deadline(today).detail
    chip = due_at(a, sent, datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc))
    assert chip is not None and chip.status is DueStatus.OVERDUE and chip.label == "overdue 20 days (12 Nov)"


def test_the_nearest_deadline_not_yet_past_counts_before_an_overdue_one() -> None:
    a = analysis(due_days=None)
    a.action_items = [ActionItem(text="a", start=0, end=1, due=SENT + timedelta(days=1)),
                      ActionItem(text="b", start=0, end=1, due=SENT + timedelta(days=6))]
    now = SENT + timedelta(days=3)
    assert prio.nearest_deadline(a, SENT, now)[0] == SENT + timedelta(days=6)  # type: ignore[index]
    assert deadline(prio.score(email(), a, prio.PriorityContext(), SETTINGS, now)).detail.startswith(
        "deadline within 3 days")
    chip = due_at(a, SENT, now)
    assert chip is not None and chip.status is DueStatus.SOON and chip.days == 3


def test_calendar_days_are_the_deadlines_own_timezone() -> None:
    tz = timezone(timedelta(hours=-5))
    a = analysis(due_days=None)
    a.action_items = [ActionItem(text="a", start=0, end=1, due=datetime(2024, 3, 7, 17, 0, tzinfo=tz))]
    # 03:00 UTC on the 8th is still the 7th in UTC-5: due today, not overdue.
    chip = due_at(a, SENT, datetime(2024, 3, 8, 3, 0, tzinfo=timezone.utc))
    assert chip is not None and chip.status is DueStatus.TODAY


def test_next_change_is_the_next_midnight_while_near_and_a_week_before_when_far() -> None:
    now = SENT  # 09:00 UTC on 6 March; due the 7th
    assert prio.next_change(analysis(), SENT, now, SETTINGS) == datetime(2024, 3, 7, tzinfo=timezone.utc)
    far = analysis(due_days=30)
    assert prio.next_change(far, SENT, now, SETTINGS) == SENT + timedelta(days=22)
    lapsed_at = SENT + timedelta(days=20)
    assert prio.next_change(analysis(), SENT, lapsed_at, SETTINGS) is None
    assert prio.next_change(analysis(due_days=None), SENT, now, SETTINGS) is None


def test_a_reply_by_the_reader_clears_request_points_and_needs_reply() -> None:
    asked = prio.score(email(), analysis(), prio.PriorityContext(), SETTINGS, SENT)
    ctx = prio.PriorityContext(replied=True, reader_in_thread=True)
    answered = prio.score(email(), analysis(), ctx, SETTINGS, SENT)
    f = factors(answered)
    assert "request" not in f and "question" not in f and "thread" not in f
    assert f["replied"] == 0 and answered.score < asked.score
    assert prio.needs_reply(email(), analysis(), SETTINGS, prio.PriorityContext()) is True
    assert prio.needs_reply(email(), analysis(), SETTINGS, ctx) is False


def test_a_reply_in_a_thread_the_reader_took_part_in_still_earns_the_thread_points() -> None:
    p = prio.score(email(), analysis(), prio.PriorityContext(reader_in_thread=True), SETTINGS, SENT)
    assert factors(p)["thread"] == 8 and factors(p)["request"] == 18


def test_mail_back_from_a_snooze_is_lifted_for_a_day() -> None:
    woke = SENT + timedelta(days=2)
    ctx = prio.PriorityContext(woke_at=woke)
    a = analysis(due_days=None)
    assert factors(prio.score(email(), a, ctx, SETTINGS, woke + timedelta(hours=3)))["snooze"] == 30
    assert "snooze" not in factors(prio.score(email(), a, ctx, SETTINGS, woke + timedelta(days=1, hours=1)))
