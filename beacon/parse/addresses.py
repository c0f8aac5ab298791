"""Address headers (From, To, Cc, Reply-To, Sender) into :class:`Address` lists."""

from __future__ import annotations

import re
from email.utils import getaddresses

from beacon.models import Address
from beacon.parse.headers import decode_8bit, decode_words, unfold
from beacon.parse.text import fold_whitespace

# An empty group ("undisclosed-recipients:;") or an empty value legitimately has no address.
_EMPTY_GROUP = re.compile(r"^\s*(?:[^:<>@]*:\s*;?)?\s*$")


def parse_addresses(values: list[str]) -> tuple[list[Address], list[str]]:
    """Parse raw address header values; returns addresses and problem descriptions.

    Addresses are split *before* RFC 2047 decoding, so an encoded display name holding a
    comma ("Doe, John") cannot split one mailbox in two. Addresses are lower-cased whole:
    local parts are case-insensitive in practice, and matching (own/VIP addresses) needs it.
    """
    problems: list[str] = []
    texts: list[str] = []
    for value in values:
        text, problem = decode_8bit(unfold(value))
        if problem:
            problems.append(f"8-bit address header: {problem}")
        texts.append(text)
    try:
        pairs = getaddresses(texts)
    except Exception as exc:  # noqa: BLE001 - stdlib parser on hostile input
        return [], [f"unparseable address header: {exc}"]
    out: list[Address] = []
    for name, addr in pairs:
        name, problem = decode_words(name)
        if problem:
            problems.append(problem)
        name = fold_whitespace(name).strip("\"' ")
        addr = fold_whitespace(addr).strip("<> ").lower()
        if not name and not addr:
            continue
        if addr and "@" not in addr and not name:
            # A bare word is a display name without an address ("undisclosed-recipients:;").
            name, addr = addr, ""
        out.append(Address(name=name, address=addr))
    if values and not out and not all(_EMPTY_GROUP.match(t) for t in texts):
        problems.append(f"no address found in {fold_whitespace(texts[0])[:80]!r}")
    return out, problems
