"""Turn :class:`~beacon.demo.spec.DemoMessage` values into RFC 5322 messages and mbox bytes.

Everything that the ``email`` package would otherwise pick at random or from the clock is
fixed here: MIME boundaries come from the message key, the mbox ``From `` line from the
message date, and the ``Received`` trace from the date plus a few seconds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from email import policy
from email.charset import Charset
from email.header import Header
from email.message import Message, MIMEPart
from email.utils import format_datetime

from beacon.demo import DEMO_OWN_ADDRESSES
from beacon.demo.spec import DemoMessage

# Alex's mail servers (one per own domain) stamp inbound mail with one Received line.
_MX_TZ = timezone(timedelta(hours=-8))


def _digest(*parts: str) -> str:
    return hashlib.sha1("\x00".join(parts).encode()).hexdigest()


def _clock(d: datetime) -> str:
    hour = d.hour % 12 or 12
    return f"{hour}:{d:%M} {'AM' if d.hour < 12 else 'PM'}"


def _attribution(reply: DemoMessage, parent: DemoMessage) -> str:
    """The "On ... wrote:" line, in the replier's own timezone like real clients."""
    d = parent.date.astimezone(reply.date.tzinfo)
    who = parent.sender.header()
    if reply.quote_style == "apple":
        return f"On {d:%b} {d.day}, {d.year}, at {d:%H:%M}, {who} wrote:"
    return f"On {d:%a}, {d:%b} {d.day}, {d.year} at {_clock(d)} {who} wrote:"


def full_text(msg: DemoMessage, index: Mapping[str, DemoMessage]) -> str:
    """The plain-text body as sent: the new text, then the quoted parent (recursively)."""
    own = msg.text or ""
    if msg.parent is None:
        return own
    parent = index[msg.parent]
    quoted = "\n".join(f"> {line}" if line else ">" for line in full_text(parent, index).splitlines())
    return f"{own.rstrip()}\n\n{_attribution(msg, parent)}\n{quoted}\n"


def references(msg: DemoMessage, index: Mapping[str, DemoMessage]) -> list[str]:
    """Message-IDs of every ancestor, oldest first (RFC 5322 section 3.6.4)."""
    if msg.parent is None:
        return []
    parent = index[msg.parent]
    return [*references(parent, index), parent.message_id]


def _own_recipient(msg: DemoMessage) -> str:
    for person in (*msg.to, *msg.cc):
        if person.address in DEMO_OWN_ADDRESSES:
            return person.address
    return DEMO_OWN_ADDRESSES[0]  # reached Alex through a list or group alias


