"""What kind of mail this is (personal, bulk, marketing, automated, transactional) and its category.

Headers decide first: they are set by the sending software and rarely lie about bulk mail.
Text decides second, for mail whose headers say nothing (old or hand-rolled bulk senders).
"""

from __future__ import annotations

import re

from beacon.analysis.models import MailKind
from beacon.models import Email

_NOREPLY = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|notifications?|notify|alerts?|mailer-daemon|postmaster|"
    r"bounces?|automated|system|daemon|root|info|news(?:letter)?|updates?|marketing|promo(?:tions?)?|"
    r"hello|team|support|billing|receipts?|orders?|statements?|accounts?|payments?|invoices?|security)(?:[-+_.].*)?@",
    re.IGNORECASE,
)
_AUTOMATED_SENDER = re.compile(r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|notifications?|notify|alerts?|"
                               r"mailer-daemon|postmaster|bounces?|automated|system|daemon)", re.IGNORECASE)
_TRANSACTIONAL = re.compile(
    r"\b(?:receipt|invoice|order (?:confirmation|#|number)|your order|has shipped|shipping (?:confirmation|notice)|"
    r"tracking number|delivered|password reset|reset your password|verification code|verify your|"
    r"confirm your (?:email|account)|payment (?:received|confirmation|due)|statement is (?:ready|available)|"
    r"booking confirmation|reservation|subscription (?:renewal|confirmation)|account statement|"
    r"your statement|e-?statement)\b",
    re.IGNORECASE,
)
_MARKETING = re.compile(
    r"\b(?:\d{1,2}\s?% off|sale|discount|coupon|promo(?:tion)? code|limited[- ]time|free shipping|"
    r"special offer|exclusive offer|deal(?:s)? of|buy now|shop now|order now|act now|click here|"
    r"don't miss|last chance|save \$?\d+|lowest price|unsubscribe|opt[- ]out|remove (?:me|yourself) from|"
    r"earn \$|make money|\$\d+(?:,\d{3})* (?:a|per) (?:day|week|month)|risk[- ]free|guarantee[d]?|viagra|"
    r"mortgage|casino|winner|you(?:'ve| have) (?:won|been selected))\b",
    re.IGNORECASE,
)
_NEWSLETTER = re.compile(r"\b(?:newsletter|digest|weekly|monthly|edition|issue #?\d+|this week in|roundup)\b", re.IGNORECASE)
_NOTIFICATION = re.compile(
    r"\b(?:build (?:failed|passed|succeeded)|pipeline|pull request|merge request|commented on|mentioned you|"
    r"review requested|invitation:|calendar|reminder:|alert:|notification|your (?:account|password)|"
    r"sign[- ]in|login attempt|security alert|automatic reply|out of office|delivery status)\b",
    re.IGNORECASE,
)
_WORK = re.compile(
    r"\b(?:meeting|project|report|deadline|client|customer|budget|review|contract|proposal|deck|slides|"
    r"quarter(?:ly)?|q[1-4]|roadmap|sprint|release|invoice|stakeholders?|agenda|presentation|draft|"
    r"spec|requirements|team|manager|office|schedule|deliverable|sign[- ]off|approval|hire|candidate|"
    r"interview|server|deploy|bug|patch|code|launch|customers?|engineering|staging|migration|database|"
    r"incident|ticket|standup|board|revenue|sales|pricing|renewal|metrics|dashboard|api|pr|merge|"
    r"colleagues?|staff|hr|payroll|okrs?|kpis?|forecast)\b",
    re.IGNORECASE,
)
# Strong private-life words count fully; weak ones ("weekend", "lunch") show up in work mail too.
_PERSONAL = re.compile(
    r"\b(?:birthday|family|mom|dad|mum|wedding|love|miss you|hugs|bbq|game night|hik(?:e|ing)|photos?|"
    r"pics|sister|brother|thanksgiving|christmas|grandma|grandpa|aunt|uncle|cousin|xoxo|beach|camping|"
    r"dinner|movie)\b",
    re.IGNORECASE,
)
_PERSONAL_WEAK = re.compile(
    r"\b(?:weekend|lunch|party|kids|holiday|vacation|trip|friends?|drinks|trail)\b", re.IGNORECASE
)
_FREEMAIL = {
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com", "me.com",
    "gmx.de", "gmx.net", "web.de", "proton.me", "protonmail.com", "mail.com", "live.com",
}


