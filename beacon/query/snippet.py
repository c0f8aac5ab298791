"""A short piece of an email's text around the searched words, with where they are.

Words are compared as the index compares them: case and accents folded, punctuation
separating, ``meet*`` a prefix. Offsets refer to the returned snippet.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from beacon.query.model import Text

__all__ = ["Snippet", "fold", "snippet"]

_WORD = re.compile(r"[^\W_]+")
SCAN_CHARS = 20_000  # a match further into a long email shows the opening instead
WIDTH = 220


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: list[tuple[int, int]]


@lru_cache(maxsize=4096)
def fold(word: str) -> str:
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _matcher(terms: list[Text], *, fields: bool = False) -> tuple[set[str], tuple[str, ...]]:
    """The folded words the ``terms`` search (exact ones, and the prefixes of ``meet*``);
    terms of a field (``from:``...) only with ``fields``."""
    exact: set[str] = set()
    prefixes: list[str] = []
    for t in terms:
        if t.field is not None and not fields:
            continue
        toks = [fold(w) for w in _WORD.findall(t.text)]
        if t.prefix and toks:
            prefixes.append(toks.pop())
        exact.update(toks)
    return exact, tuple(prefixes)


def snippet(text: str, terms: list[Text], width: int = WIDTH) -> Snippet:
    exact, prefixes = _matcher(terms)
    body = text[:SCAN_CHARS]

    def hit(word: str) -> bool:
        f = fold(word)
        return f in exact or (bool(prefixes) and f.startswith(prefixes))

    first = _first_hit(body, exact, prefixes, hit) if (exact or prefixes) else None
    start = 0 if first is None else max(0, first - width // 3)
    if start:
        space = body.find(" ", start, first) if first is not None else -1
        start = space + 1 if space != -1 else start
    piece = " ".join(body[start:start + width].split())
    lead = "…" if start else ""
    tail = "…" if start + width < len(text) else ""
    out = lead + piece + tail
    marks = [(m.start(), m.end()) for m in _WORD.finditer(out) if hit(m.group())] if first is not None else []
    return Snippet(out, marks)


def _first_hit(body: str, exact: set[str], prefixes: tuple[str, ...], hit: Callable[[str], bool]) -> int | None:
    """Where the first word that ``hit`` accepts starts. ASCII text (most mail) is searched by
    one regular expression in C: there a word folds to its lower case, so a word matches
    when it is a searched word (or begins with a prefix) in any case, with no letter or digit
    either side (or before); the word-by-word walk cost a search page ~2 ms per 50 rows."""
    if not body.isascii():
        return next((m.start() for m in _WORD.finditer(body) if hit(m.group())), None)
    found = _ascii_search(tuple(sorted(w for w in exact if w.isascii())), tuple(p for p in prefixes if p.isascii()))
    m = found(body) if found is not None else None
    return m.start() if m is not None else None


@lru_cache(maxsize=256)
def _ascii_search(words: tuple[str, ...], prefixes: tuple[str, ...]) -> Callable[[str], re.Match[str] | None] | None:
    # (A word or prefix that folded to non-ASCII matches no word of ASCII text: left out.)
    alternatives = [re.escape(w) + r"(?![^\W_])" for w in words] + [re.escape(p) for p in prefixes]
    if not alternatives:
        return None
    return re.compile(r"(?<![^\W_])(?:" + "|".join(alternatives) + ")", re.IGNORECASE).search
