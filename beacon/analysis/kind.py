"""What kind of mail this is — personal, notification, newsletter, marketing or spam — and why.

Decided before any NLP runs (the kind picks the full or the light pipeline), in this order:

1. the reader's own marks: an IMAP ``$Junk`` keyword or a Junk/Spam folder make it spam,
   ``$NotJunk`` rules spam out;
2. the verdict a mail server already wrote (SpamAssassin's X-Spam-*, rspamd's headers), unless
   the reader has written to this sender (spam filters whitelist known correspondents too);
3. headers and sender: Auto-Submitted, trackers, CI, feeds and no-reply senders make a
   notification; List-Unsubscribe without List-Post, Feedback-ID and bulk-mail services make a
   newsletter or, with promotional wording, marketing; a post to a discussion list is personal;
4. content and the statistical text model (``kind_model``): footers, link and image density,
   HTML-only layout, and P(personal | bulk | spam) from the words.

Every verdict carries the reasons a person can check; the category (Work, Personal, Forums,
Updates, Promotions) is derived from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from beacon.analysis.context import EMPTY_CONTEXT, MailContext
from beacon.analysis.kind_model import KindModel
from beacon.analysis.kind_signals import FREEMAIL, Signals, domain_of, read_signals, server_verdict
from beacon.analysis.models import MailKind
from beacon.models import Email

_REPLY = re.compile(r"\s*(?:re|aw|sv|antw|r)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
MACHINE_KINDS: frozenset[str] = frozenset({"notification", "newsletter", "marketing", "spam"})

# P(spam) from the text model at which unflagged mail is called spam. Chosen on the training
# split by cross-validation (bench/triage.py): ham called spam stays under 1 %.
SPAM_THRESHOLD = 0.55
# Stricter where other evidence speaks for the mail: a server said "not spam", or the sender
# identifies itself as a bulk sender with an unsubscribe header.
SPAM_THRESHOLD_VOUCHED = 0.85
# For mail in another language than the model's: it must look like spam even to a reader of English.
SPAM_THRESHOLD_FOREIGN = 0.75
PERSONAL_FLOOR_FOREIGN = 0.25
# P(bulk) from the text model that makes a mail without bulk headers a newsletter or marketing.
BULK_THRESHOLD = 0.6
# Distinct promotional phrases (subject ones count twice) that make a stranger's mail advertising.
PROMO_PHRASES = 2
# A newsletter-like subject ("Issue 12", a date) needs only this much P(bulk) to count.
MASTHEAD_BULK = 0.2
# Below this P(personal), mail with no header evidence either way goes to the likelier machine class.
PERSONAL_FLOOR = 0.45


@dataclass
class KindVerdict:
    kind: MailKind
    reasons: list[str]
    scores: dict[str, float] = field(default_factory=dict)  # the text model's probabilities


def _pct(p: float) -> str:
    return f"{100 * p:.0f} %"


def classify_kind(
    email: Email, text: str, ctx: MailContext = EMPTY_CONTEXT, model: KindModel | None = None,
    foreign: bool = False,
) -> KindVerdict:
    """``foreign``: the mail is in a language the text model was not trained on (it learned English
    mail, and the other languages only from spam): its word-based guess is then trusted only when
    it is near certain, and a low P(personal) proves nothing."""
    scores = {c: round(p, 4) for c, p in model.predict(email).items()} if model else {}
    p_spam, p_bulk = scores.get("spam", 0.0), scores.get("bulk", 0.0)
    notes: list[str] = []

    def verdict(kind: MailKind, reasons: list[str]) -> KindVerdict:
        return KindVerdict(kind, [*reasons, *notes], scores)

    sender = email.from_address.address.lower()
    correspondent = ctx.sent_to_sender > 0
    if correspondent:
        notes.append(f"you have written to {sender} ({ctx.sent_to_sender}×)")
    elif ctx.sent_to_domain > 0:
        notes.append(f"you have written to @{domain_of(sender)} ({ctx.sent_to_domain}×)")

    # 1. The reader's own marks.
    not_junk = ctx.has_keyword("$NotJunk") or ctx.has_keyword("NonJunk")
    if not not_junk:
        if ctx.has_keyword("$Junk") or ctx.has_keyword("Junk"):
            return verdict("spam", ["marked as junk ($Junk keyword)"])
        if ctx.in_junk_folder:
            return verdict("spam", [f"in your junk folder {ctx.folder}"])
    else:
        notes.append("marked as not junk ($NotJunk)")

    # 2. A verdict the mail server already made.
    server = server_verdict(email)
    if server is not None and server.spam and not not_junk:
        if not correspondent:
            return verdict("spam", [server.reason])
        notes.insert(0, f"{server.reason}, overruled: you have written to this sender")

    sig = read_signals(email, text)
    known = correspondent or ctx.sent_to_domain > 0 or not_junk
    is_reply = bool(_REPLY.match(email.subject or "")) or bool(email.in_reply_to)

    # 3. Machines announce themselves in headers; people post to discussion lists.
    if sig.notification and not (correspondent and sig.discussion):
        return verdict("notification", sig.notification + sig.notification_hint[:1])
    # Legitimate bulk senders identify themselves (List-Unsubscribe, feedback loops); a server's
    # explicit "not spam" also counts: the text model alone must then be surer.
    vouched = bool(sig.bulk) or (server is not None and not server.spam)
    threshold = SPAM_THRESHOLD_FOREIGN if foreign else SPAM_THRESHOLD_VOUCHED if vouched else SPAM_THRESHOLD
    if model is not None and not known and p_spam >= threshold:
        reasons = [f"text model: spam {_pct(p_spam)}"]
        terms = model.top_terms(email, "spam")
        if terms:
            reasons[0] += f" ({', '.join(terms)})"
        if server is not None and not server.spam:
            reasons.append(f"despite {server.reason}")
        return verdict("spam", reasons + sig.bulk[:1] + sig.bulk_hint[:1] + sig.layout[:1])
    if sig.ad_label and not known:
        kind: MailKind = "spam" if sig.ad_label == "unsolicited" else "marketing"
        return verdict(kind, [f"subject labelled as {'an unsolicited ' if kind == 'spam' else 'an '}advertisement "
                              f"({sig.ad_label_text})"] + sig.bulk[:1])
    if sig.bulk:
        return _bulk(sig, sig.bulk + sig.bulk_hint[:1], notes, scores)
    if not known and not is_reply and sig.promo_score >= PROMO_PHRASES:
        # Sales copy from a stranger, headers or not: people rarely write two ad phrases.
        if p_spam >= p_bulk and model is not None:
            return verdict("spam", [sig.marketing[0], f"text model: spam {_pct(p_spam)}, bulk {_pct(p_bulk)}"]
                           + sig.bulk_hint[:1])
        return _bulk(sig, sig.bulk_hint[:1] + sig.layout[:1], notes, scores)
    if sig.discussion:
        if sig.notification_hint and sig.sender_role == "automated":
            return verdict("notification", sig.notification_hint + sig.discussion[:1])
        if not is_reply and (sig.subject_news or p_bulk >= BULK_THRESHOLD):
            # Announcement lists run on the same software as discussion lists.
            why = [f"newsletter subject ({sig.subject_news})"] if sig.subject_news else [f"text model: bulk {_pct(p_bulk)}"]
            return _bulk(sig, why + sig.discussion[:1], notes, scores)
        return verdict("personal", sig.discussion[:1] + [f"written by {email.from_address.name or sender}"])

    # 4. No telling headers: the sender's address, the content and the text model.
    evidence = sig.bulk_hint + sig.layout
    if sig.sender_role == "automated" and not correspondent:
        if evidence and (p_bulk >= BULK_THRESHOLD or sig.newsletter or sig.marketing):
            return _bulk(sig, _sender_note(sig, sender) + evidence, notes, scores)
        return verdict("notification", _sender_note(sig, sender) + sig.notification_hint[:2])
    if sig.notification_hint and (sig.sender_role or p_bulk >= BULK_THRESHOLD or sig.layout) and not correspondent:
        return verdict("notification", sig.notification_hint + _sender_note(sig, sender))
    if not correspondent and not is_reply:
        model_says = [f"text model: bulk {_pct(p_bulk)}"] if p_bulk >= BULK_THRESHOLD else []
        if model_says and not foreign and (evidence or sig.sender_role or sig.newsletter or sig.marketing
                                           or p_bulk >= 0.8):
            return _bulk(sig, model_says + _sender_note(sig, sender) + evidence, notes, scores)
        if sig.sender_role == "role" and evidence:
            return _bulk(sig, _sender_note(sig, sender) + evidence, notes, scores)
        if len(evidence) >= 2 and (sig.marketing or sig.newsletter):
            return _bulk(sig, evidence, notes, scores)
        if sig.subject_news and (evidence or p_bulk >= MASTHEAD_BULK):
            return _bulk(sig, [f"newsletter subject ({sig.subject_news})"] + evidence
                         + ([f"text model: bulk {_pct(p_bulk)}"] if p_bulk >= MASTHEAD_BULK else []), notes, scores)
        floor = PERSONAL_FLOOR_FOREIGN if foreign else PERSONAL_FLOOR
        if model is not None and not known and scores.get("personal", 1.0) < floor:
            # Not written by a person, says the model, and no header vouches for a sender:
            # the likelier of its two machine classes.
            if p_spam >= p_bulk:
                terms = model.top_terms(email, "spam")
                return verdict("spam", [f"text model: spam {_pct(p_spam)}, personal {_pct(1 - p_spam - p_bulk)}"
                                        + (f" ({', '.join(terms)})" if terms else "")] + evidence[:2])
            return _bulk(sig, [f"text model: bulk {_pct(p_bulk)}, personal {_pct(1 - p_spam - p_bulk)}"] + evidence,
                         notes, scores)
    reasons = ["no bulk or automation signals"]
    if model is not None:
        reasons.append(f"text model: personal {_pct(scores.get('personal', 0.0))}")
    return verdict("personal", reasons)


def _sender_note(sig: Signals, sender: str) -> list[str]:
    if sig.sender_role == "automated":
        return [f"automated sender address {sender or '(none)'}"]
    if sig.sender_role == "role":
        return [f"role sender address {sender}"]
    return []


def _bulk(sig: Signals, why: list[str], notes: list[str], scores: dict[str, float]) -> KindVerdict:
    """Newsletter or marketing: promotional wording that outweighs editorial wording decides."""
    if sig.sales_tool or sig.promo_score > max(1, sig.news_score):
        return KindVerdict("marketing", [*why, *sig.marketing[:1], *notes], scores)
    return KindVerdict("newsletter", [*why, *sig.newsletter[:1], *notes], scores)


# --- category: Gmail-style tabs, derived from the kind ------------------------------------------
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
_PERSONAL_WEAK = re.compile(r"\b(?:weekend|lunch|party|kids|holiday|vacation|trip|friends?|drinks|trail)\b",
                            re.IGNORECASE)


def classify_category(email: Email, kind: MailKind, text: str, own_domains: set[str]) -> str:
    if kind == "spam":
        return "Spam"
    if kind == "marketing":
        return "Promotions"
    if kind in ("notification", "newsletter"):
        return "Updates"
    lh = email.list_headers
    if lh.list_id or (lh.list_post and lh.list_post.strip().upper() != "NO"):
        return "Forums"
    domain = domain_of(email.from_address.address)
    haystack = f"{email.subject}\n{text[:3000]}"
    # Own domains hint at colleagues, but people also use one domain for private mail: a hint only.
    work = len(_WORK.findall(haystack)) + (1 if domain and domain in own_domains else 0)
    personal = (
        2 * len(_PERSONAL.findall(haystack))
        + 0.5 * len(_PERSONAL_WEAK.findall(haystack))
        + (2 if domain in FREEMAIL else 0)
    )
    return "Personal" if personal > work else "Work"
