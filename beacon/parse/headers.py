"""Reading header values raw and decoding them (8-bit bytes, RFC 2047) without raising.

The modern ``email.policy.default`` turns headers into objects lazily and raises on real
junk (``Message-Id: <>`` raises IndexError in 3.11). We parse with :data:`RAW_POLICY`,
a compat32 policy that hands back header values exactly as they were, and decode here.
"""

from __future__ import annotations

import re
from email.header import decode_header
from email.message import Message
from email.policy import Compat32

from beacon.parse.text import CONTROL_CHARS, clean_text, decode_bytes, fold_whitespace


class _RawPolicy(Compat32):
    """compat32, but header access returns the raw source value (surrogate-escaped bytes)."""

    def header_fetch_parse(self, name: str, value: str) -> str:  # type: ignore[override]
        return value


class _IndexedMessage(Message):
    """A Message whose ``get`` and ``in`` find a header by an index of its names instead of
    lower-casing every header name on each call (the parser and the MIME walk ask a message
    of forty headers some twenty times). The index is rebuilt whenever the header list is
    another list or another length: every change of names (set, delete, clear, set_boundary)
    makes one or the other; replace_header keeps the name and the value is read fresh."""

    def _names(self) -> dict[str, int]:
        headers = self._headers
        cached = self.__dict__.get("_beacon_names")
        if cached is None or cached[0] is not headers or cached[1] != len(headers):
            names: dict[str, int] = {}
            for position, (key, _value) in enumerate(headers):
                names.setdefault(key.lower(), position)
            cached = (headers, len(headers), names)
            self.__dict__["_beacon_names"] = cached
        return cached[2]

    def get(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        position = self._names().get(name.lower())
        if position is None:
            return failobj
        key, value = self._headers[position]
        return self.policy.header_fetch_parse(key, value)

    def __contains__(self, name: object) -> bool:
        return name.lower() in self._names()  # type: ignore[attr-defined]


RAW_POLICY = _RawPolicy(message_factory=_IndexedMessage)


def new_message() -> Message:
    """An empty message as the parser makes them (RAW_POLICY's)."""
    return _IndexedMessage(policy=RAW_POLICY)
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_SURROGATES = re.compile(r"[\udc80-\udcff]")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


_INDEX = "_beacon_header_index"


def forget_index(msg: Message) -> None:
    """Call after changing ``msg``'s headers: the lookup index is rebuilt on next use."""
    msg.__dict__.pop(_INDEX, None)


def _index(msg: Message) -> dict[str, list[str]]:
    index = msg.__dict__.get(_INDEX)
    if index is None:
        index = {}
        try:
            for key, value in msg._headers:  # noqa: SLF001 - the raw (name, value) pairs
                index.setdefault(str(key).lower(), []).append(value if isinstance(value, str) else str(value))
        except Exception:  # noqa: BLE001 - a malformed header block must not stop parsing
            index = {}
        msg.__dict__[_INDEX] = index
    return index


def raw_values(msg: Message, name: str) -> list[str]:
    """All raw values of header ``name`` (in message order), never raising.

    A message is asked for some thirty headers; one pass builds a name -> values index
    (``Message.get_all`` scans every header on each call).
    """
    return list(_index(msg).get(name.lower(), ()))


def raw_value(msg: Message, name: str) -> str | None:
    """First raw value of header ``name``, or None."""
    values = _index(msg).get(name.lower())
    return values[0] if values else None


def first_raw_values(msg: Message, lowered: tuple[str, ...]) -> list[str | None]:
    """First raw value of each of the (lower-case) header names, or None: one index lookup
    for a group (most of the list and spam headers a message is asked for are absent)."""
    index = _index(msg)
    return [values[0] if (values := index.get(name)) else None for name in lowered]


def unfold(value: str) -> str:
    """RFC 5322 unfolding: drop the line breaks of folded header lines."""
    if "\n" not in value and "\r" not in value:
        return value  # most values hold one line
    return _FOLD.sub("", value).replace("\r", "").replace("\n", " ")


def decode_8bit(value: str) -> tuple[str, str | None]:
    """Turn surrogate-escaped raw 8-bit header bytes into text via charset detection."""
    if not _SURROGATES.search(value):
        return value, None
    data = value.encode("ascii", "surrogateescape")
    return decode_bytes(data, None)


def decode_words(value: str) -> tuple[str, str | None]:
    """Decode RFC 2047 encoded-words in an (already 8-bit-decoded) header value."""
    if "=?" not in value or not _ENCODED_WORD.search(value):
        return value, None
    try:
        chunks = decode_header(value)
    except Exception as exc:  # noqa: BLE001 - e.g. HeaderParseError on bad base64
        return value, f"undecodable encoded-word: {exc}"
    out: list[str] = []
    problems: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        text, problem = decode_bytes(chunk, charset)
        out.append(text)
        if problem:
            problems.append(problem)
    return "".join(out), "; ".join(problems) or None


def decode_value(value: str) -> tuple[str, list[str]]:
    """Fully decode a raw header value to clean single-line text, plus any problems."""
    if value.isascii() and "=?" not in value and not CONTROL_CHARS.search(value):
        return " ".join(value.split()), []  # most headers: what the steps below come to
    problems: list[str] = []
    text, problem = decode_8bit(unfold(value))
    if problem:
        problems.append(f"8-bit header: {problem}")
    text, problem = decode_words(text)
    if problem:
        problems.append(problem)
    return fold_whitespace(clean_text(text)), problems
