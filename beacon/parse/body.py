"""MIME walk: body text parts, attachments and per-part problems.

Rules (why they are what they are):
- A leaf part is *body text* when it is text/plain or text/html, has no filename and is
  not ``Content-Disposition: attachment``. Everything else with content is an attachment
  (non-text parts, text/calendar, named text files, inline images with a Content-ID).
  An *inline* text part with a filename is body text when the message has no other body
  text (some clients name the body part); otherwise it is an attachment.
- ``Content-Encoding: gzip`` (or deflate) on a text part is undone within a bound; a part
  that would inflate beyond it (a bomb) is kept as a compressed attachment, not decoded.
- Repairs before giving up: a Content-Transfer-Encoding with blanks around its token is
  read by its token; a multipart whose boundary was folded or whose part carries two
  Content-Type headers is re-read with the boundary its body really uses.
- Attachment bytes are measured (size, SHA-256) and dropped unless asked for: the store
  keeps them once, inside the raw message, and :func:`extract_parts` decodes them again.
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
import zlib
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser

from beacon.models import AttachmentInfo, ParseProblem
from beacon.parse.headers import RAW_POLICY, decode_value, forget_index, raw_value, raw_values
from beacon.parse.mime import decode_span, read_mime
from beacon.parse.text import clean_text, decode_bytes

_BODY_TYPES = ("text/plain", "text/html")
_META_CHARSET = re.compile(rb"<meta[^>]*charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_MAX_DEPTH = 50  # nesting beyond this is hostile; stop walking
_MAX_INFLATED = 16 * 1024 * 1024  # bytes a Content-Encoding: gzip text part may grow to
_CTE_TOKEN = re.compile(r"[a-z0-9-]+")
_BOUNDARY_PARAM = re.compile(r"boundary\s*=\s*(\"[^\"]*\"|[^;\s]+)", re.IGNORECASE | re.DOTALL)


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
    keep_bytes: bool = True  # False: attachments carry b"" (their size and hash are kept)
    # Inline text parts with a filename: (index in attachments, TextPart) pairs.
    named_inline: list[tuple[int, TextPart]] = field(default_factory=list)
    wanted: set[str] | None = None  # extract_parts(): only these part paths, bytes kept
    found: dict[str, bytes] = field(default_factory=dict)


def _normalise_cte(part: Message, body: BodyParts, path: str) -> None:
    """"quoted-printable   " or "Base64;" still name an encoding: keep just the token."""
    value = raw_value(part, "Content-Transfer-Encoding")
    if value is None:
        return
    token = _CTE_TOKEN.search(value.strip().lower())
    clean = token.group(0) if token else ""
    if clean != value:
        del part["Content-Transfer-Encoding"]
        part["Content-Transfer-Encoding"] = clean
        forget_index(part)
        if value.strip().lower() != clean:
            body.problems.append(ParseProblem(
                kind="header", detail=f"Content-Transfer-Encoding {value.strip()[:40]!r} read as {clean!r}",
                part=path))


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


def _may_name(part: Message) -> bool:
    """Can the part carry a filename? Without "name" in its Content-Disposition and
    Content-Type, and without RFC 2231 parameters ("*", whose decoding can fail), the stdlib
    finds none: most parts are answered here, from the header index, without parsing the
    parameters twice."""
    return any("name" in value.lower() or "*" in value
               for header in ("Content-Disposition", "Content-Type") for value in raw_values(part, header))


def _filename(part: Message, body: BodyParts, path: str) -> str | None:
    """Filename from Content-Disposition or Content-Type name (RFC 2231 and RFC 2047)."""
    if not _may_name(part):
        return None
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


def _add_attachment(part: Message, data: bytes, ctype: str, name: str | None, body: BodyParts,
                    path: str) -> None:
    cid = raw_value(part, "Content-ID")
    cid_text = decode_value(cid)[0].strip("<> ") if cid else None
    info = AttachmentInfo(
        filename=name or "",
        content_type=ctype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_id=cid_text or None,
        inline=_disposition(part) == "inline" or (bool(cid_text) and _disposition(part) is None),
        part=path,
    )
    if body.wanted is not None and path in body.wanted:
        body.found[path] = data
    body.attachments.append((info, data if body.keep_bytes else b""))


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
    _add_attachment(part, b"\n".join(chunks), ctype, name, body, path)


def _meta_charset(html: bytes) -> str | None:
    """Charset declared inside an HTML part's <meta> tag (used when the MIME header has none)."""
    found = _META_CHARSET.search(html[:4096])
    return found.group(1).decode("ascii") if found else None


def _inflate(data: bytes, encoding: str, body: BodyParts, path: str) -> bytes | None:
    """Undo Content-Encoding gzip/deflate within :data:`_MAX_INFLATED`; None if refused."""
    wbits = 47 if encoding in ("gzip", "x-gzip") else 15  # 47: gzip or zlib header
    try:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(data, _MAX_INFLATED)
    except zlib.error:
        try:  # raw deflate, as some servers send it
            inflater = zlib.decompressobj(-15)
            out = inflater.decompress(data, _MAX_INFLATED)
        except zlib.error as exc:
            body.problems.append(ParseProblem(kind="decode", detail=f"Content-Encoding {encoding}: {exc}", part=path))
            return None
    if inflater.unconsumed_tail:
        body.problems.append(ParseProblem(
            kind="decode", part=path,
            detail=f"Content-Encoding {encoding}: inflates beyond {_MAX_INFLATED // 2**20} MB; kept compressed"))
        return None
    return out


