"""Reply links: ``mailto:`` URLs (RFC 6068) that open the reader's own mail client with a reply
already addressed, titled and threaded.

Beacon does not send mail; the reader's client does, so the link must carry what a client's
own Reply button would: the Reply-To addresses over From (RFC 5322 3.6.2), the subject with one
"Re: ", and In-Reply-To / References so the answer joins the thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from beacon.models import Address, Email

__all__ = ["ReplyLinks", "reply_links", "reply_subject"]

# "Re:", "RE :", "Re[2]:", "Re: Re:" and the common translations ("Aw:" German, "Sv:"
# Scandinavian, "Antw:" Dutch, "Réf"...): all collapse into one "Re: ".
_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|aw|sv|vs|antw|ref|réf)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+", re.IGNORECASE)
# A References header past this many ids is cut from the front (RFC 5322 3.6.4 allows it:
# the first id and the latest ones matter); mailto URLs must stay a sensible length.
MAX_REFERENCES = 10


@dataclass(frozen=True)
class ReplyLinks:
    reply: str  # to the sender (Reply-To over From)
    reply_all: str | None  # also to the other recipients, when there are any besides the reader


def reply_subject(subject: str) -> str:
    rest = _REPLY_PREFIX.sub("", subject or "").strip()
    return f"Re: {rest}" if rest else "Re:"


def reply_links(email: Email, own_addresses: Iterable[str] = ()) -> ReplyLinks:
    own = {a.strip().lower() for a in own_addresses if a.strip()}
    senders = _unique(email.reply_to or email.from_ or ([email.sender] if email.sender else []), own)
    others = [a for a in _unique([*email.to, *email.cc], own) if a.lower() not in {s.lower() for s in senders}]
    headers = _thread_headers(email)
    reply = _mailto(senders, [], reply_subject(email.subject), headers)
    reply_all = _mailto(senders, others, reply_subject(email.subject), headers) if others else None
    return ReplyLinks(reply, reply_all)


def _unique(addresses: Iterable[Address], own: set[str]) -> list[str]:
    """Bare addresses, each once, without the reader's own (a reply is not sent to oneself)."""
    seen: dict[str, str] = {}
    for a in addresses:
        address = a.address.strip()
        key = address.lower()
        if address and "@" in address and key not in own and key not in seen:
            seen[key] = address
    return list(seen.values())


def _thread_headers(email: Email) -> list[tuple[str, str]]:
    if email.message_id_synthetic:
        return []  # an id Beacon made up would thread the reply to nothing
    refs = [*email.references, email.message_id]
    if len(refs) > MAX_REFERENCES:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1):]]
    return [("In-Reply-To", f"<{email.message_id}>"), ("References", " ".join(f"<{r}>" for r in refs))]


def _mailto(to: list[str], cc: list[str], subject: str, headers: list[tuple[str, str]]) -> str:
    # RFC 6068: addresses comma-separated in the path, every header value percent-encoded
    # (a space is %20, never "+", which clients would keep as a plus).
    path = ",".join(quote(a, safe="@") for a in to)
    fields = [("cc", ",".join(cc))] if cc else []
    fields += [("subject", subject), *headers]
    return f"mailto:{path}?" + "&".join(f"{name}={quote(value, safe='')}" for name, value in fields)
