"""Reading raw bytes into a MIME tree: the tolerant reader first, plain stdlib as fallback.

The stdlib parser (with :data:`RAW_POLICY`) does the work; this module fixes what makes
it lose content on real mail before and after it runs:

- a malformed header line (``Fro : x``: blanks before the colon, as RFC 822 allowed) ends
  the stdlib's header block and turns every header into body text; such lines are
  rewritten (``Fro: x``) so the other headers are kept;
- absurd structures (thousands of nested multiparts) make the stdlib recurse until it
  fails and read everything as one text; they are read flat instead: every leaf part
  between any declared boundary, without recursion;
- a big message (over :data:`BIG_MESSAGE`) would cost the stdlib parser several copies of
  itself (a text copy, a list of its lines, the joined payloads). It is split by its
  boundaries on the bytes instead; small parts are parsed by the stdlib as usual, and a
  big non-text part is only measured (size and SHA-256, decoding base64 a slice at a
  time): its bytes stay in the raw message, where the store reads them on demand.

Whatever was repaired is recorded as a problem. If the tolerant read fails, the plain
stdlib read is used; if that fails too, the headers alone.
"""

from __future__ import annotations

import re
from email import errors
from email.feedparser import NLCRE, NLCRE_eol, headerRE
from email.message import Message
from email.parser import BytesParser
from io import StringIO

from beacon.models import ParseProblem
from beacon.parse.headers import RAW_POLICY, forget_index, new_message

_VALID_HEADER = re.compile(rb"^(?:[!-9;-~]+:|[ \t]|From )")
# A line that is no header, continuation, From_ line or blank: searched for after a line break
# (b"\n" + the header block), a literal the engine scans for in C rather than trying ^ everywhere.
_INVALID_LINE = re.compile(rb"\n(?![!-9;-~]+:|[ \t]|From |\r?$)", re.MULTILINE)
_SPACED_HEADER = re.compile(rb"^([!-9;-~]+)[ \t]+:")
_BOUNDARY = re.compile(rb"boundary\s*=\s*(?:\"([^\"]+)\"|([^\s;\"]+))", re.IGNORECASE)
_FLAT_THRESHOLD = 100  # multipart headers: more than this and the tree is read flat
_MAX_FLAT_PARTS = 10_000


def _header_end(raw: bytes) -> int:
    """Offset of the blank line ending the header block (or the end of the data)."""
    lf = raw.find(b"\n\n")
    # A CRLF blank line counts only if it starts before the first LF one ("\r\n\r\n\n"
    # holds both): no need to search past that.
    crlf = raw.find(b"\r\n\r\n", 0, len(raw) if lf < 0 else lf + 3)
    ends = [i for i in (lf, crlf) if i >= 0]
    return min(ends) if ends else len(raw)


def repair_header_block(raw: bytes, problems: list[ParseProblem]) -> bytes:
    """Rewrite ``Name : value`` header lines to ``Name: value`` inside the header block."""
    end = _header_end(raw)
    head = raw[:end]
    if not _INVALID_LINE.search(b"\n" + head):
        return raw
    lines = head.split(b"\n")
    fixed: list[bytes] = []
    repaired: list[str] = []
    for line in lines:
        found = None if _VALID_HEADER.match(line) else _SPACED_HEADER.match(line)
        if found:
            repaired.append(line[: found.end()].decode("ascii", "replace"))
            line = found.group(1) + b":" + line[found.end():]
        fixed.append(line)
    if not repaired:
        return raw
    problems.append(ParseProblem(
        kind="header", detail=f"malformed header line {repaired[0][:60]!r} read as a header"
        + (f" (and {len(repaired) - 1} more)" if len(repaired) > 1 else "")))
    return b"\n".join(fixed) + raw[end:]


