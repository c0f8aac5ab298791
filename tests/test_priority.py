"""Priority follows the kind (no spaCy: analyses are built by hand, the scorer is the real one)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from beacon.analysis import priority as prio
from beacon.analysis.kind_signals import forged_date
from beacon.analysis.models import ActionItem, Analysis, Request, TextSpan, ToneFlag
from beacon.models import Address, Email
from beacon.parse.message import parse_message
from beacon.settings import Settings

ME = "alex@example.com"
SENT = datetime(2024, 3, 6, 9, 0, tzinfo=timezone.utc)
SETTINGS = Settings(own_addresses=[ME], vip_senders=["boss@example.com"])


def email(sender: str = "dana@example.com", subject: str = "Hello") -> Email:
    return Email(message_id="m@x", thread_id="m@x", **{"from": [Address(address=sender)]}, to=[Address(address=ME)],
                 subject=subject, date=SENT, content_hash="0")


def analysis(kind: str = "personal", text: str = "Please send the report by tomorrow.", *, request: bool = True,
             due_days: int | None = 1, tone: list[ToneFlag] | None = None, p_spam: float = 0.05,
             depth: str = "full", notes: list[str] | None = None) -> Analysis:
    span = {"text": text, "start": 0, "end": len(text)}
    due = SENT + timedelta(days=due_days) if due_days is not None else None
    return Analysis(
        pipeline_version="t", model="t", text=text, text_source="new_text", kind=kind, category="Work",
        requests=[Request(**span, score=0.9)] if request else [],
        questions=[TextSpan(**span)] if request else [],
        action_items=[ActionItem(**span, due=due, due_text="tomorrow")] if due else [],
        tone=tone or [], kind_reasons=["test"], kind_scores={"personal": 1 - p_spam, "bulk": 0.0, "spam": p_spam},
        depth=depth, notes=notes or [],
    )


def factors(p: prio.Priority) -> dict[str, float]:
    return {f.name: f.points for f in p.factors}


def test_personal_mail_earns_request_deadline_and_urgency_in_full() -> None:
    urgent = [ToneFlag(flag="urgency", text="ASAP", start=0, end=4)]
    p = prio.score(email(), analysis(tone=urgent), prio.PriorityContext(), SETTINGS)
    f = factors(p)
    assert f["request"] == 18 and f["deadline"] == 16 and f["urgency"] == 8 and f["recipient"] == 8
    assert p.level == "HIGH"


@pytest.mark.parametrize("word", ["today", "now", "Today", "NOW"])
def test_a_lone_today_or_now_is_not_urgency(word: str) -> None:
    flags = [ToneFlag(flag="urgency", text=word, start=0, end=len(word))]
    assert "urgency" not in factors(prio.score(email(), analysis(tone=flags), prio.PriorityContext(), SETTINGS))


@pytest.mark.parametrize("kind", ["notification", "newsletter", "marketing", "spam"])
def test_machine_mail_earns_no_request_question_or_urgency_points(kind: str) -> None:
    urgent = [ToneFlag(flag="urgency", text="urgent", start=0, end=6, where="subject")]
    p = prio.score(email(), analysis(kind, tone=urgent, due_days=None), prio.PriorityContext(), SETTINGS)
    f = factors(p)
    assert not {"request", "question", "urgency", "dissatisfaction"} & set(f)
    assert f["kind"] < 0 and p.level == "LOW"
    assert not prio.needs_reply(email(), analysis(kind), SETTINGS)


def test_kinds_sink_in_order_below_personal_mail() -> None:
    scores = {k: prio.score(email(), analysis(k, request=False, due_days=None), prio.PriorityContext(), SETTINGS).score
              for k in ("personal", "notification", "newsletter", "marketing", "spam")}
    assert scores["personal"] > scores["notification"] > scores["newsletter"] > scores["marketing"] > scores["spam"] == 0


def test_a_bill_due_soon_lifts_a_notification_but_a_sale_ending_does_not_lift_marketing() -> None:
    bill = prio.score(email(), analysis("notification", "Payment is due by tomorrow.", request=False),
                      prio.PriorityContext(), SETTINGS)
    assert factors(bill)["deadline"] == pytest.approx(0.75 * 16)
    assert "(in a notification)" in next(f.detail for f in bill.factors if f.name == "deadline")
    sale = prio.score(email(), analysis("marketing", "The sale ends tomorrow.", request=False),
                      prio.PriorityContext(), SETTINGS)
    assert "deadline" not in factors(sale)


def test_security_alerts_vip_and_threads_lift_machine_mail() -> None:
    alert = prio.score(email("no-reply@bank.example.com", "Security alert: new sign-in from Linux"),
                       analysis("notification", request=False, due_days=None), prio.PriorityContext(), SETTINGS)
    assert factors(alert)["security"] == 15
    vip = prio.score(email("boss@example.com"), analysis("newsletter", request=False, due_days=None),
                     prio.PriorityContext(reader_in_thread=True), SETTINGS)
    assert factors(vip)["vip"] == 20 and factors(vip)["thread"] == 8


def test_spam_is_never_above_low_and_gets_no_lift() -> None:
    p = prio.score(email("boss@example.com"), analysis("spam"), prio.PriorityContext(messages_to_sender=5,
                   reader_in_thread=True), SETTINGS)
    assert p.level == "LOW" and not {"vip", "thread", "correspondent", "recipient"} & set(factors(p))
    lenient = Settings(own_addresses=[ME], priority_weights={"kind_spam": 0}, priority_medium=10)
    capped = prio.score(email(), analysis("spam"), prio.PriorityContext(), lenient)
    assert capped.level == "LOW" and capped.score == 9 and "spam_cap" in factors(capped)


def test_a_correspondent_is_someone_the_reader_wrote_to() -> None:
    received_only = prio.score(email(), analysis(), prio.PriorityContext(messages_from_sender=52), SETTINGS)
    assert "correspondent" not in factors(received_only)
    written = prio.score(email(), analysis(), prio.PriorityContext(messages_from_sender=52, messages_to_sender=3),
                         SETTINGS)
    detail = next(f.detail for f in written.factors if f.name == "correspondent")
    assert detail == "you have written to this sender (3 sent, 52 received)"


def test_a_strangers_spam_like_personal_mail_loses_points_and_needs_no_reply() -> None:
    a = analysis(p_spam=0.4)
    p = prio.score(email(), a, prio.PriorityContext(), SETTINGS)
    assert factors(p)["spam_like"] == pytest.approx(-10)
    assert not prio.needs_reply(email(), a, SETTINGS)
    # Someone the reader has written to is not judged by wording.
    known = prio.PriorityContext(messages_to_sender=1)
    assert "spam_like" not in factors(prio.score(email(), a, known, SETTINGS))
    assert prio.needs_reply(email(), a, SETTINGS, known)


def test_another_language_is_said_and_neither_penalised_nor_boosted() -> None:
    note = "language: fr, not analysed for requests, entities, deadlines or sentiment"
    a = analysis(request=False, due_days=None, p_spam=0.6, depth="text", notes=[note])
    p = prio.score(email(), a, prio.PriorityContext(), SETTINGS)
    assert factors(p) == {"base": 20, "recipient": 8, "language": 0}
    assert next(f.detail for f in p.factors if f.name == "language") == note


def _raw(date: str, *, list_id: bool = False, received: str = "Fri, 20 Sep 2002 14:16:18 +0100") -> Email:
    lines = [f"Received: from relay.example.net by mx.example.com; {received}",
             "From: Peter <peter@example.org>", f"To: {ME}", "Subject: kennst mich noch?", f"Date: {date}",
             "Message-ID: <1@example.org>"]
    if list_id:
        lines.append("List-Id: Irish Linux Users <ilug.linux.ie>")
    return parse_message(("\r\n".join(lines) + "\r\n\r\nCan you have a look at my new page?\r\n").encode()).email


@pytest.mark.parametrize("date, why", [
    ("Wed, 20 Feb 2002 15:15:14 +0100", "its Date header is 211 days before its delivery"),
    ("Fri, 20 Sep 2002 09:00:00", "its Date header has no time zone"),
    ("Mon, 20 Oct 2003 09:00:00 +0000", "its Date header is later than its delivery"),
])
def test_a_strangers_direct_mail_with_a_forged_date_needs_no_reply(date: str, why: str) -> None:
    forged = _raw(date)
    assert forged_date(forged) == why
    assert not prio.needs_reply(forged, analysis(), SETTINGS)
    # Someone the reader wrote to, or a list post held for days, is judged as before.
    assert prio.needs_reply(forged, analysis(), SETTINGS, prio.PriorityContext(messages_to_sender=1))
    assert prio.needs_reply(_raw(date, list_id=True), analysis(), SETTINGS)


def test_a_date_stamped_hours_before_delivery_is_not_forged() -> None:
    honest = _raw("Fri, 20 Sep 2002 06:10:00 -0400")
    assert forged_date(honest) is None
    assert prio.needs_reply(honest, analysis(), SETTINGS)