def _measured_attachment(part: Message, path: str, body: BodyParts) -> bool:
    """A big part the big-message reader measured without decoding (see beacon.parse.mime)."""
    measured = getattr(part, "beacon_measured", None)
    if measured is None:
        return False
    if body.keep_bytes or (body.wanted is not None and path in body.wanted):
        # The bytes are asked for: decode them (from the raw message) after all.
        _add_attachment(part, decode_span(*part.beacon_span), _content_type(part),  # type: ignore[attr-defined]
                        _filename(part, body, path), body, path)
        return True
    size, sha256 = measured
    cid = raw_value(part, "Content-ID")
    cid_text = decode_value(cid)[0].strip("<> ") if cid else None
    body.attachments.append((AttachmentInfo(
        filename=_filename(part, body, path) or "", content_type=_content_type(part), size=size, sha256=sha256,
        content_id=cid_text or None, part=path,
        inline=_disposition(part) == "inline" or (bool(cid_text) and _disposition(part) is None),
    ), b""))
    return True


def _leaf(part: Message, path: str, body: BodyParts) -> None:
    if _measured_attachment(part, path, body):
        return
    _normalise_cte(part, body, path)
    ctype = _content_type(part)
    name = _filename(part, body, path)
    disposition = _disposition(part)
    data = _payload_bytes(part)
    broken_multipart = ctype.startswith("multipart/")
    if broken_multipart:
        body.problems.append(ParseProblem(
            kind="structure", detail=f"{ctype} without usable boundary; read as text", part=path))
    is_text = ctype in _BODY_TYPES or broken_multipart
    encoding = (raw_value(part, "Content-Encoding") or "").strip().lower()
    if is_text and encoding in ("gzip", "x-gzip", "deflate") and data:
        inflated = _inflate(data, encoding, body, path)
        if inflated is None:
            _add_attachment(part, data, "application/gzip", name or "body.gz", body, path)
            return
        data = inflated
    if is_text and disposition != "attachment" and (not name or disposition == "inline"):
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
        text_part = TextPart(content_type=kind, text=clean_text(text), path=path)
        if not name:
            body.texts.append(text_part)
            return
        # Named and inline: body text only if the message turns out to have no other.
        body.named_inline.append((len(body.attachments), text_part))
    if not data and not name:
        return  # an empty, nameless non-text part carries nothing worth keeping
    _add_attachment(part, data, ctype, name, body, path)


def _delimiter_lines(text: str) -> set[str]:
    return {line[2:].rstrip() for line in text.splitlines() if line.startswith("--")}


def _repair_multipart(part: Message, path: str, body: BodyParts) -> bool:
    """A multipart the parser could not split (folded boundary, two Content-Type headers):
    find the boundary its body really uses and re-read it. True when repaired."""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return False
    used = _delimiter_lines(payload)
    if not used:
        return False
    for value in raw_values(part, "Content-Type"):
        found = _BOUNDARY_PARAM.search(value)
        if not found:
            continue
        declared = found.group(1).strip('"')
        for candidate in (declared, re.sub(r"\s+", "", declared), re.sub(r"\s+", " ", declared)):
            if candidate and candidate in used:
                ctype = value.split(";", 1)[0].strip().lower()
                if not ctype.startswith("multipart/"):
                    ctype = "multipart/mixed"
                head = f'Content-Type: {ctype}; boundary="{candidate}"\n\n'
                data = head.encode("ascii", "surrogateescape") + payload.encode("ascii", "surrogateescape")
                fixed = BytesParser(policy=RAW_POLICY).parsebytes(data)
                if not isinstance(fixed.get_payload(), list):
                    continue
                part.set_payload(fixed.get_payload())
                del part["Content-Type"]
                part["Content-Type"] = f'{ctype}; boundary="{candidate}"'
                forget_index(part)
                part.defects = [d for d in getattr(part, "defects", [])
                                if type(d).__name__ not in ("StartBoundaryNotFoundDefect", "NoBoundaryInMultipart",
                                                            "MultipartInvariantViolationDefect")]
                body.problems.append(ParseProblem(
                    kind="structure", part=path or None,
                    detail=f"multipart boundary {declared[:60]!r} malformed or hidden by a second "
                           f"Content-Type; read with {candidate[:60]!r}"))
                return True
    return False


def _walk(part: Message, path: str, depth: int, body: BodyParts) -> None:
    if depth > _MAX_DEPTH:
        body.problems.append(ParseProblem(kind="structure", detail="MIME nesting too deep", part=path))
        return
    try:
        ctype = _content_type(part)
        if not part.is_multipart() and any(
                "multipart/" in v.lower() for v in raw_values(part, "Content-Type")):
            _repair_multipart(part, path, body)
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


def walk_body(msg: Message, *, keep_bytes: bool = True) -> BodyParts:
    """Collect body texts, attachments and problems from a parsed message."""
    body = BodyParts(keep_bytes=keep_bytes)
    _walk(msg, "", 0, body)
    if not body.texts and body.named_inline:
        promoted = {index for index, _ in body.named_inline}
        body.texts = [text for _, text in body.named_inline]
        body.attachments = [a for i, a in enumerate(body.attachments) if i not in promoted]
    return body


def extract_parts(raw: bytes, paths: set[str]) -> dict[str, bytes]:
    """Decoded bytes of the attachments at MIME ``paths`` (as recorded in AttachmentInfo.part)."""
    body = BodyParts(keep_bytes=False, wanted=set(paths))
    _walk(read_mime(raw, []), "", 0, body)
    return body.found