def _envelope_headers(msg: DemoMessage, index: Mapping[str, DemoMessage]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if msg.sender.address not in DEMO_OWN_ADDRESSES:
        d = _digest(msg.key, "received")
        host = f"mail-out.{msg.sender.domain}"
        rcpt = _own_recipient(msg)
        arrived = (msg.date + timedelta(seconds=3 + int(d[:2], 16) % 40)).astimezone(_MX_TZ)
        headers.append(
            (
                "Received",
                f"from {host} ({host} [192.0.2.{int(d[2:4], 16) % 250 + 1}]) "
                f"by mx1.{rcpt.rpartition('@')[2]} with ESMTPS id {d[4:14].upper()} for <{rcpt}>; "
                f"{format_datetime(arrived)}",
            )
        )
    headers += [
        ("Message-ID", msg.message_id),
        ("Date", format_datetime(msg.date)),
        ("From", msg.sender.header()),
        ("To", ", ".join(p.header() for p in msg.to)),
    ]
    if msg.cc:
        headers.append(("Cc", ", ".join(p.header() for p in msg.cc)))
    if msg.reply_to:
        headers.append(("Reply-To", msg.reply_to.header()))
    headers.append(("Subject", msg.subject))
    refs = references(msg, index)
    if refs:
        headers.append(("In-Reply-To", refs[-1]))
        headers.append(("References", " ".join(refs)))
    headers += msg.headers
    return headers


def _cte(text: str) -> str | None:
    # Non-ASCII text goes out quoted-printable, as mainstream clients send it.
    return None if text.isascii() else "quoted-printable"


def _set_text(part: MIMEPart, text: str, subtype: str = "plain") -> None:
    part.set_content(text, subtype=subtype, cte=_cte(text))


def _add_body(root: MIMEPart, msg: DemoMessage, text: str | None) -> None:
    """Build the body tree under ``root``'s headers; ``make_*`` keep non-content headers on top.

    A bare MIMEPart (not EmailMessage) is used so no sub-part gets its own MIME-Version.
    """
    if text is not None:
        _set_text(root, text)
    if msg.html is not None:
        if text is None and not msg.html_in_alternative:
            _set_text(root, msg.html, "html")
        else:
            root.add_alternative(msg.html, subtype="html", cte=_cte(msg.html))
    if msg.calendar is not None:
        root.add_alternative(msg.calendar, subtype="calendar", params={"method": "REQUEST"})
    html_part = _find(root, "text/html")
    for att in msg.attachments:
        maintype, _, subtype = att.content_type.partition("/")
        if att.content_id is not None:
            if html_part is None:
                raise ValueError(f"{msg.key}: an inline image needs an HTML body")
            html_part.add_related(
                att.data, maintype, subtype, cid=f"<{att.content_id}>",
                disposition="inline", filename=att.filename,
            )
            html_part = _find(root, "text/html")  # add_related moved it into a new part
        elif maintype == "text":
            root.add_attachment(att.data.decode(), subtype=subtype, filename=att.filename)
        else:
            root.add_attachment(att.data, maintype, subtype, filename=att.filename)


def _find(root: Message, content_type: str) -> MIMEPart | None:
    for part in root.walk():
        if part.get_content_type() == content_type:
            return part  # type: ignore[return-value]
    return None


def _fix_boundaries(root: Message, key: str) -> None:
    for n, part in enumerate(p for p in root.walk() if p.is_multipart()):
        part.set_boundary(f"000000000000{_digest(key, 'boundary', str(n))[:16]}")


def _legacy_text_message(msg: DemoMessage, text: str, headers: list[tuple[str, str]]) -> Message:
    """A text/plain message in a non-UTF-8 charset, sent 8bit, with an RFC 2047 subject.

    Built with the compat32 API because the modern one re-encodes every non-ASCII header
    as UTF-8, and the point of this message is a charset other than UTF-8 throughout.
    """
    if msg.html is not None or msg.attachments or msg.calendar:
        raise ValueError(f"{msg.key}: non-UTF-8 demo messages are plain text only")
    out = Message()
    for name, value in headers:
        out[name] = Header(value, msg.charset) if name == "Subject" else value
    out["MIME-Version"] = "1.0"
    charset = Charset(msg.charset)
    charset.body_encoding = None  # raw 8-bit bytes in that charset, like many mail clients
    out.set_payload(text, charset)
    return out


def render(msg: DemoMessage, index: Mapping[str, DemoMessage]) -> Message:
    """One complete message: envelope headers, MIME-Version, then the MIME body."""
    headers = _envelope_headers(msg, index)
    text = full_text(msg, index) if msg.text is not None else None
    if msg.charset.lower() not in ("utf-8", "us-ascii"):
        return _legacy_text_message(msg, text or "", headers)
    out = MIMEPart(policy=policy.default)
    for name, value in headers:
        out[name] = value
    out["MIME-Version"] = "1.0"
    _add_body(out, msg, text)
    _fix_boundaries(out, msg.key)
    return out


def mbox_entry(msg: DemoMessage, index: Mapping[str, DemoMessage]) -> bytes:
    """The message as bytes, led by an mbox ``From `` line dated from the message itself.

    ``mailbox.mbox`` would otherwise stamp the line with the current time.
    """
    envelope = dict(msg.headers).get("Return-Path", msg.sender.address).strip("<>")
    stamp = time.asctime(msg.date.astimezone(timezone.utc).timetuple())
    return f"From {envelope} {stamp}\n".encode() + render(msg, index).as_bytes()
