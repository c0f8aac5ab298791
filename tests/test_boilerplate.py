"""Boilerplate spans, notification headlines and the boilerplate-free summary (no spaCy needed)."""

from __future__ import annotations

from beacon.analysis.boilerplate import covered, find_boilerplate
from beacon.analysis.notifications import describe
from beacon.analysis.summary import summarise

MAILMAN = """Ross, the rule fires on every Yahoo ad in the corpus.
Can you rerun the GA with the new scores before Friday?

Chris

-------------------------------------------------------
This sf.net email is sponsored by:ThinkGeek
Welcome to geek heaven.
http://thinkgeek.com/sf
_______________________________________________
Spamassassin-talk mailing list
Spamassassin-talk@lists.sourceforge.net
https://lists.sourceforge.net/lists/listinfo/spamassassin-talk"""

NEWSLETTER = """Monday, March 4, 2002 -- Issue 12

The city council approved the new bike lanes on Tuesday night after a long debate.
Construction starts in April and should finish before the summer.

http://news.example.com/story/123

You received this e-mail because you subscribed to the Daily Pedal.
To unsubscribe, visit http://news.example.com/u or reply with REMOVE in the subject.
(c) 2002 Daily Pedal. All rights reserved."""

REPLY = """Sounds good, I'll bring the printouts.

On Tue, Mar 5, 2002 at 10:00AM, Bob Smith wrote:
> Can you bring the printouts by Friday?
> Thanks

-----Original Message-----
From: Joe Bloggs
Sent: Monday, March 04, 2002 9:12 AM
To: Bob Smith
Subject: printouts

Please send the final numbers by Wednesday.

--
Dana Jones | Operations
Tel: +1 555 123 4567"""

LYRICS = """Here are the words for Saturday, everyone sings the chorus:

And I will always love you
Can you feel the love tonight
Take me down to the paradise city
Where the grass is green and the girls are pretty

See you there."""


