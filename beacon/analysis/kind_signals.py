"""Evidence about who (or what) sent an email, read from its headers and its content.

Each finder returns human-readable reasons ("List-Unsubscribe header without List-Post"); an
empty list means no evidence. ``beacon.analysis.kind`` weighs them. Nothing here reads the
store: the reader's own history with the sender arrives separately as a ``MailContext``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from datetime import timedelta

from beacon.models import Email
from beacon.parse.dates import FUTURE_OF_DELIVERY, NO_ZONE, received_date

# --- server verdicts -------------------------------------------------------------------------
_YES = re.compile(r"^\s*(?:yes|true|spam|high|\[spam\])\b", re.IGNORECASE)
_NO = re.compile(r"^\s*(?:no|false|ham|clean|not spam)\b", re.IGNORECASE)
_SA_SCORE = re.compile(r"\b(?:score|hits)=(-?\d+(?:\.\d+)?)(?:\s+required=(-?\d+(?:\.\d+)?))?", re.IGNORECASE)
_SA_TESTS = re.compile(r"\btests=([A-Z0-9_,\s]+)", re.IGNORECASE)
_RSPAMD = re.compile(r"^\s*\w+:\s*(True|False)\s*\[\s*(-?\d+(?:\.\d+)?)\s*/\s*(-?\d+(?:\.\d+)?)\s*\]", re.IGNORECASE)
SA_REQUIRED = 5.0  # SpamAssassin's default required_score
RSPAMD_ADD_HEADER = 6.0  # rspamd's default "add header" action threshold


@dataclass(frozen=True)
class ServerVerdict:
    spam: bool
    reason: str


def server_verdict(email: Email) -> ServerVerdict | None:
    """The verdict a mail server wrote into the headers, if any (spam or explicitly not)."""
    h = email.spam_headers
    if h.x_spam_flag:
        spam = bool(_YES.match(h.x_spam_flag))
        return ServerVerdict(spam, f"server verdict X-Spam-Flag: {h.x_spam_flag.strip()[:20]}")
    if h.x_spam_status:
        status = h.x_spam_status.strip()
        spam = bool(_YES.match(status))
        m = _SA_SCORE.search(status)
        detail = f"score {m.group(1)}" + (f" of {m.group(2)} required" if m.group(2) else "") if m else ""
        tests = _SA_TESTS.search(status)
        if spam and tests:
            names = [t for t in re.split(r"[,\s]+", tests.group(1)) if t][:4]
            detail += f"; tests {', '.join(names)}"
        word = "spam" if spam else "not spam"
        return ServerVerdict(spam, f"server verdict X-Spam-Status: {word}" + (f" ({detail})" if detail else ""))
    if h.x_spamd_result:
        m = _RSPAMD.match(h.x_spamd_result)
        if m:
            spam = m.group(1).lower() == "true" or float(m.group(2)) >= float(m.group(3))
            return ServerVerdict(spam, f"rspamd X-Spamd-Result: {m.group(1)} [{m.group(2)} / {m.group(3)}]")
    if h.x_spam:
        if _YES.match(h.x_spam):
            return ServerVerdict(True, f"server verdict X-Spam: {h.x_spam.split()[0][:20]}")
        if _NO.match(h.x_spam):
            return ServerVerdict(False, f"server verdict X-Spam: {h.x_spam.split()[0][:20]}")
    for name, value, limit in (("X-Spam-Score", h.x_spam_score, SA_REQUIRED),
                               ("X-Rspamd-Score", h.x_rspamd_score, RSPAMD_ADD_HEADER)):
        score = _number(value)
        if score is not None:
            spam = score >= limit
            return ServerVerdict(spam, f"server {name} {score:g} ({'at or above' if spam else 'below'} {limit:g})")
    if h.x_spam_level is not None:
        stars = h.x_spam_level.strip().count("*")
        if stars >= SA_REQUIRED:
            return ServerVerdict(True, f"server X-Spam-Level {stars} stars (≥ {SA_REQUIRED:g})")
    return None


def _number(value: str | None) -> float | None:
    if not value:
        return None
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", value)
    return float(m.group(1)) if m else None


# --- the sender ------------------------------------------------------------------------------
_NOREPLY = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|noreply|notifications?|notify|alerts?|"
    r"mailer-daemon|postmaster|bounces?|automated|auto|system|daemon|root|cron|nobody|"
    r"bugzilla(?:-daemon)?|jira|trac|gitlab|github|builds?|ci|jenkins|monitoring|reminders?|"
    r"calendar|rss(?:feeds?)?|feeds?|rss2email)(?:[-+_.].*)?@|^[^@]*-(?:owner|request|bounces?|admin)@|^owner-[^@]*@",
    re.IGNORECASE,
)
_ROLE = re.compile(
    r"^(?:info|news(?:letter)?s?|updates?|marketing|promo(?:tions?)?|offers?|deals?|sales|hello|team|"
    r"support|billing|receipts?|orders?|statements?|accounts?|payments?|invoices?|security|shop|store|"
    r"list(?:manager|master|serv)?|mailer|enews|e-?mail|webmaster|customers?|subscriptions?|members?)"
    r"(?:[-+_.].*)?@",
    re.IGNORECASE,
)
FREEMAIL = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "hotmail.com",
    "hotmail.co.uk", "outlook.com", "aol.com", "icloud.com", "me.com", "mac.com", "gmx.de", "gmx.net",
    "web.de", "proton.me", "protonmail.com", "mail.com", "live.com", "msn.com", "yandex.ru", "orange.fr",
    "free.fr", "laposte.net", "t-online.de", "fastmail.fm", "fastmail.com", "zoho.com",
})

# Mass-mailer and ESP fingerprints: header names, relay hosts, Message-ID domains, X-Mailer.
_ESP_HEADERS = {
    "x-sg-eid": "SendGrid", "x-sg-id": "SendGrid", "x-mailgun-sid": "Mailgun", "x-mailgun-tag": "Mailgun",
    "x-mc-user": "Mailchimp", "x-mandrill-user": "Mandrill", "x-ses-outgoing": "Amazon SES",
    "x-sparkpost-": "SparkPost", "x-msys-api": "SparkPost", "x-campaign": "campaign header",
    "x-campaignid": "campaign header", "x-campaign-id": "campaign header", "x-cmae-": "Campaign Monitor",
    "x-pm-message-id": "Postmark", "x-job": "Salesforce Marketing Cloud", "x-sfmc-stack": "Salesforce Marketing Cloud",
    "x-mailer-recptid": "mass mailer", "x-listmember": "mass mailer", "x-mailjet-campaign": "Mailjet",
    "x-rpcampaign": "mass mailer", "x-emv-campagneid": "Emarsys", "x-hubspot-": "HubSpot",
    "x-marketo-": "Marketo", "x-constantcontact-": "Constant Contact", "x-ymlp-": "YMLP",
}
_ESP_HOSTS = re.compile(
    r"\b(?:sendgrid\.net|mcsv\.net|mcdlv\.net|rsgsv\.net|mandrillapp\.com|amazonses\.com|mailgun\.(?:org|net)|"
    r"sparkpostmail\.com|mktomail\.com|exacttarget\.com|cmail\d*\.com|createsend\.com|constantcontact\.com|"
    r"mailjet\.com|sendinblue\.com|brevo\.com|hubspotemail\.net|emarsys\.net|postmarkapp\.com|"
    r"mailchimp(?:app)?\.(?:com|net)|lyris\.net|sendoutmail\.com|bluehornet\.com|responsys\.net|"
    r"ymlp\.com|icontact\.com|aweber\.com|getresponse\.com|topica\.com|imakenews\.(?:com|net))\b",
    re.IGNORECASE,
)
_MASS_MAILER = re.compile(
    r"\b(?:lyris|listmanager|mailking|group ?mail|mass ?mail|bulk ?mail|advanced mass sender|"
    r"worldmerge|campaign ?enterprise|stealth mass|e-?mail (?:blaster|marketing)|"
    r"mailchimp|sendgrid|constant ?contact|newsletter|phplist|mailpoet|listserv|smartmailer|"
    r"dynamicmailer|mailloop|gammadyne|mail ?bomber|emailer)\b",
    re.IGNORECASE,
)
# Subject labels that laws require on commercial mail: Japan's 未承諾広告 ("unsolicited
# advertisement"), Korea's (광고) ("advertisement"), the "ADV:" of several US states.
_AD_LABEL = re.compile(r"^\W{0,3}(?:(未承諾広告)|([\[(（]\s*광\s*고\s*[\])）])|(ADV\s*:))")
# Sales-engagement tools: one-to-one looking cold outreach, sent in sequences to lists of leads.
_SALES_TOOL = re.compile(
    r"\b(?:outreach(?:ly|\.io)?|salesloft|apollo\.io|lemlist|mailshake|woodpecker|reply\.io|yesware|"
    r"mixmax|quickmail|smartlead|instantly|hubspot sales|groove|klenty|snov\.io)\b",
    re.IGNORECASE,
)
# A discussion list's own software: human posts pass through these.
_LIST_SOFTWARE = ("x-mailman-version", "x-beenthere", "x-ezmlm-", "mailing-list", "x-yahoo-group", "x-egroups")

# Notifications: trackers, CI, commits, feeds, calendars, cron, bounces.
_COMMIT_SUBJECT = re.compile(r"(?:^|\]\s*)(?:CVS:|cvs commit:|svn commit:|\[(?:svn|git|commits?)\]|r\d+ - )", re.IGNORECASE)
_TRACKER_HEADERS = {
    "x-bugzilla-": "Bugzilla", "x-github-": "GitHub", "x-gitlab-": "GitLab", "x-jira-fingerprint": "Jira",
    "x-jenkins-": "Jenkins", "x-trac-": "Trac", "x-redmine-": "Redmine", "x-launchpad-": "Launchpad",
    "x-phabricator-": "Phabricator", "x-gerrit-": "Gerrit", "x-rss-": "RSS feed", "x-rss2email": "RSS feed",
    "x-feed2imap-": "RSS feed", "x-cron-env": "cron", "x-pagerduty-": "PagerDuty",
}
_TRACKER_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]{1,60}\]\s*)?(?:\[(?:Bug|Issue|Ticket|Case)\s+#?\d+\]|\[JIRA\]|\[[\w.-]+/[\w.-]+\]|"
    r"(?:Bug|Issue|Ticket)\s+#?\d+\s*[:-]|\[Build|Build (?:failed|succeeded|passed|fixed|broken|unstable)|"
    r"Cron <|Anacron job|RSS:\s|Invitation:|Updated invitation:|Accepted:|Declined:|"
    r"Automatic reply:|Auto(?:matic)?[- ]?(?:reply|response)|Out of (?:the )?office|"
    r"(?:Mail )?delivery (?:status notification|failure|failed)|Undeliver(?:ed|able)|Returned mail)",
    re.IGNORECASE,
)
_TRACKER_BODY = re.compile(
    r"(?:You are receiving this (?:mail|email|notification) because|Do not reply to this (?:e-?mail|message)|"
    r"Reply to this email directly(?:,| or) view it on|------- (?:Additional )?Comments? From|"
    r"This is an automatically generated (?:e-?mail|message|notification)|"
    r"This (?:e-?mail|message) was (?:sent|generated) automatically|Configure bugmail:|"
    r"view it on GitHub|Build URL:|Console output:|^URL: https?://\S+\s*$|"
    r"The following addresses had permanent fatal errors|This is the mail system at host|"
    r"Delivery to the following recipients? failed)",
    re.IGNORECASE | re.MULTILINE,
)
_TRANSACTIONAL = re.compile(
    r"\b(?:receipt|invoice|order (?:confirmation|#|number|no\.?)|your order|has shipped|shipping (?:confirmation|notice)|"
    r"tracking number|out for delivery|password reset|reset your password|verification code|verify your (?:email|account)|"
    r"confirm your (?:e-?mail|account|subscription)|payment (?:received|confirmation|due|failed)|amount due|"
    r"statement is (?:ready|available)|booking confirmation|reservation (?:confirmed|confirmation)|"
    r"subscription (?:renewal|confirmation)|your e-?statement|sign[- ]in (?:attempt|alert)|"
    r"new (?:sign[- ]in|login)|security alert|errata alert|account (?:alert|notification))\b",
    re.IGNORECASE,
)

# Content: footers, marketing copy, newsletter mastheads.
_UNSUBSCRIBE = re.compile(
    r"\b(?:unsubscribe|opt[- ]?out|to be removed|remove (?:me|yourself|your (?:e-?mail|name|address))|"
    r"(?:update|manage) (?:your )?(?:e-?mail )?(?:preferences|subscription)|"
    r"you (?:are )?receiv(?:e|ed|ing) this (?:e-?mail|message|newsletter|because)|"
    r"you (?:have )?(?:signed|subscribed) up|no longer wish to receive|"
    r"this (?:e-?mail|message) was sent to|not (?:to )?receive (?:future|further) (?:e-?mails|mailings|messages)|"
    r"view (?:this|it) (?:e-?mail )?(?:in|on) (?:your|a|the) (?:web )?browser|forward to a friend|"
    r"(?:i|we) won'?t follow up|reply (?:with )?[\"']?(?:no thanks|stop|remove|unsubscribe)[\"']?)\b",
    re.IGNORECASE,
)
_MARKETING = re.compile(
    r"\b(?:\d{1,2}\s?% off|(?:big|huge|flash|summer|winter|spring|holiday|clearance) sale|discounts?|coupons?|"
    r"promo(?:tion(?:al)?)? code|limited[- ]time|free shipping|special (?:offer|price|deal)s?|exclusive (?:offer|deal)s?|"
    r"deals?|buy now|shop now|order (?:now|today)|act now|click here|don'?t miss|last chance|save (?:up to )?\$?\d+|"
    r"lowest prices?|best prices?|(?:sign|register) (?:up )?(?:now|today)|early access|free (?:trial|gift|bonus)|"
    r"earn \$|make money|money[- ]back|risk[- ]free|satisfaction guaranteed|while supplies last|"
    r"offer (?:ends|expires|valid)|starting at \$|only \$\d+|call (?:now|toll[- ]free)|toll[- ]free|"
    r"sweepstakes|you(?:'ve| have) (?:won|been (?:selected|chosen))|winner|prize|webinar|seminar|"
    r"(?:quick|free|short|book a|schedule a) demo|(?:15|20|30)[- ]minute(?:s)? (?:call|chat)|"
    r"(?:15|20|30) minutes (?:next week|this week|for a (?:quick )?(?:call|chat|demo)))\b",
    re.IGNORECASE,
)
_NEWSLETTER = re.compile(
    r"\b(?:newsletter|digest|weekly|monthly|daily|edition|issue\s+#?\d+|vol(?:ume)?\.?\s*\d+|no\.\s*\d+|"
    r"this week(?: in)?|headlines|top stories|in this issue|roundup|bulletin|e-?news|news ?letter|"
    r"announcements?|read more|tech tips|editorial)\b",
    re.IGNORECASE,
)
_NEWSLETTER_SUBJECT = re.compile(
    r"\b(?:newsletter|news|digest|weekly|monthly|daily|edition|issue\s+#?\d+|vol(?:ume)?\.?\s*\d+|"
    r"#\d+\b|headlines|bulletin|update[sd]?\b|announce(?:ment)?s?|tips)\b"
    # A masthead: an issue number or the date of the issue in the subject.
    r"|\b(?:note|issue|no\.?|number)\s+\d{2,}\b|\b\d{4}-\d{2}-\d{2}\b|"
    r"\b\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(?:\d{2}|\d{4})\b|"
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},\s+\d{4}\b",
    re.IGNORECASE,
)
_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
_HTML_LINK = re.compile(r"<a\s[^>]*href", re.IGNORECASE)
_HTML_IMG = re.compile(r"<img\b", re.IGNORECASE)
_HTML_TABLE = re.compile(r"<table\b", re.IGNORECASE)


@dataclass
class Signals:
    """Evidence for each kind, as reasons a person can read."""

    notification: list[str] = field(default_factory=list)  # headers or sender say a machine sent it
    notification_hint: list[str] = field(default_factory=list)  # wording only: weak on its own
    bulk: list[str] = field(default_factory=list)  # headers of mail sent to many: newsletter or marketing
    bulk_hint: list[str] = field(default_factory=list)  # footers, Precedence: bulk: weak on their own
    discussion: list[str] = field(default_factory=list)  # a person's post to a discussion list
    marketing: list[str] = field(default_factory=list)
    newsletter: list[str] = field(default_factory=list)
    layout: list[str] = field(default_factory=list)  # bulk-looking layout: links, images, HTML only
    sender_role: str | None = None  # "automated" | "role" | None
    promo_score: int = 0  # distinct promotional phrases (subject ones count double)
    news_score: int = 0  # distinct editorial phrases (subject ones count double)
    subject_news: str = ""  # newsletter wording in the subject ("Weekly", "Issue #12")
    sales_tool: bool = False  # sent with a sales-engagement tool: cold outreach
    ad_label: str = ""  # "unsolicited" | "advertisement": a subject label that laws require on ads
    ad_label_text: str = ""


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _prefix_finder(prefixes: dict[str, str] | tuple[str, ...]) -> re.Pattern[str]:
    """One regex over the newline-joined header names for a table of name prefixes."""
    return re.compile("^(?:" + "|".join(re.escape(p) for p in prefixes) + ")", re.MULTILINE)


_ESP_FINDER = _prefix_finder(_ESP_HEADERS)
_TRACKER_FINDER = _prefix_finder(_TRACKER_HEADERS)
_LIST_SOFTWARE_FINDER = _prefix_finder(_LIST_SOFTWARE)


def _header_prefix(names: str, finder: re.Pattern[str], table: dict[str, str]) -> tuple[str, str] | None:
    """(prefix, what) of the first header whose name starts with one of ``table``'s prefixes."""
    m = finder.search(names)
    if m is None:
        return None
    prefix = m.group(0)
    return prefix, table[prefix]


