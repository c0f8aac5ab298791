"""The store's knowledge about an email that the analysis needs: the reader's history with the
sender, and where the email sits (folder, IMAP keywords). Main process only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, func, literal, select
from sqlalchemy.orm import Session

from beacon.analysis.context import MailContext
from beacon.analysis.kind_signals import FREEMAIL
from beacon.settings import Settings
from beacon.store.app_settings import personal_settings
from beacon.store.schema import Account, EmailRow, ImapFolder, ImapMessage


def own_addresses(s: Session, account_id: int, settings: Settings) -> list[str]:
    """The reader's addresses for this account: its owner's own addresses (personal settings
    over ``settings``) and the account's."""
    acc = s.get(Account, account_id)
    settings = personal_settings(s, settings, acc.user_id if acc else None)
    extra = [a.lower() for a in (acc.addresses if acc else []) or []]
    return sorted({a.lower() for a in settings.own_addresses} | set(extra))


def sent_to(s: Session, account_id: int, own: Sequence[str], needle: str) -> int:
    """Mails the reader (any of ``own``) sent with ``needle`` among the recipients: a whole
    address ("bob@x.com", never matching "jimbob@x.com") or "@domain"."""
    if not own or not needle:
        return 0
    pattern = f" {needle} " if not needle.startswith("@") else f"{needle} "
    return s.scalar(_SENT_TO, {"account": account_id, "own": list(own), "pattern": f"%{_like_escaped(pattern)}%"}) or 0


# Built once: building it cost as much as running it, and the engine runs it three times per
# analysed email. The needle is escaped as ``contains(autoescape=True)`` escapes it.
_SENT_TO = select(func.count(EmailRow.id)).where(
    EmailRow.account_id == bindparam("account"),
    EmailRow.from_addr.in_(bindparam("own", expanding=True)),
    (literal(" ") + EmailRow.recipients + literal(" ")).like(bindparam("pattern"), escape="/"),
)


def _like_escaped(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def mail_contexts(s: Session, rows: Iterable[EmailRow], settings: Settings) -> dict[int, MailContext]:
    """A ``MailContext`` per email row (a few indexed queries each; rows of one batch)."""
    rows = list(rows)
    if not rows:
        return {}
    imap = {
        email_id: (name, list(flags or []))
        for email_id, name, flags in s.execute(
            select(ImapMessage.email_id, ImapFolder.name, ImapMessage.flags)
            .join(ImapFolder, ImapFolder.id == ImapMessage.folder_id)
            .where(ImapMessage.email_id.in_([r.id for r in rows]))
        )
    }
    owns: dict[int, list[str]] = {}
    out: dict[int, MailContext] = {}
    for row in rows:
        own = owns.get(row.account_id)
        if own is None:
            own = owns[row.account_id] = own_addresses(s, row.account_id, settings)
        sender = (row.from_addr or "").lower()
        domain = sender.rpartition("@")[2]
        own_domains = {a.rpartition("@")[2] for a in own}
        by_domain = 0
        if domain and domain not in FREEMAIL and domain not in own_domains:
            by_domain = sent_to(s, row.account_id, own, f"@{domain}")
        folder, keywords = imap.get(row.id, (row.source, []))
        out[row.id] = MailContext(
            sent_to_sender=sent_to(s, row.account_id, own, sender) if sender not in own else 0,
            sent_to_domain=by_domain,
            folder=folder,
            keywords=keywords,
        )
    return out
