"""Choosing and capping the text to analyse.

The new text of the message comes first (not the quoted history). Text is capped (10,000
characters by default) because parser + NER need roughly 1 GB per 100,000 characters (spaCy
error E088): the cap bounds one email's transient memory. We cut at a paragraph boundary, else a
sentence boundary, else whitespace — never mid-word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from beacon.models import Email

_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s")
_WS_RUN = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class SelectedText:
    text: str
    source: Literal["new_text", "text", "subject"]
    truncated: bool
    original_chars: int


def normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _WS_RUN.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def cap(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    window = text[:limit]
    para = window.rfind("\n\n")
    if para >= limit // 2:
        return window[:para].rstrip(), True
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    if ends and ends[-1] >= limit // 2:
        return window[: ends[-1]].rstrip(), True
    space = max(window.rfind(" "), window.rfind("\n"))
    if space > 0:
        return window[:space].rstrip(), True
    return window, True  # one enormous "word": nothing better to cut at


def select_text(email: Email, limit: int) -> SelectedText:
    for source, raw in (("new_text", email.new_text), ("text", email.text), ("subject", email.subject)):
        text = normalise(raw or "")
        if text:
            capped, truncated = cap(text, limit)
            return SelectedText(capped, source, truncated, len(text))  # type: ignore[arg-type]
    return SelectedText("", "new_text", False, 0)
