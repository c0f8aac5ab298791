"""Is this file mail? Decide from its first bytes, never from its name alone.

A file is a *message* when it opens with an RFC 5322 header block that names at least one
header mail really carries (From, Subject, Received, ...); an *mbox* when it opens with an
mbox ``From `` envelope line (unless its name says it is one message: ``.eml``/``.msg``).
Everything else (READMEs, licences, program output, pictures, archives, empty files) is
not mail, and the reason says what it looks like instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SNIFF_BYTES = 8192

# Names that say "one message" even when the content starts with an mbox From_ line
# (a message saved with its envelope line, a patch mail, notmuch's own test files).
SINGLE_MESSAGE_SUFFIXES = {".eml", ".msg"}

# An mbox envelope line: "From sender date" (the sender may be "-" or MAILER-DAEMON).
FROM_LINE = re.compile(rb"^From \S*[ \t]+\S.*$")
# A header field line; RFC 822 allowed blanks before the colon ("Fro : x" is still a header).
HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
_KNOWN_HEADERS = {
    b"from", b"to", b"cc", b"bcc", b"subject", b"date", b"message-id", b"received",
    b"return-path", b"delivered-to", b"mime-version", b"content-type", b"reply-to", b"sender",
    b"in-reply-to", b"references", b"x-mailer", b"user-agent", b"list-id", b"precedence",
    b"content-transfer-encoding", b"envelope-to", b"x-original-to", b"dkim-signature",
    b"arc-seal", b"authentication-results", b"thread-topic", b"x-spam-status", b"importance",
    b"organization", b"resent-from", b"resent-date", b"newsgroups", b"path", b"x-uidl",
}
_KNOWN_HEADER = re.compile(
    rb"^(?:%s)[ \t]*:" % b"|".join(re.escape(h) for h in sorted(_KNOWN_HEADERS)), re.IGNORECASE | re.MULTILINE)
# A header or continuation line, after its line break (counted over b"\n" + the block: a
# literal the engine scans for in C, where ^ is tried at every byte).
_HEADERISH_LINE = re.compile(rb"\n(?:[!-9;-~]+[ \t]*:|[ \t])")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip archive"), (b"PK\x05\x06", "zip archive"), (b"\x1f\x8b", "gzip file"),
    (b"BZh", "bzip2 file"), (b"\xfd7zXZ", "xz file"), (b"7z\xbc\xaf", "7-zip archive"),
    (b"%PDF", "PDF document"), (b"\x89PNG", "PNG image"), (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"), (b"\x7fELF", "program"), (b"SQLite format", "SQLite database"),
)
_TEXT_CONTROLS = b"\t\n\r\f\x1b"  # ESC: ISO-2022-JP text
_NOT_CONTROLS = bytes(range(32, 256)) + _TEXT_CONTROLS

Kind = Literal["message", "mbox", "other"]


@dataclass(frozen=True)
class Sniffed:
    kind: Kind
    reason: str = ""  # why it is not mail, when kind == "other"


def _binary_reason(head: bytes) -> str | None:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if b"\0" in head:
        return "binary data"
    sample = head[:2048]
    controls = len(sample.translate(None, _NOT_CONTROLS))  # what is left: control bytes
    if controls > len(sample) * 0.05:
        return "binary data"
    return None


_BLANK_LINE = re.compile(rb"\n[ \t]*\r?\n")


def looks_like_headers(head: bytes) -> bool:
    """True when ``head`` opens with a header block naming at least one real mail header."""
    head = head.lstrip(b"\r\n")
    blank = _BLANK_LINE.search(head)
    if blank:
        block = head[: blank.start()]
    elif len(head) >= SNIFF_BYTES:
        block = head[: head.rfind(b"\n")]  # the last line may be cut mid-way
    else:
        block = head
    if not block.strip():
        return False
    first = block.split(b"\n", 1)[0].rstrip(b"\r")
    envelope = FROM_LINE.match(first) is not None
    if not envelope and not HEADER_LINE.match(first):
        return False
    if not _KNOWN_HEADER.search(block):
        return False
    headerish = len(_HEADERISH_LINE.findall(b"\n" + block)) + envelope
    return headerish >= 0.6 * (block.count(b"\n") + 1)


def sniff(head: bytes, suffix: str = "") -> Sniffed:
    """Classify a file from its first :data:`SNIFF_BYTES` bytes (and its suffix)."""
    if not head:
        return Sniffed("other", "empty file")
    if not head.strip():
        return Sniffed("other", "only blank lines")
    binary = _binary_reason(head)
    if binary:
        return Sniffed("other", binary)
    start = head.lstrip(b"\r\n")
    first = start.split(b"\n", 1)[0].rstrip(b"\r")
    if FROM_LINE.match(first):
        rest = start.split(b"\n", 1)[1] if b"\n" in start else b""
        if looks_like_headers(rest):
            return Sniffed("message" if suffix.lower() in SINGLE_MESSAGE_SUFFIXES else "mbox")
        return Sniffed("other", "text starting with 'From ' but no mail headers")
    if looks_like_headers(start):
        return Sniffed("message")
    return Sniffed("other", "text without mail headers")
