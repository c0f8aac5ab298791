"""Reading raw bytes into a MIME tree: the tolerant reader first, plain stdlib as fallback.

The stdlib parser (with :data:`RAW_POLICY`) does the work; this module fixes what makes
it lose content on real mail before and after it runs:

- a malformed header line (``Fro : x``: blanks before the colon, as RFC 822 allowed) ends
  the stdlib's header block and turns every header into body text; such lines are
  rewritten (``Fro: x``) so the other headers are kept;
- absurd structures (thousands of nested multiparts) make the stdlib recurse until it
  fails and read everything as one text; they are read flat instead: every leaf part
  between any declared boundary, without recursion.

Whatever was repaired is recorded as a problem. If the tolerant read fails, the plain
stdlib read is used; if that fails too, the headers alone.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import BytesParser

from beacon.models import ParseProblem
from beacon.parse.headers import RAW_POLICY, forget_index

_VALID_HEADER = re.compile(rb"^(?:[!-9;-~]+:|[ \t]|From )")
_INVALID_LINE = re.compile(rb"^(?![!-9;-~]+:|[ \t]|From |\r?$)", re.MULTILINE)
_SPACED_HEADER = re.compile(rb"^([!-9;-~]+)[ \t]+:")
_BOUNDARY = re.compile(rb"boundary\s*=\s*(?:\"([^\"]+)\"|([^\s;\"]+))", re.IGNORECASE)
_FLAT_THRESHOLD = 100  # multipart headers: more than this and the tree is read flat
_MAX_FLAT_PARTS = 10_000


def _header_end(raw: bytes) -> int:
    """Offset of the blank line ending the header block (or the end of the data)."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if i >= 0]
    return min(ends) if ends else len(raw)


def repair_header_block(raw: bytes, problems: list[ParseProblem]) -> bytes:
    """Rewrite ``Name : value`` header lines to ``Name: value`` inside the header block."""
    end = _header_end(raw)
    head = raw[:end]
    if not _INVALID_LINE.search(head):
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


def read_mime(raw: bytes, problems: list[ParseProblem]) -> Message:
    """The MIME tree of ``raw``; repairs and fallbacks are appended to ``problems``."""
    try:
        data = repair_header_block(raw, problems)
        if raw.count(b"ultipart/") > _FLAT_THRESHOLD:
            return _flat(data, problems)
        return BytesParser(policy=RAW_POLICY).parsebytes(data)
    except Exception as exc:  # noqa: BLE001 - RecursionError on absurd nesting, and the like
        try:
            return _flat(raw, problems)
        except Exception:  # noqa: BLE001
            problems.append(ParseProblem(
                kind="structure", detail=f"MIME structure unreadable ({type(exc).__name__}); body read as text"))
            return BytesParser(policy=RAW_POLICY).parsebytes(raw, headersonly=True)