def classify_kind(email: Email, text: str) -> tuple[MailKind, list[str]]:
    lh = email.list_headers
    sender = email.from_address.address.lower()
    reasons: list[str] = []
    haystack = f"{email.subject}\n{text[:3000]}"
    transactional = _TRANSACTIONAL.search(haystack)
    marketing_hits = {m.group(0).lower() for m in _MARKETING.finditer(haystack)}

    auto = (lh.auto_submitted or "").strip().lower()
    precedence = (lh.precedence or "").strip().lower()
    if auto and auto != "no":
        reasons.append(f"Auto-Submitted: {lh.auto_submitted}")
    if precedence in ("auto_reply",):
        reasons.append(f"Precedence: {lh.precedence}")
    if _AUTOMATED_SENDER.match(sender):
        reasons.append(f"automated sender address {sender}")
    if lh.x_auto_response_suppress:
        reasons.append("X-Auto-Response-Suppress header")
    automated = bool(reasons)

    bulk_reasons = []
    if lh.list_unsubscribe:
        bulk_reasons.append("List-Unsubscribe header")
    if lh.list_id:
        bulk_reasons.append(f"List-Id: {lh.list_id}")
    if precedence in ("bulk", "list", "junk"):
        bulk_reasons.append(f"Precedence: {lh.precedence}")
    if lh.feedback_id or lh.x_campaign:
        bulk_reasons.append("bulk-sender campaign header")

    if transactional and (automated or bulk_reasons or _NOREPLY.match(sender)):
        return "transactional", reasons + bulk_reasons + [f"transactional wording: {transactional.group(0)!r}"]
    if bulk_reasons:
        if len(marketing_hits - {"unsubscribe", "opt-out", "opt out"}) >= 1:
            return "marketing", bulk_reasons + [f"promotional wording: {', '.join(sorted(marketing_hits)[:3])}"]
        return "bulk", bulk_reasons
    if automated:
        return "automated", reasons
    # No telling headers: fall back on the text.
    if len(marketing_hits) >= 2:
        return "marketing", [f"promotional wording: {', '.join(sorted(marketing_hits)[:3])}"]
    if _NOREPLY.match(sender) and _NOTIFICATION.search(haystack):
        return "automated", [f"notification from {sender}"]
    if transactional and _NOREPLY.match(sender):
        return "transactional", [f"transactional wording: {transactional.group(0)!r}"]
    return "personal", ["no bulk or automation signals"]


def classify_category(email: Email, kind: MailKind, text: str, own_domains: set[str]) -> str:
    if kind == "marketing":
        return "Promotions"
    if kind in ("automated", "transactional"):
        return "Updates"
    if kind == "bulk":
        return "Forums" if email.list_headers.list_id and not _NEWSLETTER.search(email.subject) else "Updates"
    domain = email.from_address.address.rpartition("@")[2].lower()
    haystack = f"{email.subject}\n{text[:3000]}"
    # Own domains hint at colleagues, but people also use one domain for private mail: a hint only.
    work = len(_WORK.findall(haystack)) + (1 if domain and domain in own_domains else 0)
    personal = (
        2 * len(_PERSONAL.findall(haystack))
        + 0.5 * len(_PERSONAL_WEAK.findall(haystack))
        + (2 if domain in _FREEMAIL else 0)
    )
    return "Personal" if personal > work else "Work"
