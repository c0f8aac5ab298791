"""Address headers (From, To, Cc, Reply-To, Sender) into :class:`Address` lists."""

from __future__ import annotations

import re
from email.utils import getaddresses

from beacon.models import Address
from beacon.parse.headers import decode_8bit, decode_words, unfold
from beacon.parse.text import fold_whitespace

# An empty group ("undisclosed-recipients:;") or an empty value legitimately has no address.
_EMPTY_GROUP = re.compile(r"^\s*(?:[^:<>@]*:\s*;?)?\s*$")
_BARE_NAME = re.compile(r"^[^@<>:,;]*[^\s@<>:,;][^@<>:,;]*$")
# One mailbox with nothing unusual: "Name" <a@b>, Name <a@b>, <a@b> or a@b.
_ADDR = r"[^<>\s@,;:\"()\[\]\\]+@[^<>\s@,;:\"()\[\]\\]+"
_SIMPLE = re.compile(
    r'^\s*(?:(?:"([^"\\]*)"|([^"<>,;:@()\[\]\\]*?))\s*<(%s)>|(%s))\s*$' % (_ADDR, _ADDR))


def parse_addresses(values: list[str]) -> tuple[list[Address], list[str]]:
    """Parse raw address header values; returns addresses and problem descriptions.

    Addresses are split *before* RFC 2047 decoding, so an encoded display name holding a
    comma ("Doe, John") cannot split one mailbox in two. Addresses are lower-cased whole:
    local parts are case-insensitive in practice, and matching (own/VIP addresses) needs it.
    """
    problems: list[str] = []
    texts: list[str] = []
    for value in values:
        if "\x00" in value:
            problems.append("NUL bytes removed from the address header")
        text, problem = decode_8bit(unfold(value))
        if problem:
            problems.append(f"8-bit address header: {problem}")
        texts.append(text)
    out: list[Address] = []
    for text in [t for t in texts if _BARE_NAME.match(t)]:
        # No address at all, just words ("Undisclosed Recipients"): a display name, kept
        # as written (getaddresses would keep only its first word).
        name, problem = decode_words(text)
        if problem:
            problems.append(problem)
        out.append(Address(name=fold_whitespace(name).strip("\"' ")))
    texts = [t for t in texts if not _BARE_NAME.match(t)]
    pairs: list[tuple[str, str]] = []
    for text in texts:
        simple = _SIMPLE.match(text)
        if simple:  # one plain mailbox, as most headers hold: no need for the full parser
            pairs.append((simple.group(1) or simple.group(2) or "", simple.group(3) or simple.group(4)))
            continue
        try:
            pairs.extend(getaddresses([text]))
        except Exception as exc:  # noqa: BLE001 - stdlib parser on hostile input
            problems.append(f"unparseable address header: {exc}")
    for name, addr in pairs:
        name, problem = decode_words(name)
        if problem:
            problems.append(problem)
        name = fold_whitespace(name).strip("\"' ")
        addr = fold_whitespace(addr).strip("<> ")
        if not name and not addr:
            continue
        if addr and "@" not in addr and not name:
            # A bare word is a display name without an address ("undisclosed-recipients:;"),
            # kept as written.
            name, addr = addr, ""
        addr = addr.lower()
        out.append(Address(name=name, address=addr))
    if texts and not out and not all(_EMPTY_GROUP.match(t) for t in texts):
        problems.append(f"no address found in {fold_whitespace(texts[0])[:80]!r}")
    return out, problems