def _kinds(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for b in find_boilerplate(text):
        out.setdefault(b.kind, []).append(text[b.start:b.end])
    return out


def _sentences(text: str) -> list[tuple[str, int, int]]:
    """Line-and-full-stop sentences: enough to feed the summariser without spaCy."""
    out, pos = [], 0
    for line in text.split("\n"):
        for part in line.replace(". ", ".\n").split("\n"):
            if part.strip():
                start = text.index(part, pos)
                out.append((part, start, start + len(part)))
                pos = start + len(part)
    return out


def test_list_footer_and_sponsor_banner() -> None:
    kinds = _kinds(MAILMAN)
    assert any("sponsored by" in s for s in kinds["sponsor"])
    assert any("mailing list" in s and "listinfo" in s for s in kinds["list-footer"])
    body_end = MAILMAN.index("Chris")
    assert not covered(find_boilerplate(MAILMAN), 0, body_end)


def test_newsletter_masthead_url_line_and_unsubscribe_footer() -> None:
    kinds = _kinds(NEWSLETTER)
    assert kinds["masthead"] == ["Monday, March 4, 2002 -- Issue 12"]
    assert kinds["url"] == ["http://news.example.com/story/123"]
    footer = " ".join(kinds["footer"])
    assert "unsubscribe" in footer and "received this" in footer and "All rights reserved" in footer
    story = NEWSLETTER.index("The city council")
    assert not covered(find_boilerplate(NEWSLETTER), story, story + 80)


def test_quoted_history_headers_and_signature() -> None:
    kinds = _kinds(REPLY)
    assert any(s.startswith("On Tue, Mar 5, 2002") for s in kinds["quote-header"])
    assert any(s.startswith("-----Original Message-----") for s in kinds["quote-header"])
    quoted = " ".join(kinds["quoted"])
    assert "Can you bring the printouts" in quoted and "Please send the final numbers" in quoted
    assert "Tel: +1 555 123 4567" in quoted  # the history's signature is history
    assert not covered(find_boilerplate(REPLY), 0, len("Sounds good, I'll bring the printouts."))


def test_signatures() -> None:
    dashed = "The fix is in.\n\n-- \nDana Jones | Operations\nTel: +1 555 123 4567"
    assert "Tel: +1 555 123 4567" in " ".join(_kinds(dashed)["signature"])
    signed = "The fix is in, please test it.\n\nBest regards,\nDana Jones\nHead of Operations\nwww.example.com"
    sig = " ".join(_kinds(signed)["signature"])
    assert sig.startswith("Best regards") and "Head of Operations" in sig
    assert "please test it" not in sig


def test_forwarded_message_body_is_kept() -> None:
    text = ("FYI, see below.\n\n---------- Forwarded message ----------\nFrom: Ann <ann@example.com>\n"
            "Date: Mon, Mar 4, 2002\nSubject: Budget\n\nThe budget review moved to Thursday at 3pm.")
    spans = find_boilerplate(text)
    assert [b.kind for b in spans] == ["quote-header"]
    start = text.index("The budget review")
    assert not covered(spans, start, len(text))


def test_verse_is_boilerplate_but_prose_lines_are_not() -> None:
    kinds = _kinds(LYRICS)
    assert len(kinds["verse"]) == 1 and "Can you feel the love tonight" in kinds["verse"][0]
    prose = ("We looked at the numbers again this morning\nand the gap is smaller than we thought,\n"
             "so the plan can stay as it is\nunless finance says otherwise.")
    assert "verse" not in _kinds(prose)


def test_plain_personal_mail_has_no_boilerplate() -> None:
    text = "Hi Alex,\n\nCould you send me the contract by Friday? The client wants to sign on Monday.\n\nDana"
    assert find_boilerplate(text) == []


def test_bugzilla_change_mail_says_what_happened() -> None:
    body = """http://bugzilla.example.org/show_bug.cgi?id=704

jm@example.org changed:

           What    |Removed                     |Added
----------------------------------------------------------------------------
             Status|ASSIGNED                    |RESOLVED
         Resolution|                            |FIXED



------- Additional Comments From jm@example.org  2002-09-05 10:00 -------
ok, this is now fixed in CVS. cheers!



------- You are receiving this mail because: -------
You are the assignee for the bug, or are watching the assignee."""
    subject = "[Bug 704] spamd doesn't remove pid file on shutdown"
    assert describe(subject, body, "personal") == "Bug 704 RESOLVED FIXED: spamd doesn't remove pid file on shutdown"
    summary = summarise(_sentences(body), set(), set(), boilerplate=find_boilerplate(body), subject=subject,
                        text=body, kind="notification")
    assert summary[0].startswith("Bug 704 RESOLVED FIXED")
    assert not any("receiving this mail" in s or "http" in s for s in summary)
    assert describe("[Bug 12] New: crash on start", "http://b.example/show_bug.cgi?id=12\n\nSummary: crash", "x") \
        == "Bug 12 new: crash on start"


def test_github_gitlab_ci_and_calendar_headlines() -> None:
    gh = ("Merged #1432 into main.\n\n—\nReply to this email directly, view it on GitHub:\n"
          "https://github.com/acme/widgets/pull/1432#event-1\nYou are receiving this because you authored the thread.")
    assert describe("Re: [acme/widgets] Fix the cache key (#1432)", gh, "personal") == \
        "acme/widgets#1432 Fix the cache key: merged into main"
    gl = "Pipeline #8812 has failed!\n\n—\nReply to this email directly or view it on GitLab."
    assert describe("Infra | Rotate the TLS certificates (!77)", gl, "notification") == \
        "Infra !77 Rotate the TLS certificates: Pipeline #8812 has failed"
    assert describe("[Jenkins] Build #512 failed: northwind/main", "Console output attached.", "notification") == \
        "[Jenkins] Build #512 failed: northwind/main"
    assert describe("Invitation: Q3 planning @ Wed Mar 6, 2024 10am - 11am (EST) (alex@example.com)", "",
                    "automated") == "Invitation: Q3 planning @ Wed Mar 6, 2024 10am - 11am (EST)"
    # Loose formats only for mail already known to be a notification.
    assert describe("Re: the build failed again", "Did you look at it?", "personal") is None
    assert describe("Your order has shipped", "Track it here.", "transactional") == "Your order has shipped"


def test_summary_skips_footers_urls_and_masthead() -> None:
    spans = find_boilerplate(NEWSLETTER)
    summary = summarise(_sentences(NEWSLETTER), {"bike lanes"}, set(), boilerplate=spans, text=NEWSLETTER,
                        subject="Daily Pedal", kind="newsletter")
    assert summary and summary[0].startswith("The city council approved")
    joined = " ".join(summary)
    assert "http" not in joined and "unsubscribe" not in joined.lower() and "Issue 12" not in joined

    spans = find_boilerplate(MAILMAN)
    summary = summarise(_sentences(MAILMAN), set(), set(), boilerplate=spans, text=MAILMAN, subject="Re: [SAtalk] GA")
    assert summary and all("mailing list" not in s and "sponsored" not in s for s in summary)


def test_links_annotated_after_their_text_are_dropped_not_the_headline() -> None:
    text = ("Breaking News\n• Car with young driver said to swerve near police cruiser "
            "(http://www.example.com/Stories/0,1413,101,00.html)\n"
            "If you are seeing this message, please visit http://example.com to see the latest stories.")
    summary = summarise(_sentences(text), set(), set(), boilerplate=find_boilerplate(text), text=text)
    assert summary == ["Car with young driver said to swerve near police cruiser"]
