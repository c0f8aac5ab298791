"""The analysis pipeline with the real spaCy model, on hand-written and real emails."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from beacon.analysis.pipeline import Pipeline
from beacon.analysis.version import pipeline_version
from beacon.ingest.importer import import_items
from beacon.ingest.sources import RawItem
from beacon.parse import parse_message
from beacon.settings import Settings
from beacon.store.analyses import current_analysis, load_scored, save_analysis
from beacon.store.emails import load_email
from beacon.store.schema import EmailRow

ME = "alex.morgan@example.com"


def mail(
    body: str,
    *,
    subject: str = "Hello",
    sender: str = "Dana Smith <dana@example.com>",
    to: str = f"Alex Morgan <{ME}>",
    date_hdr: str = "Wed, 06 Mar 2024 09:15:00 -0500",
    extra: str = "",
    msgid: str | None = None,
    content_type: str = "text/plain; charset=utf-8",
) -> bytes:
    mid = msgid or f"<{abs(hash((body, subject, sender, date_hdr)))}@example.com>"
    head = (
        f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: {date_hdr}\nMessage-ID: {mid}\n"
        f"MIME-Version: 1.0\nContent-Type: {content_type}\n{extra}"
    )
    return (head + "\n" + body).encode()


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(own_addresses=[ME], vip_senders=["ceo@example.com"])


@pytest.fixture(scope="module")
def pipeline(settings: Settings) -> Pipeline:
    return Pipeline.load(settings)


def analyse(pipeline: Pipeline, raw: bytes):  # type: ignore[no-untyped-def]
    return pipeline.analyze([parse_message(raw).email])[0]


def test_request_by_friday_resolves_from_the_emails_own_date(pipeline: Pipeline) -> None:
    a = analyse(pipeline, mail("Hi Alex,\n\nplease send the report by Friday.\n\nThanks,\nDana"))
    assert [r.text for r in a.requests] == ["please send the report by Friday."]
    (item,) = a.action_items
    assert item.text == "please send the report by Friday."
    assert item.due is not None and item.due.date() == date(2024, 3, 8)
    assert item.due_text == "Friday"
    assert a.text[item.start : item.end] == item.text
    assert a.pipeline_version == pipeline_version(pipeline.settings)


def test_entities_deduplicated_with_counts_and_spans(pipeline: Pipeline) -> None:
    body = (
        "Hi Alex,\n\nThe contract with Microsoft was signed in London on Monday. "
        "Microsoft will pay $250,000 in two instalments. Satya Nadella's team in London "
        "sends the first invoice next week.\n\nDana"
    )
    a = analyse(pipeline, mail(body))
    by_text = {(e.text, e.label): e for e in a.entities}
    ms = by_text[("Microsoft", "ORG")]
    assert ms.count == 2 and all(a.text[s:e] == "Microsoft" for s, e in ms.spans)
    assert by_text[("London", "GPE")].count == 2
    assert ("$250,000", "MONEY") in by_text
    assert any(e.label == "PERSON" and "Satya Nadella" in e.text for e in a.entities)
    assert any(k.text.lower() in ("contract", "first invoice", "instalments") for k in a.key_phrases)


def test_questions_and_summary(pipeline: Pipeline) -> None:
    body = (
        "Hi Alex,\n\nWe reviewed the Q3 budget with the finance team yesterday. "
        "The marketing line is 20% over plan because of the trade show. "
        "Did you approve the extra booth space?\n\n"
        "Could you update the forecast spreadsheet before the board meeting on March 14?\n\nBest,\nDana"
    )
    a = analyse(pipeline, mail(body))
    assert [q.text for q in a.questions] == [
        "Did you approve the extra booth space?",
        "Could you update the forecast spreadsheet before the board meeting on March 14?",
    ]
    assert any(r.text.startswith("Could you update the forecast") for r in a.requests)
    due = [x.due for x in a.action_items if x.text.startswith("Could you update")]
    assert due and due[0] is not None and due[0].date() == date(2024, 3, 14)
    assert 1 <= len(a.summary) <= 3
    assert all(" ".join(s.split()) in " ".join(a.text.split()) for s in a.summary)
    assert not any(s.startswith(("Hi ", "Best")) for s in a.summary)


def test_sentiment_and_tone(pipeline: Pipeline) -> None:
    happy = analyse(pipeline, mail("Thank you so much for the wonderful presentation, the team loved it!"))
    assert happy.sentiment.label == "positive" and happy.sentiment.compound > 0.5
    assert "gratitude" in {t.flag for t in happy.tone}
    angry = analyse(pipeline, mail(
        "I am very disappointed. This is the third time the delivery is late and it is unacceptable. "
        "I need a fix immediately.", subject="URGENT: late delivery again"))
    assert angry.sentiment.label == "negative"
    flags = {(t.flag, t.where) for t in angry.tone}
    assert ("dissatisfaction", "body") in flags and ("urgency", "subject") in flags


def test_mail_kinds_from_headers(pipeline: Pipeline) -> None:
    newsletter = analyse(pipeline, mail(
        "This week in Python: new releases, talks and jobs. Read more on our site.",
        sender="Python Weekly <news@pyweekly.example.net>", subject="Python Weekly - Issue 640",
        extra="List-Unsubscribe: <https://pyweekly.example.net/u?x=1>\nList-Id: <weekly.pyweekly.example.net>\n"
              "Precedence: bulk\n"))
    assert newsletter.kind == "newsletter" and newsletter.category == "Updates"
    assert any(r.startswith("List-Unsubscribe header") for r in newsletter.kind_reasons)
    assert newsletter.depth == "light" and newsletter.requests == [] and newsletter.sentiment is None

    promo = analyse(pipeline, mail(
        "Our biggest sale of the year: 40% off everything. Free shipping on orders over $50. Shop now!",
        sender="Deals <deals@shop.example.com>", subject="40% off ends tonight",
        extra="List-Unsubscribe: <mailto:unsub@shop.example.com>\n"))
    assert promo.kind == "marketing" and promo.category == "Promotions"

    ci = analyse(pipeline, mail(
        "Build #512 failed on main. 3 tests failed in test_api.py. View the log for details.",
        sender="CI <noreply@ci.example.com>", subject="Build failed: northwind/main",
        extra="Auto-Submitted: auto-generated\n"))
    assert ci.kind == "notification" and ci.category == "Updates"
    assert "Auto-Submitted: auto-generated" in ci.kind_reasons

    receipt = analyse(pipeline, mail(
        "Thanks for your order. Your receipt for order #A-1932 is attached. Total: $42.10.",
        sender="Shop <no-reply@shop.example.com>", subject="Your receipt"))
    assert receipt.kind == "notification"

    personal = analyse(pipeline, mail("Are we still on for dinner on Saturday? The kids are excited.",
                                      sender="Sam <sam.r@gmail.com>"))
    assert personal.kind == "personal" and personal.category == "Personal"
    assert personal.depth == "full" and personal.language == "en" and personal.sentiment is not None


def test_text_is_capped_at_sentence_boundaries(pipeline: Pipeline) -> None:
    sentence = "The quarterly numbers look solid across every region we operate in. "
    body = "Hi Alex,\n\n" + sentence * 500  # ~34,000 characters, no paragraph breaks
    a = analyse(pipeline, mail(body))
    assert a.truncated and a.original_chars > 30_000
    assert len(a.text) <= 10_000
    assert a.text.endswith("operate in.")


def test_analysis_is_deterministic_and_json_round_trips(pipeline: Pipeline) -> None:
    raw = mail("Please review the attached draft by Tuesday and tell me if the numbers work.")
    email = parse_message(raw).email
    a1 = pipeline.analyze([email])[0]
    a2 = pipeline.analyze([email, email])[1]
    assert a1.model_dump_json() == a2.model_dump_json()
    assert type(a1).model_validate_json(a1.model_dump_json()) == a1


# --- priority, with the store's context -------------------------------------------------


def _store(db, raws: list[bytes], account: str = "me") -> list[int]:  # type: ignore[no-untyped-def]
    import_items(db, (RawItem(f"t{i}", r) for i, r in enumerate(raws)), account=account)
    with db.session() as s:
        return [r.id for r in s.query(EmailRow).order_by(EmailRow.id)]


def _analyse_stored(db, pipeline: Pipeline, settings: Settings, email_id: int):  # type: ignore[no-untyped-def]
    with db.session() as s:
        email = load_email(s.get(EmailRow, email_id))
        # Judged when it arrived (an hour after its Date): "tomorrow" is still tomorrow.
        save_analysis(s, email_id, pipeline.analyze([email])[0], settings, email.date + timedelta(hours=1))
    with db.session() as s:
        return load_scored(current_analysis(s, email_id, settings))


def test_newsletter_is_low(sqlite_db, pipeline: Pipeline, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    raw = mail(
        "<html><body><h1>Weekly digest</h1><p>Top stories this week: the new release is out, "
        "please share it with your team. <a href='https://news.example.net/r'>Read more</a></p>"
        "<img src='https://news.example.net/pixel.gif'></body></html>",
        sender="Example News <digest@news.example.net>", to="subscribers@news.example.net",
        subject="Your weekly digest", content_type="text/html; charset=utf-8",
        extra="List-Unsubscribe: <https://news.example.net/unsubscribe>\nPrecedence: bulk\n",
    )
    (eid,) = _store(sqlite_db, [raw])
    scored = _analyse_stored(sqlite_db, pipeline, settings, eid)
    assert scored.analysis.kind == "newsletter"
    assert scored.priority.level == "LOW"
    names = {f.name: f for f in scored.priority.factors}
    assert names["kind"].points < 0 and names["recipient"].points < 0


def test_direct_request_due_tomorrow_from_frequent_correspondent_is_high(
    any_db, pipeline: Pipeline, settings: Settings  # type: ignore[no-untyped-def]
) -> None:
    base = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
    history = [
        mail(f"Notes from our call number {i}.", subject=f"Call {i}",
             date_hdr=(base + timedelta(hours=i)).strftime("%a, %d %b %Y %H:%M:%S +0000"))
        for i in range(6)
    ]
    history.append(mail("Sure, I'll have a look.", sender=f"Alex Morgan <{ME}>", to="Dana Smith <dana@example.com>",
                        subject="Re: Call 1"))
    request = mail(
        "Hi Alex,\n\nCan you send me the signed contract by tomorrow 5pm? The client is waiting.\n\nDana",
        subject="Signed contract", date_hdr="Wed, 06 Mar 2024 09:15:00 -0500",
    )
    ids = _store(any_db, [*history, request])
    scored = _analyse_stored(any_db, pipeline, settings, ids[-1])
    p = scored.priority
    assert p.level == "HIGH" and p.score >= 60
    f = {x.name: x for x in p.factors}
    assert f["request"].evidence == "Can you send me the signed contract by tomorrow 5pm?"
    assert f["deadline"].evidence == "tomorrow 5pm" and f["deadline"].detail.startswith("deadline tomorrow")
    assert f["recipient"].detail == "sent directly to you"
    assert f["correspondent"].points > 0 and "(1 sent, 6 received)" in f["correspondent"].detail
    text = scored.analysis.text
    assert text[f["request"].span[0] : f["request"].span[1]] == f["request"].evidence
    assert p.score == min(100, round(sum(x.points for x in p.factors)))
    assert scored.needs_reply is True


def test_commitments_and_rhetorical_questions_are_not_requests(pipeline: Pipeline) -> None:
    body = (
        "Hi Alex,\n\nI'll discuss the pricing with Carlos on Thursday. We will send the deck to the board "
        "by Friday. Why wait?\n\nCould you book the large room for Monday morning?\n\nThanks,\nDana"
    )
    a = analyse(pipeline, mail(body))
    assert [r.text for r in a.requests] == ["Could you book the large room for Monday morning?"]
    assert [q.text for q in a.questions] == ["Could you book the large room for Monday morning?"]
    assert [x.text for x in a.action_items] == ["Could you book the large room for Monday morning?"]


def test_a_date_the_sentence_puts_in_the_past_is_never_a_due_date(pipeline: Pipeline) -> None:
    body = ("Hi Alex,\n\nThe meeting on Monday went well. Could you send me the summary you "
            "presented last Saturday? Please update the forecast by Friday.\n\nDana")
    a = analyse(pipeline, mail(body))  # sent Wednesday 2024-03-06
    by_text = {t.text: t for t in a.time_refs}
    assert by_text["on Monday"].resolved.date() == date(2024, 3, 4) and not by_text["on Monday"].is_deadline
    assert by_text["last Saturday"].resolved.date() == date(2024, 3, 2)
    dues = [x.due.date() for x in a.action_items if x.due]
    assert dues == [date(2024, 3, 8)]


def test_a_time_a_request_may_start_after_is_not_its_due_date(pipeline: Pipeline) -> None:
    a = analyse(pipeline, mail("Hi Alex,\n\nCould you call me after 2pm tomorrow?\n\nDana"))
    assert [r.text for r in a.requests] == ["Could you call me after 2pm tomorrow?"]
    assert [x.due for x in a.action_items] == [None]
    a = analyse(pipeline, mail("Hi Alex,\n\nCould you call me tomorrow at 2pm?\n\nDana"))
    assert [x.due.date() for x in a.action_items if x.due] == [date(2024, 3, 7)]


def test_a_request_naming_the_sending_day_without_a_time_has_no_due_date(pipeline: Pipeline) -> None:
    # sent 2024-03-06: the date is the minutes' own, a reference, not when the review is due
    a = analyse(pipeline, mail("Hi Alex,\n\nCould you review the minutes dated 3/6/2024?\n\nDana"))
    assert a.requests and [x.due for x in a.action_items] == [None]
    a = analyse(pipeline, mail("Hi Alex,\n\nCould you review the minutes by 3/6/2024?\n\nDana"))
    assert [x.due.date() for x in a.action_items if x.due] == [date(2024, 3, 6)]
    a = analyse(pipeline, mail("Hi Alex,\n\nCould you review the minutes on 3/8/2024?\n\nDana"))
    assert [x.due.date() for x in a.action_items if x.due] == [date(2024, 3, 8)]


def test_masthead_footer_and_quoted_dates_are_not_deadlines(pipeline: Pipeline) -> None:
    body = (
        "Wednesday, March 6, 2024 - Issue 12\n\nThe council approved the bike lanes after a long debate. "
        "Construction starts in April.\n\nhttp://news.example.com/story/123\n\n"
        "You received this e-mail because you subscribed. To unsubscribe by March 8, visit "
        "http://news.example.com/u\n"
    )
    a = analyse(pipeline, mail(body, sender="Daily Pedal <news@pedal.example.com>", subject="Daily Pedal"))
    assert a.action_items == [] and a.requests == []
    assert not any(t.is_deadline for t in a.time_refs)
    assert a.summary and a.summary[0].startswith("The council approved")
    assert not any("http" in s or "unsubscribe" in s.lower() for s in a.summary)


def test_bugzilla_mail_is_summarised_by_what_happened(pipeline: Pipeline) -> None:
    body = (
        "http://bugzilla.example.org/show_bug.cgi?id=704\n\njm@example.org changed:\n\n"
        "           What    |Removed                     |Added\n"
        "----------------------------------------------------------------------------\n"
        "             Status|ASSIGNED                    |RESOLVED\n"
        "         Resolution|                            |FIXED\n\n\n\n"
        "------- Additional Comments From jm@example.org  2002-09-05 10:00 -------\n"
        "ok, this is now fixed in CVS, the pid file is removed on shutdown.\n\n\n\n"
        "------- You are receiving this mail because: -------\nYou are the assignee for the bug.\n"
    )
    a = analyse(pipeline, mail(body, sender="bugzilla-daemon@example.org",
                               subject="[Bug 704] spamd doesn't remove pid file on shutdown"))
    assert a.summary[0] == "Bug 704 RESOLVED FIXED: spamd doesn't remove pid file on shutdown"
    assert not any("receiving this mail" in s for s in a.summary)


def test_outage_complaint_is_negative(pipeline: Pipeline) -> None:
    a = analyse(pipeline, mail("Our site has been down for 6 hours, nothing works, customers are calling. "
                               "Please help ASAP, thanks."))
    assert a.sentiment.label == "negative"


def test_real_mail_summaries_hold_no_links_or_footers(pipeline: Pipeline) -> None:
    # The allowed split only (easy-ham-2, spam-1): mailing-list footers, sponsor banners, ads.
    from testkit.corpora import spamassassin_dir

    root = spamassassin_dir()
    files = sorted((root / "easy-ham-2").glob("*.txt"))[:30] + sorted((root / "spam-1").glob("*.txt"))[:30]
    emails = [parse_message(p.read_bytes()).email for p in files]
    bad = []
    with pipeline.nlp.memory_zone():
        for path, a in zip(files, pipeline.analyze(emails), strict=True):
            text = " ".join(a.summary)
            if any(w in text.lower() for w in ("http://", "https://", "www.", "unsubscribe", "mailing list",
                                                "listinfo", "sponsored by")):
                bad.append((path.name, text[:120]))
    assert bad == []


def test_song_lyrics_ask_nothing(pipeline: Pipeline) -> None:
    body = ("Hi Alex,\n\nHere are the words for Saturday, everyone sings the chorus:\n\n"
            "Can you feel the love tonight\nIt is where we are\nIt's enough for this wide-eyed wanderer\n"
            "That we got this far\n\nSee you there.\nDana")
    a = analyse(pipeline, mail(body))
    assert not any("feel the love" in r.text for r in a.requests)
    assert not any("feel the love" in q.text for q in a.questions)
