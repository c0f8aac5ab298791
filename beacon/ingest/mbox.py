"""Streaming mbox reader for the variants found in the wild, told apart by content.

- **mboxo / mboxrd**: messages start at ``From `` envelope lines; body lines that began
  with ``From `` were written as ``>From `` (mboxrd also quotes ``>From `` as ``>>From ``).
  Reading undoes one level of ``>`` on every ``^>+From `` line, as mboxrd readers do; for
  mboxo this is right for every escaped line.
- **mboxcl2**: each message's ``Content-Length`` header gives its body length and bodies are
  not escaped. A Content-Length is trusted only when the byte after the body is the end of
  the file or the start of the next envelope line; otherwise the message is read by lines.

Unescaped ``From `` lines inside bodies (mboxo written by careless tools, a patch
attached as text) are not taken as separators unless the next line is a header and the
current message is not inside an unfinished multipart body. If a multipart never closes,
the candidates skipped for that reason split the message after all, so no mail is lost; after
``MAX_CANDIDATES`` of them the multipart is taken as broken at once (a spam whose multipart
never closed used to keep the next two thousand messages of the file in memory).
A file that does not start with an envelope line still yields its first message.

Memory: one message at a time; a message longer than ``max_bytes`` keeps only its header
block (its full size and SHA-256 are still measured) so a huge message cannot blow memory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from beacon.ingest.sniff import FROM_LINE, HEADER_LINE

_ESCAPED_FROM = re.compile(rb"^>+From ")
_CONTENT_LENGTH = re.compile(rb"^Content-Length[ \t]*:[ \t]*(\d{1,12})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_BOUNDARY = re.compile(rb"boundary[ \t]*=[ \t]*(?:\"([^\"\r\n]+)\"|([^\s;\"]+))", re.IGNORECASE)
_CONTENT_TYPE = re.compile(rb"^Content-Type[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
# Envelope lines followed by headers that one open multipart may hold (an attached mbox or
# patch series); one more, and the message is split at all of them.
MAX_CANDIDATES = 8


@dataclass
class MboxMessage:
    offset: int  # byte offset of the message (its envelope line) in the file
    raw: bytes  # the message (whole, or only its header block when truncated)
    size: int  # full size in bytes
    truncated: bool = False
    sha256: str | None = None  # of the full message, when truncated


def _is_blank(line: bytes) -> bool:
    return line in (b"\n", b"\r\n")


def _top_boundary(header: bytes) -> bytes | None:
    found = _CONTENT_TYPE.search(header)
    if not found or b"multipart" not in found.group(1).lower():
        return None
    b = _BOUNDARY.search(re.sub(rb"\r?\n[ \t]+", b" ", found.group(1)))
    if not b:
        return None
    return b"--" + (b.group(1) or b.group(2)).strip()


class _Builder:
    """Collects one message's lines; keeps only headers once ``max_bytes`` is exceeded."""

    def __init__(self, offset: int, max_bytes: int, envelope: int = 0) -> None:
        self.offset = offset
        self.envelope = envelope  # bytes of the envelope line at ``offset`` (not in ``lines``)
        self.max_bytes = max_bytes
        self.lines: list[bytes] = []
        self.size = 0
        self.in_header = True
        self.header_len = 0  # lines in the header block (incl. the blank line)
        self.boundary: bytes | None = None
        self.closed = False  # the top-level multipart's close delimiter was seen
        self.candidates: list[int] = []  # From_ lines skipped only because multipart was open
        self.hasher: hashlib._Hash | None = None

    def add(self, line: bytes) -> None:
        self.size += len(line)
        if self.hasher is not None:
            self.hasher.update(line)
            return
        self.lines.append(line)
        if self.in_header:
            if _is_blank(line) or not line.strip():
                self.in_header = False
                self.header_len = len(self.lines)
                self.boundary = _top_boundary(b"".join(self.lines))
        elif self.boundary is not None and not self.closed and line.startswith(self.boundary):
            if line[len(self.boundary):].startswith(b"--"):
                self.closed = True
        if self.size > self.max_bytes:
            self.hasher = hashlib.sha256(b"".join(self.lines))
            del self.lines[self.header_len or len(self.lines):]
            self.candidates = []

    @property
    def open_multipart(self) -> bool:
        return self.boundary is not None and not self.closed and not self.in_header

    def finish(self) -> list[MboxMessage]:
        if self.hasher is not None:
            return [MboxMessage(self.offset, b"".join(self.lines), self.size, True, self.hasher.hexdigest())]
        if self.candidates and not self.closed:
            # The multipart never closed: the skipped envelope lines were real after all.
            out: list[MboxMessage] = []
            cuts = [0, *self.candidates, len(self.lines)]
            offset = self.offset
            skip = self.envelope  # the first message's envelope line is not among the lines
            for start, stop in zip(cuts, cuts[1:]):
                chunk = self.lines[start:stop]
                if start:
                    chunk = chunk[1:]  # drop the envelope line
                raw = _trim(b"".join(chunk))
                out.append(MboxMessage(offset, raw, len(raw)))
                offset += skip + sum(len(x) for x in self.lines[start:stop])
                skip = 0
            return [m for m in out if m.raw.strip()]
        raw = _trim(b"".join(self.lines))
        return [MboxMessage(self.offset, raw, len(raw))] if raw.strip() else []