def _flat(raw: bytes, problems: list[ParseProblem]) -> Message:
    """Headers, plus every leaf part between any declared boundary, as one flat multipart."""
    top = BytesParser(policy=RAW_POLICY).parsebytes(raw, headersonly=True)
    boundaries = {(m.group(1) or m.group(2)).strip() for m in _BOUNDARY.finditer(raw)}
    end = _header_end(raw)
    leaves: list[Message] = []
    segment: list[bytes] = []
    skipped = 0

    def close() -> None:
        nonlocal skipped
        if not segment:
            return
        data = b"".join(segment)
        segment.clear()
        if not data.strip():
            return
        part = BytesParser(policy=RAW_POLICY).parsebytes(data.lstrip(b"\r\n"), headersonly=True)
        if part.get_content_maintype() == "multipart" or not part.keys():
            return  # a container (or preamble text): its children are read on their own
        if len(leaves) >= _MAX_FLAT_PARTS:
            skipped += 1
            return
        leaves.append(BytesParser(policy=RAW_POLICY).parsebytes(data.lstrip(b"\r\n")))

    for line in raw[end:].splitlines(keepends=True):
        if line.startswith(b"--"):
            token = line[2:].rstrip()
            if token in boundaries or (token.endswith(b"--") and token[:-2] in boundaries):
                close()
                continue
        segment.append(line)
    close()
    del top["Content-Type"]
    top["Content-Type"] = "multipart/mixed"
    forget_index(top)
    top.set_payload(leaves)
    detail = f"MIME structure too deep or too large for a tree; read flat as {len(leaves)} parts"
    if skipped:
        detail += f" ({skipped} more parts not read)"
    problems.append(ParseProblem(kind="structure", detail=detail))
    return top


BIG_MESSAGE = 8 * 1024 * 1024
_BIG_PART = 1024 * 1024  # non-text parts from this size on are measured, not decoded
_MAX_BIG_DEPTH = 20
_B64_CHUNK = 4 * 1024 * 1024


def _split_at_blank_line(raw: bytes, start: int, end: int) -> int:
    """Offset where a part's body starts (after the blank line ending its headers)."""
    found = [i for i in (raw.find(b"\n\n", start, end), raw.find(b"\r\n\r\n", start, end)) if i >= 0]
    if not found:
        return end
    i = min(found)
    return i + (2 if raw[i:i + 2] == b"\n\n" else 4)


def _measure(raw: bytes, start: int, end: int, cte: str) -> tuple[int, str] | None:
    """Size and SHA-256 of a part's decoded bytes, a slice at a time; None if not measurable."""
    import binascii  # noqa: PLC0415
    import hashlib  # noqa: PLC0415

    view = memoryview(raw)
    digest = hashlib.sha256()
    size = 0
    if cte in ("", "7bit", "8bit", "binary"):
        digest.update(view[start:end])
        return end - start, digest.hexdigest()
    if cte != "base64":
        return None
    pos = start
    while pos < end:
        stop = min(end, pos + _B64_CHUNK)
        if stop < end:
            nl = raw.rfind(b"\n", pos, stop)
            stop = nl + 1 if nl > pos else stop
        chunk = bytes(view[pos:stop]).translate(None, b" \t\r\n")
        pos = stop
        if len(chunk) % 4 and pos < end:
            return None  # lines not in whole base64 quanta: let the stdlib decode it
        try:
            data = binascii.a2b_base64(chunk)
        except binascii.Error:
            return None
        digest.update(data)
        size += len(data)
    return size, digest.hexdigest()


def decode_span(raw: bytes, start: int, end: int, cte: str) -> bytes:
    """The decoded bytes of a part the big-message reader only measured."""
    import binascii  # noqa: PLC0415

    data = raw[start:end]
    return binascii.a2b_base64(data) if cte == "base64" else data


def _big_part(raw: bytes, start: int, end: int, depth: int) -> Message:
    body_start = _split_at_blank_line(raw, start, end)
    part = BytesParser(policy=RAW_POLICY).parsebytes(raw[start:body_start], headersonly=True)
    boundary = part.get_boundary() if part.get_content_maintype() == "multipart" else None
    if boundary and depth < _MAX_BIG_DEPTH:
        children = _split_multipart(raw, body_start, end, boundary.encode("ascii", "surrogateescape"))
        if children:
            part.set_payload([_big_part(raw, s, e, depth + 1) for s, e in children])
            return part
    if end - body_start >= _BIG_PART and part.get_content_maintype() not in ("text", "multipart", "message"):
        cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        measured = _measure(raw, body_start, end, cte)
        if measured is not None:
            part.set_payload("")
            part.beacon_measured = measured  # type: ignore[attr-defined]
            part.beacon_span = (raw, body_start, end, cte)  # type: ignore[attr-defined]
            return part
    # A small or text part: the stdlib reads it (a copy of this part only).
    return BytesParser(policy=RAW_POLICY).parsebytes(raw[start:end])