# A real client stamps the time of sending; relays deliver within hours. Days before delivery is
# a spam tool's template date (or a mail held for days, which a list post explains).
_STALE_DATE = timedelta(days=3)


def is_list_post(email: Email) -> bool:
    """Sent through a mailing list: list headers or list software's own headers."""
    lh = email.list_headers
    if lh.list_id or lh.list_post or lh.list_unsubscribe:
        return True
    return _LIST_SOFTWARE_FINDER.search("\n".join(email.header_names)) is not None


def forged_date(email: Email) -> str | None:
    """Why the Date header looks written by a spam tool rather than a mail client, or None.

    No time zone, later than the delivery, or days before it: each is common in spam and rare in
    a person's direct mail (held list posts are the usual honest exception; callers check that).
    """
    for problem in email.problems:
        if problem.kind != "date":
            continue
        if problem.detail.startswith(NO_ZONE):
            return "its Date header has no time zone"
        if FUTURE_OF_DELIVERY in problem.detail:
            return "its Date header is later than its delivery"
    if email.date_source == "header":
        delivered, _ = received_date(email.received)
        if delivered is not None and delivered - email.date > _STALE_DATE:
            return f"its Date header is {(delivered - email.date).days} days before its delivery"
    return None


def read_signals(email: Email, text: str) -> Signals:
    """All header and content evidence for ``email`` (``text``: the body text to read)."""
    sig = Signals()
    lh = email.list_headers
    sender = email.from_address.address.lower()
    subject = email.subject or ""
    head = f"{subject}\n{text[:4000]}"

    # -- automated senders and notifications --
    auto = (lh.auto_submitted or "").strip().lower()
    if auto and auto != "no":
        sig.notification.append(f"Auto-Submitted: {lh.auto_submitted}")
    if lh.x_auto_response_suppress:
        sig.notification.append("X-Auto-Response-Suppress header")
    precedence = (lh.precedence or "").strip().lower()
    if precedence == "auto_reply":
        sig.notification.append("Precedence: auto_reply")
    names = "\n".join(email.header_names)
    found = _header_prefix(names, _TRACKER_FINDER, _TRACKER_HEADERS)
    if found:
        sig.notification.append(f"{found[1]} headers ({found[0].rstrip('-')}…)")
    ua = f"{lh.x_mailer or ''} {lh.user_agent or ''}"
    if re.search(r"rss2email|feed2imap|feed2exec|blogtrottr|newspipe|rss2mail|sitescooper|meerkat", ua, re.IGNORECASE):
        sig.notification.append(f"feed gateway ({(lh.x_mailer or lh.user_agent or '').strip()[:40]})")
    if _NOREPLY.match(sender):
        sig.sender_role = "automated"
    elif _ROLE.match(sender):
        sig.sender_role = "role"
    m = _COMMIT_SUBJECT.search(subject)
    if m:
        sig.notification.append(f"commit notification {m.group(0).strip(' ]')!r}")
    m = _TRACKER_SUBJECT.search(subject)
    if m and not re.match(r"\s*(?:re|aw|sv|fwd?)\s*:", subject, re.IGNORECASE):
        sig.notification_hint.append(f"notification subject {m.group(0).strip()[:30]!r}")
    m = _TRACKER_BODY.search(text[-3000:]) or _TRACKER_BODY.search(text[:1500])
    if m:
        sig.notification_hint.append(f"notification wording {m.group(0).strip()[:40]!r}")
    if any(a.content_type in ("text/calendar", "application/ics") for a in email.attachments):
        sig.notification.append("calendar invitation attached")
    trans = _TRANSACTIONAL.search(head)
    if trans:
        sig.notification_hint.append(f"transactional wording {trans.group(0)!r}")

    # -- lists: discussion or broadcast --
    list_post = (lh.list_post or "").strip()
    human_list = bool(list_post) and list_post.upper() != "NO"
    if human_list or _LIST_SOFTWARE_FINDER.search(names):
        sig.discussion.append(
            f"discussion list{(' ' + lh.list_id[:60]) if lh.list_id else ''}: members can post"
            if human_list else "sent through mailing-list software"
        )
    if lh.list_unsubscribe and not sig.discussion:
        sig.bulk.append("List-Unsubscribe header" + ("" if not lh.list_id else ", no List-Post"))
    if lh.list_unsubscribe_post:
        sig.bulk.append("one-click List-Unsubscribe-Post (RFC 8058)")
    if list_post.upper() == "NO":
        sig.bulk.append("announce-only list (List-Post: NO)")
    if precedence in ("bulk", "junk") and not human_list and not sig.discussion:
        sig.bulk_hint.append(f"Precedence: {lh.precedence}")
    if lh.feedback_id:
        sig.bulk.append("Feedback-ID header (bulk sender feedback loop)")
    found = _header_prefix(names, _ESP_FINDER, _ESP_HEADERS)
    if found:
        sig.bulk.append(f"{found[1]} fingerprint ({found[0].rstrip('-')})")
    else:
        relays = " ".join(email.received[-3:]) + " " + email.message_id + " " + (lh.return_path or "")
        m = _ESP_HOSTS.search(relays)
        if m:
            sig.bulk.append(f"sent through bulk-mail service {m.group(0).lower()}")
    m = _MASS_MAILER.search(lh.x_mailer or "")
    if m:
        sig.bulk.append(f"mass-mailer X-Mailer {(lh.x_mailer or '').strip()[:40]!r}")
    m = _SALES_TOOL.search(f"{lh.x_mailer or ''} {' '.join(email.header_names)}")
    if m:
        sig.bulk.append(f"sales-outreach tool ({m.group(0)})")
        sig.sales_tool = True
    to = [a.address.lower() for a in [*email.to, *email.cc]]
    if not to or any(a.startswith(("undisclosed", "recipient")) or not a for a in to):
        sig.layout.append("no visible recipients")

    # -- content --
    tail = text[-2500:]
    unsub = _UNSUBSCRIBE.search(tail) or _UNSUBSCRIBE.search(text[:1500])
    if unsub:
        sig.bulk_hint.append(f"footer {unsub.group(0)!r}")
    m = _AD_LABEL.search(subject)
    if m:
        sig.ad_label = "unsolicited" if m.group(1) else "advertisement"
        sig.ad_label_text = m.group(0).strip()
    hits = {m.group(0).lower() for m in _MARKETING.finditer(head)}
    if hits:
        sig.marketing.append("promotional wording: " + ", ".join(sorted(hits)[:4]))
    news = {m.group(0).lower() for m in _NEWSLETTER.finditer(head)}
    if news:
        sig.newsletter.append("newsletter wording: " + ", ".join(sorted(news)[:4]))
    sig.promo_score = len(hits) + len({m.group(0).lower() for m in _MARKETING.finditer(subject)})
    m = _NEWSLETTER_SUBJECT.search(subject)
    sig.subject_news = m.group(0) if m else ""
    sig.news_score = len(news) + len({m.group(0).lower() for m in _NEWSLETTER.finditer(subject)})
    html = email.html or ""
    links = len(_HTML_LINK.findall(html)) if html else len(_LINK.findall(text))
    images = len(_HTML_IMG.findall(html))
    words = max(1, len(text.split()))
    if links >= 8 or (links >= 3 and words / links < 25):
        sig.layout.append(f"{links} links in {words} words")
    if images >= 3:
        sig.layout.append(f"{images} images")
    if email.text_from_html and html and _HTML_TABLE.search(html):
        sig.layout.append("HTML-only, table layout")
    return sig
