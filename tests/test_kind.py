"""Mail kind with the real models: real corpus mail (training split only) and varied own fixtures.

The corpus files come from ``easy-ham-2/``, ``spam-1/`` and even-numbered ``hard-ham-1/``: the
judging folders are never read here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from beacon.analysis.context import MailContext
from beacon.analysis.kind import classify_kind
from beacon.analysis.kind_model import KindModel
from beacon.analysis.pipeline import Pipeline
from beacon.analysis.train_kind import in_training_split, strip_verdict_headers
from beacon.models import Email
from beacon.parse import parse_message
from beacon.settings import Settings
from testkit.corpora import spamassassin_dir


@pytest.fixture(scope="module")
def model() -> KindModel:
    return KindModel.load()


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.load(Settings())


def corpus(name: str) -> Email:
    (path,) = spamassassin_dir().glob(f"{name}.*.txt")
    assert in_training_split(path), name
    return parse_message(path.read_bytes()).email


def mail(body: str, *, subject: str = "Hello", sender: str = "Dana Smith <dana@example.com>",
         to: str = "Alex Morgan <alex@example.com>", extra: str = "",
         content_type: str = "text/plain; charset=utf-8") -> Email:
    raw = (f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: Wed, 06 Mar 2024 09:15:00 -0500\n"
           f"Message-ID: <{abs(hash((body, subject, sender)))}@example.com>\nMIME-Version: 1.0\n"
           f"Content-Type: {content_type}\n{extra}\n{body}")
    return parse_message(raw.encode()).email


def kind_of(email: Email, model: KindModel, ctx: MailContext | None = None) -> tuple[str, list[str]]:
    v = classify_kind(email, email.text, ctx or MailContext(), model)
    return v.kind, v.reasons


# --- real corpus mail -------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "kind"), [
    ("easy-ham-2/00001", "personal"),  # a reply on a discussion list
    ("easy-ham-2/00643", "personal"),  # a reply sent to a person directly
    ("easy-ham-2/01303", "notification"),  # cron output
    ("easy-ham-2/01304", "notification"),  # a bounce
    ("easy-ham-2/01297", "notification"),  # a CVS commit message
    ("easy-ham-2/01277", "notification"),  # a vendor's errata alert
    ("hard-ham-1/00016", "newsletter"),  # Lockergnome, through ListManager
    ("hard-ham-1/00014", "newsletter"),  # The Register's headlines, no list headers
    ("hard-ham-1/00012", "marketing"),  # CNET Shopper: "Save an extra $50"
    ("easy-ham-2/01388", "marketing"),  # Hertz weekend deals
    ("spam-1/00001", "spam"),
    ("spam-1/00010", "spam"),
])
def test_each_kind_on_real_corpus_mail(name: str, kind: str, model: KindModel) -> None:
    got, reasons = kind_of(corpus(name), model)
    assert got == kind, reasons
    assert reasons


def test_training_strips_server_verdicts_and_keeps_the_rest() -> None:
    raw = (b"X-Spam-Status: Yes, score=9.1 required=5.0\nX-Spam-Flag: YES\nX-Spam: high\n  RULE_A, RULE_B\n"
           b"X-Rspamd-Score: 12\nSubject: hi\nFrom: a@b.c\n\nX-Spam-Flag: body text stays\n")
    stripped = strip_verdict_headers(raw)
    assert stripped == b"Subject: hi\nFrom: a@b.c\n\nX-Spam-Flag: body text stays\n"


def test_only_the_training_split_is_used_for_training(tmp_path: Path) -> None:
    for name, allowed in [("easy-ham-2/00001.a.txt", True), ("spam-1/00001.a.txt", True),
                          ("hard-ham-1/00002.a.txt", True), ("hard-ham-1/00003.a.txt", False),
                          ("easy-ham-1/00001.a.txt", False), ("spam-2/00001.a.txt", False)]:
        assert in_training_split(tmp_path / name) is allowed, name


# --- verdicts someone already made ------------------------------------------------------------
SPAMMY_BODY = "Dear friend, I have a business proposal for you. Reply today to claim your share."


@pytest.mark.parametrize("header", [
    "X-Spam-Flag: YES\n",
    "X-Spam-Status: Yes, score=8.2 required=5.0 tests=BAYES_99,URIBL_BLACK\n",
    "X-Spamd-Result: default: True [16.10 / 15.00]; BAYES_SPAM(5.10)\n",
    "X-Spam: Yes\n",
    "X-Spam-Score: 11.5\n",
    "X-Spam-Level: ********\n",
])
def test_server_verdicts_make_spam_with_their_reason(header: str, model: KindModel) -> None:
    email = mail("Hi Alex, see you at lunch on Friday.", extra=header)
    kind, reasons = kind_of(email, model)
    assert kind == "spam"
    assert reasons[0].startswith(("server", "rspamd")), reasons


def test_a_server_that_said_no_is_respected_and_named(model: KindModel) -> None:
    email = mail("Hi Alex, see you at lunch on Friday.", extra="X-Spam-Status: No, score=-2.1 required=5.0\n")
    kind, _ = kind_of(email, model)
    assert kind == "personal"


def test_a_correspondent_overrules_the_server_but_not_the_readers_own_junk_mark(model: KindModel) -> None:
    email = mail("Hi Alex, see you at lunch on Friday.", extra="X-Spam-Flag: YES\n")
    kind, reasons = kind_of(email, model, MailContext(sent_to_sender=3))
    assert kind == "personal"
    assert any("overruled: you have written to this sender" in r for r in reasons)
    kind, reasons = kind_of(email, model, MailContext(sent_to_sender=3, keywords=["$Junk", "\\Seen"]))
    assert kind == "spam" and reasons[0] == "marked as junk ($Junk keyword)"


def test_junk_folder_and_not_junk_keyword(model: KindModel) -> None:
    email = mail("Hi Alex, see you at lunch on Friday.")
    assert kind_of(email, model, MailContext(folder="Junk"))[0] == "spam"
    assert kind_of(email, model, MailContext(folder="INBOX.Spam"))[0] == "spam"
    assert kind_of(email, model, MailContext(folder="[Gmail]/Spam"))[0] == "spam"
    assert kind_of(email, model, MailContext(folder="INBOX"))[0] == "personal"
    flagged = mail(SPAMMY_BODY, extra="X-Spam-Flag: YES\n")
    assert kind_of(flagged, model, MailContext(keywords=["$NotJunk"]))[0] != "spam"


# --- notifications: feeds, trackers, CI, calendars ---------------------------------------------
def test_rss2email_items_are_notifications(model: KindModel) -> None:
    email = mail(
        "The new release adds streaming parsers and drops Python 3.8.\n\nURL: https://blog.example.org/2024/03/release\n",
        sender='"Example Blog: Jane Doe" <user@localhost>', subject="Release 4.0 is out",
        extra="User-Agent: rss2email/3.14\nX-RSS-Feed: https://blog.example.org/feed.xml\n"
              "X-RSS-ID: https://blog.example.org/2024/03/release\nX-RSS-URL: https://blog.example.org/2024/03/release\n",
    )
    kind, reasons = kind_of(email, model)
    assert kind == "notification", reasons


def test_an_rss_gateway_without_feed_headers_is_a_notification(model: KindModel) -> None:
    email = mail("A short story about cats and the internet.\n\nURL: http://news.example.com/items/1234\n",
                 sender="boingboing <rssfeeds@gateway.example.net>", subject="Cats run the internet")
    assert kind_of(email, model)[0] == "notification"


@pytest.mark.parametrize(("sender", "subject", "extra", "body"), [
    ("bugzilla-daemon@bugs.example.org", "[Bug 4123] spamd leaks file descriptors",
     "X-Bugzilla-Reason: AssignedTo\nX-Bugzilla-Type: changed\n",
     "https://bugs.example.org/show_bug.cgi?id=4123\n\n------- Additional Comments From dev@example.org  2024-03-05 -------\n"
     "Fixed in r1234.\n\n-- \nConfigure bugmail: https://bugs.example.org/userprefs.cgi\n"
     "------- You are receiving this mail because: -------\nYou are the assignee for the bug."),
    ("Sam Whitfield <notifications@github.com>", "Re: [northwind/harbor] Bound ingestion queues (#317)",
     "X-GitHub-Reason: review_requested\nList-ID: northwind/harbor <harbor.northwind.github.com>\n",
     "@alex requested changes on this pull request.\n\n-- \nReply to this email directly, view it on GitHub."),
    ("jira@tracker.example.com", "[JIRA] (OPS-88) Disk full on db-2", "X-JIRA-FingerPrint: 1f2e3d\n",
     "Priya Shah created OPS-88: Disk full on db-2. This message was sent by Atlassian Jira."),
    ("Jenkins <builds@ci.example.com>", "Build failed in Jenkins: harbor-main #1482", "",
     "See https://ci.example.com/job/harbor-main/1482/\n\nConsole output:\n[ERROR] tests failed"),
])
def test_bug_trackers_and_ci_are_notifications(sender: str, subject: str, extra: str, body: str,
                                               model: KindModel) -> None:
    kind, reasons = kind_of(mail(body, sender=sender, subject=subject, extra=extra), model)
    assert kind == "notification", reasons


def test_a_person_replying_about_a_bug_is_personal(model: KindModel) -> None:
    email = mail("I can reproduce this on 2.4 too: the pid file stays after a restart. Patch attached.",
                 sender="Thomas Anders <thomas@example.de>", subject="Re: [Bug 704] spamd doesn't remove pid file")
    assert kind_of(email, model)[0] == "personal"


# --- bulk: newsletters and marketing ----------------------------------------------------------
def test_esp_fingerprint_without_list_headers_is_bulk(model: KindModel) -> None:
    email = mail(
        "Spring collection: 25% off all jackets this weekend only. Shop now and get free shipping.\n\n"
        "You are receiving this email because you signed up at Trailhead.",
        sender="Trailhead Outfitters <hello@trailhead.example.com>", subject="25% off jackets this weekend",
        extra="X-SG-EID: abc123\nReceived: from o12.sendgrid.net (o12.sendgrid.net [1.2.3.4]) by mx.example.com\n",
    )
    kind, reasons = kind_of(email, model)
    assert kind == "marketing", reasons
    assert any("SendGrid" in r for r in reasons)


def test_newsletter_without_headers_is_found_by_its_content(model: KindModel) -> None:
    body = ("THE WEEKLY STACK - Issue #212\n\nIn this issue: queues, backpressure and the cost of retries.\n\n"
            + "\n".join(f"* Article {i}: https://stack.example.net/a/{i}" for i in range(12))
            + "\n\nYou are receiving this newsletter because you subscribed. Unsubscribe: https://stack.example.net/u")
    email = mail(body, sender="The Weekly Stack <editor@stack.example.net>", subject="The Weekly Stack #212")
    kind, reasons = kind_of(email, model)
    assert kind == "newsletter", reasons


# --- the pipeline: depth and language ---------------------------------------------------------
FRENCH = ("Bonjour Alex,\n\nPouvez-vous m'envoyer le rapport trimestriel avant vendredi ? Nous devons "
          "préparer la réunion avec le client de Lyon et je voudrais relire les chiffres avant.\n\n"
          "Merci d'avance,\nCamille")
GERMAN = ("Hallo Alex,\n\nkannst du mir bitte bis Freitag die Zahlen für das dritte Quartal schicken? "
          "Wir müssen die Präsentation für den Kunden in Berlin vorbereiten.\n\nViele Grüße\nJonas")


@pytest.mark.parametrize(("body", "lang"), [(FRENCH, "fr"), (GERMAN, "de")])
def test_other_languages_are_detected_and_not_analysed_as_english(body: str, lang: str, pipeline: Pipeline) -> None:
    a = pipeline.analyze([mail(body, sender="Camille Dubois <camille@example.net>")])[0]
    assert a.language == lang and a.depth == "text"
    assert a.requests == [] and a.entities == [] and a.sentiment is None and a.action_items == []
    assert a.notes and a.notes[0].startswith(f"language: {lang}, not analysed for requests")
    assert a.summary  # sentences are still split for a summary


def test_personal_english_mail_gets_the_full_analysis(pipeline: Pipeline) -> None:
    a = pipeline.analyze([mail("Hi Alex,\n\nCould you review the contract with Microsoft by Friday?\n\nDana")])[0]
    assert (a.kind, a.depth, a.language) == ("personal", "full", "en")
    assert a.requests and a.sentiment is not None and a.notes == []


def test_machine_mail_gets_the_light_analysis_with_due_dates_and_entities(pipeline: Pipeline) -> None:
    bill = mail(
        "Your March statement from Acme Power is ready. Amount due: $84.20.\n\n"
        "Payment is due by March 20, 2024. Pay online at https://power.example.com/pay.",
        sender="Acme Power <no-reply@power.example.com>", subject="Your bill is ready",
        extra="Auto-Submitted: auto-generated\n",
    )
    a = pipeline.analyze([bill])[0]
    assert (a.kind, a.depth) == ("notification", "light")
    assert a.requests == [] and a.sentiment is None
    assert [x.due.date().isoformat() for x in a.action_items if x.due] == ["2024-03-20"]
    assert {"Acme Power", "$84.20"} <= {e.text for e in a.entities}
    assert a.summary


def test_the_same_email_gives_the_same_analysis_alone_or_in_a_mixed_batch(pipeline: Pipeline) -> None:
    personal = mail("Hi Alex,\n\nCan we move our call to Thursday at 3pm?\n\nDana")
    spam = corpus("spam-1/00001")
    french = mail(FRENCH)
    alone = [pipeline.analyze([e])[0] for e in (personal, spam, french)]
    mixed = pipeline.analyze([spam, personal, french])
    assert [a.model_dump() for a in alone] == [mixed[1].model_dump(), mixed[0].model_dump(), mixed[2].model_dump()]
