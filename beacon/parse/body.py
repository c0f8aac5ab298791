"""MIME walk: body text parts, attachments and per-part problems.

Rules (why they are what they are):
- A leaf part is *body text* when it is text/plain or text/html, has no filename and is
  not ``Content-Disposition: attachment``. Everything else with content is an attachment
  (non-text parts, text/calendar, named text files, inline images with a Content-ID).
- ``message/rfc822`` parts (forwarded or bounced messages) are attachments as a whole
  (named after the filename parameter, else their subject + ".eml"); their inner text is
  not mixed into this message's body, because it is not what this sender wrote. Other
  ``message/*`` parts (delivery-status) are attachments too, under their own type.
- A ``multipart/*`` whose boundary is missing or never found is read as plain text, so
  a broken multipart still yields whatever text is there.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message

from beacon.models import AttachmentInfo, ParseProblem
from beacon.parse.headers import decode_value, raw_value
from beacon.parse.text import clean_text, decode_bytes

_BODY_TYPES = ("text/plain", "text/html")
_META_CHARSET = re.compile(rb"<meta[^>]*charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_MAX_DEPTH = 50  # nesting beyond this is hostile; stop walking


@dataclass
class TextPart:
    content_type: str  # text/plain or text/html
    text: str
    path: str


@dataclass
class BodyParts:
    texts: list[TextPart] = field(default_factory=list)
    attachments: list[tuple[AttachmentInfo, bytes]] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)


def _payload_bytes(part: Message) -> bytes:
    """Transfer-decoded payload bytes of a leaf part (base64/QP errors become defects)."""
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("ascii", "surrogateescape")
    return b""


def _content_type(part: Message) -> str:
    """Lower-case type/subtype; a mangled one (8-bit bytes, junk) becomes octet-stream."""
    try:
        ctype = part.get_content_type()
    except Exception:  # noqa: BLE001 - a mangled Content-Type header
        return "application/octet-stream"
    return ctype if _MIME_TYPE.match(ctype) else "application/octet-stream"


def _filename(part: Message, body: BodyParts, path: str) -> str | None:
    """Filename from Content-Disposition or Content-Type name (RFC 2231 and RFC 2047)."""
    try:
        name = part.get_filename() or part.get_param("name")
    except Exception as exc:  # noqa: BLE001 - bad RFC 2231 continuations etc.
        body.problems.append(ParseProblem(kind="header", detail=f"bad filename: {exc}", part=path))
        return None
    if isinstance(name, tuple):  # get_param returns RFC 2231 values as a triple
        charset, _lang, value = name
        name = decode_bytes(value.encode("latin-1", "surrogateescape"), charset or "utf-8")[0]
    if not name:
        return None
    text, problems = decode_value(str(name))
    for problem in problems:
        body.problems.append(ParseProblem(kind="header", detail=f"filename: {problem}", part=path))
    return text or None


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:  # noqa: BLE001
        return None


def _add_attachment(part: Message, data: bytes, ctype: str, name: str | None, body: BodyParts) -> None:
    cid = raw_value(part, "Content-ID")
    cid_text = decode_value(cid)[0].strip("<> ") if cid else None
    info = AttachmentInfo(
        filename=name or "",
        content_type=ctype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_id=cid_text or None,
        inline=_disposition(part) == "inline" or (bool(cid_text) and _disposition(part) is None),
    )
    body.attachments.append((info, data))


def _attached_message(part: Message, ctype: str, path: str, name: str | None, body: BodyParts) -> None:
    """message/* parts: the stdlib parses their payload into header blocks; re-serialise."""
    payload = part.get_payload()
    chunks: list[bytes] = []
    if isinstance(payload, list):
        for inner in payload:
            try:
                chunks.append(inner.as_bytes())
            except Exception as exc:  # noqa: BLE001 - re-serialising junk can fail
                body.problems.append(ParseProblem(kind="decode", detail=f"attached message: {exc}", part=path))
        if ctype == "message/rfc822" and not name and payload and isinstance(payload[0], Message):
            subject = raw_value(payload[0], "Subject")
            name = ((decode_value(subject)[0] if subject else "") or "message")[:100] + ".eml"
    elif isinstance(payload, str):
        chunks.append(payload.encode("ascii", "surrogateescape"))
    if ctype == "message/rfc822" and not name:
        name = "message.eml"
    _add_attachment(part, b"\n".join(chunks), ctype, name, body)


def _meta_charset(html: bytes) -> str | None:
    """Charset declared inside an HTML part's <meta> tag (used when the MIME header has none)."""
    found = _META_CHARSET.search(html[:4096])
    return found.group(1).decode("ascii") if found else None


def _leaf(part: Message, path: str, body: BodyParts) -> None:
    ctype = _content_type(part)
    name = _filename(part, body, path)
    disposition = _disposition(part)
    data = _payload_bytes(part)
    broken_multipart = ctype.startswith("multipart/")
    if broken_multipart:
        body.problems.append(ParseProblem(
            kind="structure", detail=f"{ctype} without usable boundary; read as text", part=path))
    is_text = ctype in _BODY_TYPES or broken_multipart
    if is_text and not name and disposition != "attachment":
        try:
            charset = part.get_content_charset()
        except Exception:  # noqa: BLE001 - e.g. non-ASCII RFC 2231 charset
            charset = None
        if charset is None and ctype == "text/html":
            charset = _meta_charset(data)
        text, problem = decode_bytes(data, charset)
        if problem:
            body.problems.append(ParseProblem(kind="charset", detail=problem, part=path))
        kind = "text/html" if ctype == "text/html" else "text/plain"
        body.texts.append(TextPart(content_type=kind, text=clean_text(text), path=path))
        return
    if not data and not name:
        return  # an empty, nameless non-text part carries nothing worth keeping
    _add_attachment(part, data, ctype, name, body)


def _walk(part: Message, path: str, depth: int, body: BodyParts) -> None:
    if depth > _MAX_DEPTH:
        body.problems.append(ParseProblem(kind="structure", detail="MIME nesting too deep", part=path))
        return
    try:
        ctype = _content_type(part)
        if ctype == "message/rfc822" or (part.is_multipart() and not ctype.startswith("multipart/")):
            _attached_message(part, ctype, path or "1", _filename(part, body, path), body)
        elif part.is_multipart():
            children = part.get_payload()
            if not children:
                body.problems.append(ParseProblem(kind="structure", detail="multipart without parts", part=path))
            for index, child in enumerate(children, start=1):
                _walk(child, f"{path}.{index}" if path else str(index), depth + 1, body)
        else:
            _leaf(part, path or "1", body)
    except Exception as exc:  # noqa: BLE001 - one bad part must not lose the others
        body.problems.append(ParseProblem(
            kind="decode", detail=f"{type(exc).__name__}: {exc}", part=path or None))
    _collect_defects(part, path, body)


def _collect_defects(part: Message, path: str, body: BodyParts) -> None:
    for defect in getattr(part, "defects", []) or []:
        detail = type(defect).__name__
        if str(defect) and str(defect) != detail:
            detail = f"{detail}: {defect}"
        body.problems.append(ParseProblem(kind="mime-defect", detail=detail, part=path or None))


def walk_body(msg: Message) -> BodyParts:
    """Collect body texts, attachments and problems from a parsed message."""
    body = BodyParts()
    _walk(msg, "", 0, body)
    return body
