"""Boilerplate in the analysed text: what the sender's software or habit adds, not the message.

URL-only lines, unsubscribe and legal footers, mailing-list footers (Mailman's
"___ / Listname mailing list / https://.../listinfo/..."), sponsor banners (SourceForge, Yahoo!
Groups), quoted-reply headers ("-----Original Message-----", "On ... wrote:"), signatures,
newsletter mastheads ("Monday, March 4, 2002 - Issue 12") and verse (song lyrics, poems).
Summaries skip these spans; requests, action items and deadlines inside them don't count.

The rules read lines, not sentences: footers and banners are laid out in lines, and a line
rule is cheap (no parse needed) and predictable. Offsets are character offsets into the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["url", "footer", "list-footer", "sponsor", "quote-header", "quoted", "signature", "masthead", "verse"]

_URL = r"(?:https?://|ftp://|www\.|mailto:)\S+"
_EMAIL = r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+"
_URL_LINE = re.compile(rf"^[\s<>\[\]()*•\-:|]*(?:(?:{_URL}|{_EMAIL})[\s<>\[\]()*•,;|]*)+$", re.IGNORECASE)
_SEPARATOR = re.compile(r"^\s*(?:[-_=*~#+.]\s*){8,}$|^--\s*$")
# Wording only footers use: marks its line wherever it stands.
FOOTER_CUE = re.compile(
    r"\b(?:unsubscrib\w*|un-?subscribe|\(un\)subscri\w*|opt[- ]?out|listinfo|list maintainer|"
    r"you (?:are |were )?receiv\w* this|received this (?:e-?mail|message)|"
    r"this (?:e-?mail|message|newsletter) was sent to|to stop receiving|no longer wish to receive|"
    r"(?:wish|want|like) to be removed|to be removed|remove (?:yourself|me|your (?:e-?mail|address|name))|"
    r"removed from (?:this|our|the)|removal (?:link|instructions|request)|"
    r"(?:manage|update|change) your (?:e-?mail |subscription |notification )?(?:preferences|settings|subscription)|"
    r"email preferences|view (?:this|it) (?:e-?mail |message )?(?:in|on) (?:your|a) (?:web )?browser|"
    r"all rights reserved|copyright\s+(?:©|\(c\)|\d{4})|©\s*\d{4}|sponsored by|do you yahoo!?|yahoo! groups|"
    r"your use of yahoo|reply to this email directly|view it on (?:github|gitlab)|you are receiving this because|"
    r"this is an automated (?:message|e-?mail|notification)|please do not reply|do not reply to this|"
    r"sent from my (?:iphone|ipad|blackberry|android|mobile))",
    re.IGNORECASE,
)
# Wording people also write in prose ("are there mailing lists for C++?"): counts only inside a
# block that a separator sets off at the end of the message.
_WEAK_CUE = re.compile(
    r"\b(?:mailing list|list archives?|opt[- ]in|privacy (?:policy|statement)|terms of (?:use|service)|"
    r"sponsor|advertisement|newsletter|subscri\w+)\b",
    re.IGNORECASE,
)
_QUOTE_HEADER = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|forwarded message|begin forwarded message|reply message)\s*-{2,}|"
    r"begin forwarded message:|"
    r".{0,200}\b(?:wrote|writes|said|confessed|stated the following|schrieb|a écrit|escribió)\s*:\s*$|"
    r"(?:from|sent|to|cc|subject|date)\s*:\s.+$)",
    re.IGNORECASE,
)
_HEADER_FIELD = re.compile(r"^\s*(?:from|sent|to|cc|bcc|subject|date|reply-to)\s*:\s", re.IGNORECASE)
_SIGN_OFF = re.compile(
    r"^\s*(?:(?:best|kind|warm|warmest)?\s*regards|best(?: wishes)?|cheers|thanks(?: again)?|thank you|"
    r"many thanks|sincerely|yours(?: truly| sincerely)?|all the best|take care|ciao|cordially)\b[\s,.!-]*$",
    re.IGNORECASE,
)
_CONTACT = re.compile(
    rf"^\s*(?:(?:tel|phone|fax|mobile|cell|direct|office|m|t|f|p)\.?\s*[:.]?\s*\+?[\d()./ -]{{7,}}|{_EMAIL}|{_URL})",
    re.IGNORECASE,
)
_MASTHEAD_CUE = re.compile(
    r"\b(?:issue\s*#?\s*\d+|vol(?:ume)?\.?\s*\d+|no\.\s*\d+|edition|newsletter|digest|bulletin|weekly|daily)\b",
    re.IGNORECASE,
)
_LONG_DATE = re.compile(
    r"\b(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+"
    r"\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b|\b\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+\d{4}\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_SIGNATURE_TAIL = 8  # lines: a signature block is short
_MASTHEAD_TOP = 6  # lines: a masthead sits at the top
_FOOTER_BLOCK = 14  # lines: a footer block after a separator is short


@dataclass(frozen=True)
class Boilerplate:
    start: int
    end: int
    kind: Kind


@dataclass(frozen=True)
class _Line:
    start: int
    end: int  # without the newline
    text: str

    @property
    def blank(self) -> bool:
        return not self.text.strip()


def _lines(text: str) -> list[_Line]:
    out, pos = [], 0
    for raw in text.split("\n"):
        out.append(_Line(pos, pos + len(raw), raw))
        pos += len(raw) + 1
    return out


def _is_url_line(line: str) -> bool:
    return bool(_URL_LINE.match(line)) and bool(line.strip())


def _is_verse_line(line: str) -> bool:
    s = line.strip()
    words = _WORD.findall(s)
    return (
        3 <= len(words) <= 10 and s[:1].isupper() and not s.endswith((".", ":", ";"))
        and not re.search(r"\d|@|https?:|www\.|^[-*•]", s) and len(words) >= 0.8 * len(s.split())
    )


def find_boilerplate(text: str) -> list[Boilerplate]:
    """Boilerplate spans of ``text``, sorted and not overlapping."""
    lines = _lines(text)
    marks: list[Kind | None] = [None] * len(lines)
    content = [i for i, ln in enumerate(lines) if not ln.blank]
    if not content:
        return []

    for i, ln in enumerate(lines):
        s = ln.text
        if ln.blank:
            continue
        if s.lstrip().startswith(">"):
            marks[i] = "quoted"
        elif _is_url_line(s):
            marks[i] = "url"
        elif _QUOTE_HEADER.match(s) and (not _HEADER_FIELD.match(s) or _header_block(lines, i)):
            marks[i] = "quote-header"
        elif FOOTER_CUE.search(s):
            marks[i] = "sponsor" if re.search(r"sponsor|yahoo|advertisement", s, re.IGNORECASE) else "footer"

    _mark_reply_history(lines, marks)
    _mark_separated_blocks(lines, marks)
    _mark_signature(lines, marks, content)
    _mark_masthead(lines, marks, content)
    _mark_verse(lines, marks)
    return _spans(lines, marks)


def _mark_reply_history(lines: list[_Line], marks: list[Kind | None]) -> None:
    """After an unquoted "-----Original Message-----" or Outlook header block, all is history.

    A forwarded message's header block is boilerplate, but what it forwards is the message.
    """
    i = 0
    while i < len(lines):
        text = lines[i].text
        if marks[i] == "quote-header" and re.search(r"forward", text, re.IGNORECASE):
            i += 1
            while i < len(lines) and (lines[i].blank or _HEADER_FIELD.match(lines[i].text)):
                if not lines[i].blank:
                    marks[i] = "quote-header"
                i += 1
            continue
        own_before = any(not lines[j].blank and marks[j] is None for j in range(i))
        if own_before and marks[i] == "quote-header" and (
            re.search(r"original message|reply message", text, re.IGNORECASE) or _HEADER_FIELD.match(text)
        ):
            for j in range(i + 1, len(lines)):
                marks[j] = marks[j] or "quoted"
            return
        i += 1


def _header_block(lines: list[_Line], i: int) -> bool:
    """An Outlook-style header block: two or more header fields on consecutive lines."""
    window = [ln.text for ln in lines[max(0, i - 3): i + 4] if not ln.blank]
    return sum(bool(_HEADER_FIELD.match(t)) for t in window) >= 2


def _mark_separated_blocks(lines: list[_Line], marks: list[Kind | None]) -> None:
    """Short blocks that separator lines set off at the end of the message, when they carry footer
    wording or only links: the whole block. Read from the end: a block counts only when all
    after it is boilerplate, so a separator between two parts of the message marks nothing."""
    seps = [i for i, ln in enumerate(lines) if _SEPARATOR.match(ln.text) and ln.text.strip()]
    stop = len(lines)
    for i in reversed(seps):
        block = [j for j in range(i + 1, stop) if not lines[j].blank]
        if len(block) > _FOOTER_BLOCK or any(marks[j] == "quoted" for j in block):
            break
        texts = " ".join(lines[j].text for j in block)
        listy = re.search(r"mailing list|listinfo|list maintainer|\(un\)subscri", texts, re.IGNORECASE)
        cued = any(marks[j] in ("footer", "sponsor") for j in block) or bool(_WEAK_CUE.search(texts))
        linky = bool(block) and all(marks[j] == "url" or len(lines[j].text.split()) <= 4 for j in block)
        if not (listy or cued or linky or not block):
            break
        kind: Kind = "list-footer" if listy else "sponsor" if re.search(r"sponsor|yahoo", texts, re.I) else "footer"
        for j in range(i, stop):
            if not lines[j].blank:
                marks[j] = marks[j] if marks[j] in ("quote-header", "signature") else kind
        stop = i


def _mark_signature(lines: list[_Line], marks: list[Kind | None], content: list[int]) -> None:
    tail = content[-_SIGNATURE_TAIL:]
    # RFC 3676 "-- " delimiter near the end: everything after it.
    for i in tail:
        if lines[i].text.rstrip() in ("--", "-- "):
            for j in range(i, len(lines)):
                marks[j] = marks[j] or "signature"
            return
    # A sign-off line near the end, followed only by short lines (name, title, phone, links).
    for i in tail:
        if _SIGN_OFF.match(lines[i].text):
            rest = [j for j in content if j > i]
            if all(len(lines[j].text.split()) <= 8 or _CONTACT.match(lines[j].text) for j in rest):
                for j in [i, *rest]:
                    marks[j] = marks[j] or "signature"
            return
    # Contact lines (phone, e-mail, link) closing the message.
    for i in reversed(content):
        if _CONTACT.match(lines[i].text) and len(lines[i].text.split()) <= 6:
            marks[i] = marks[i] or "signature"
        else:
            break


def _mark_masthead(lines: list[_Line], marks: list[Kind | None], content: list[int]) -> None:
    for i in content[:_MASTHEAD_TOP]:
        s = lines[i].text
        words = len(s.split())
        if words <= 14 and (_LONG_DATE.search(s) and (words <= 7 or _MASTHEAD_CUE.search(s))):
            marks[i] = marks[i] or "masthead"
        elif words <= 10 and re.search(r"\b(?:issue\s*#?\s*\d+|vol(?:ume)?\.?\s*\d+)", s, re.IGNORECASE):
            marks[i] = marks[i] or "masthead"


def _mark_verse(lines: list[_Line], marks: list[Kind | None]) -> None:
    """Four or more short lines in a row, each capitalised and unpunctuated: lyrics, a poem."""
    run: list[int] = []
    for i, ln in enumerate([*lines, _Line(0, 0, "")]):
        if i < len(lines) and marks[i] is None and _is_verse_line(ln.text):
            run.append(i)
            continue
        if len(run) >= 4:
            for j in run:
                marks[j] = "verse"
        run = []


def _spans(lines: list[_Line], marks: list[Kind | None]) -> list[Boilerplate]:
    out: list[Boilerplate] = []
    for ln, kind in zip(lines, marks, strict=True):
        if kind is None or ln.blank:
            continue
        if out and out[-1].kind == kind and _only_blank_between(lines, out[-1].end, ln.start):
            out[-1] = Boilerplate(out[-1].start, ln.end, kind)
        else:
            out.append(Boilerplate(ln.start + (len(ln.text) - len(ln.text.lstrip())), ln.end, kind))
    return out


def _only_blank_between(lines: list[_Line], end: int, start: int) -> bool:
    return all(ln.blank for ln in lines if ln.start >= end and ln.end <= start and ln.start < start)


def covered(spans: Sequence[Boilerplate], start: int, end: int, share: float = 0.5) -> bool:
    """Whether at least ``share`` of the characters in [start, end) lie inside boilerplate."""
    if end <= start:
        return False
    inside = sum(max(0, min(end, b.end) - max(start, b.start)) for b in spans)
    return inside >= share * (end - start)


def inside(spans: Sequence[Boilerplate], pos: int) -> Boilerplate | None:
    """The boilerplate span holding offset ``pos``, if any."""
    for b in spans:
        if b.start <= pos < b.end:
            return b
    return None