def _trim(raw: bytes) -> bytes:
    """Drop the one blank line that separates a message from the next envelope line."""
    if raw.endswith(b"\r\n\r\n"):
        return raw[:-2]
    if raw.endswith(b"\n\n"):
        return raw[:-1]
    return raw


def _unescape(line: bytes) -> bytes:
    return line[1:] if line.startswith(b">") and _ESCAPED_FROM.match(line) else line


def _read_by_length(fh: BinaryIO, builder: _Builder) -> bool:
    """mboxcl2: read the body by its Content-Length, if it points at a message boundary."""
    found = _CONTENT_LENGTH.search(b"".join(builder.lines))
    if not found:
        return False
    length = int(found.group(1))
    if length > builder.max_bytes:
        return False  # read by lines: the builder keeps memory bounded
    start = fh.tell()
    body = fh.read(length)
    after = fh.tell()
    following = fh.readline()
    following2 = fh.readline() if _is_blank(following) else b""
    ok = len(body) == length and (
        not following
        or FROM_LINE.match(following.rstrip(b"\r\n")) is not None
        or (_is_blank(following) and (not following2 or FROM_LINE.match(following2.rstrip(b"\r\n")) is not None))
    )
    if not ok:
        fh.seek(start)
        return False
    fh.seek(after)
    for line in body.splitlines(keepends=True):
        builder.add(line)
    return True


def iter_mbox(fh: BinaryIO, max_bytes: int) -> Iterator[MboxMessage]:
    """Messages of an mbox stream (seekable, binary), one at a time."""
    builder: _Builder | None = _Builder(0, max_bytes)
    prev_blank = True
    pending: bytes | None = None  # a From_ line waiting for the next line to decide
    pending_offset = 0
    offset = 0
    length_checked = False
    while True:
        line = fh.readline()
        if pending is not None:
            header_next = bool(line) and (HEADER_LINE.match(line) is not None)
            if (header_next and builder is not None and builder.open_multipart
                    and len(builder.candidates) < MAX_CANDIDATES):
                builder.candidates.append(len(builder.lines))
                builder.add(pending)
            elif header_next:
                if builder is not None:
                    yield from builder.finish()
                builder = _Builder(pending_offset, max_bytes, len(pending))
                length_checked = False
            else:  # an unescaped body line that merely starts with "From "
                assert builder is not None
                builder.add(pending)
            pending = None
        if not line:
            break
        line_offset = offset
        offset += len(line)
        assert builder is not None
        if line.startswith(b"From ") and FROM_LINE.match(line.rstrip(b"\r\n")) and (prev_blank or not builder.in_header):
            if not builder.lines and builder.size == 0 and line_offset == 0:
                builder.offset, builder.envelope = 0, len(line)
                prev_blank = False
                continue  # the file's first envelope line
            pending, pending_offset = line, line_offset
            prev_blank = False
            continue
        prev_blank = _is_blank(line)
        builder.add(_unescape(line) if not builder.in_header else line)
        if not builder.in_header and not length_checked:
            length_checked = True
            if _read_by_length(fh, builder):
                offset = fh.tell()
                prev_blank = True
    if builder is not None:
        yield from builder.finish()