def _split_multipart(raw: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """(start, end) of each part between ``--boundary`` lines in raw[start:end]."""
    delimiter = b"--" + boundary
    spans: list[tuple[int, int]] = []
    part_start: int | None = None
    pos = start
    while True:
        i = raw.find(delimiter, pos, end)
        if i < 0:
            break
        if i != start and raw[i - 1:i] != b"\n":
            pos = i + len(delimiter)
            continue
        line_end = raw.find(b"\n", i, end)
        line_end = end if line_end < 0 else line_end + 1
        if part_start is not None:
            stop = i - 1 if raw[i - 1:i] == b"\n" else i
            if raw[stop - 1:stop] == b"\r":
                stop -= 1
            spans.append((part_start, stop))
        if raw[i + len(delimiter):i + len(delimiter) + 2] == b"--":
            return spans
        part_start = line_end
        pos = line_end
    if part_start is not None and part_start < end:
        spans.append((part_start, end))  # no close delimiter: the last part runs to the end
    return spans


def _leaf_message(text: str) -> Message | None:
    """The stdlib parser's result for ``text`` when it is a plain leaf message (neither
    multipart nor message/*) with an ordinary header block; None otherwise.

    The same steps as the stdlib's feed parser, in one loop: its line splitting, its test for
    the end of the header block, its header parsing (compat32's name/value split) and its
    payload (the rest of the text); any rarer case (a block opening with a continuation, a
    misplaced From_ line, a line opening with a colon) is left to the stdlib itself.
    """
    # The parser's buffer splits lines so; only the header block's lines are made here.
    lines = StringIO(text, newline="")
    payload = len(text)  # where the payload starts
    consumed = 0  # characters of the lines read so far
    missing_separator = False
    headers: list[tuple[str, str]] = []
    unixfrom = None
    current: list[str] = []
    # One pass: the header block ends at the first line headerRE refuses (continuation and
    # From_ lines are among those it takes, so they are handled before it is asked).
    for number, line in enumerate(lines):
        start, consumed = consumed, consumed + len(line)
        if line[0] in " \t":
            if not current:
                return None  # a block opening with a continuation line: a defect
            current.append(line)
            continue
        if line.startswith("From "):
            if number:
                return None  # a From_ line inside the block: pushed back or a defect
            found = NLCRE_eol.search(line)
            unixfrom = line[:-len(found.group(0))] if found else line
            continue
        if not headerRE.match(line):
            blank = NLCRE.match(line) is not None
            payload = consumed if blank else start
            missing_separator = not blank
            break
        if current:
            name, value = current[0].split(":", 1)
            headers.append((name, (value.lstrip(" \t") + "".join(current[1:])).rstrip("\r\n")))
        if line.find(":") <= 0:
            return None  # a line opening with a colon: a defect
        current = [line]
    if current:
        name, value = current[0].split(":", 1)
        headers.append((name, (value.lstrip(" \t") + "".join(current[1:])).rstrip("\r\n")))
    msg = new_message()
    if missing_separator:
        RAW_POLICY.handle_defect(msg, errors.MissingHeaderBodySeparatorDefect())
    msg._headers = headers  # noqa: SLF001 - what set_raw() appends one by one
    msg.set_unixfrom(unixfrom)
    if msg.get_content_maintype() in ("multipart", "message"):
        return None
    msg.set_payload(text[payload:])
    return msg


def parse_bytes(data: bytes) -> Message:
    """``BytesParser(policy=RAW_POLICY).parsebytes(data)``, a few times faster for most mail
    (a plain leaf message: :func:`_leaf_message`)."""
    text = data.decode("ascii", "surrogateescape")  # what parsebytes decodes to
    msg = _leaf_message(text)
    return msg if msg is not None else BytesParser(policy=RAW_POLICY).parsebytes(data)


def read_mime(raw: bytes, problems: list[ParseProblem]) -> Message:
    """The MIME tree of ``raw``; repairs and fallbacks are appended to ``problems``."""
    if len(raw) > BIG_MESSAGE:
        try:
            return _big_part(raw, 0, len(raw), 0)
        except Exception:  # noqa: BLE001 - the ordinary reader below still gets its chance
            pass
    try:
        data = repair_header_block(raw, problems)
        if raw.count(b"ultipart/") > _FLAT_THRESHOLD:
            return _flat(data, problems)
        return parse_bytes(data)
    except Exception as exc:  # noqa: BLE001 - RecursionError on absurd nesting, and the like
        try:
            return _flat(raw, problems)
        except Exception:  # noqa: BLE001
            problems.append(ParseProblem(
                kind="structure", detail=f"MIME structure unreadable ({type(exc).__name__}); body read as text"))
            return BytesParser(policy=RAW_POLICY).parsebytes(raw, headersonly=True)
