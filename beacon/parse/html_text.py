"""HTML to readable plain text, via html2text (scripts and styles dropped, links kept).

html2text emits Markdown; we configure it for plain reading (no emphasis marks, no
images, no line wrapping, table cells separated by spaces) and then undo the Markdown
that remains: ``[label](<url>)`` becomes ``label (url)`` and backslash escapes go.
"""

from __future__ import annotations

import re
from typing import Any

import html2text

# html2text renders links as [label](<url>) with protect_links; labels may hold one
# level of nested brackets ("[see [here]]"), escaped or not.
_LINK = re.compile(r"\[((?:\\.|[^\[\]\\]|\[[^\[\]]*\])*)\]\(<([^<>]*)>(?: \"[^\"]*\")?\)")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]+)>")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")
_BLANK_RUNS = re.compile(r"\n{3,}")
_MAX_HTML = 2_000_000  # characters; beyond this the tail is junk padding in practice


def _cell_gap(converter: html2text.HTML2Text, tag: str, _attrs: Any, start: bool) -> bool:
    """Separate table cells by a space (html2text's ignore_tables glues them together)."""
    if tag in ("td", "th"):
        if start:
            converter.o(" ")
        return True
    return False


def _converter() -> html2text.HTML2Text:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.unicode_snob = True
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.inline_links = True
    converter.protect_links = True
    converter.tag_callback = _cell_gap
    return converter


def _link(match: re.Match[str]) -> str:
    label, url = match.group(1).strip(), match.group(2).strip()
    if not label:
        return ""  # image-only link: nothing readable
    if not url or url.startswith("#") or url == label or url == f"mailto:{label}":
        return label
    return f"{label} ({url})"


def _drop_unclosed_brackets(markdown: str) -> str:
    """Remove link openers ``[`` that html2text left open (an ``<a>`` never closed)."""
    last_close = max((m.start() for m in re.finditer(r"(?<!\\)\]", markdown)), default=-1)
    head, tail = markdown[: last_close + 1], markdown[last_close + 1:]
    return head + re.sub(r"(?<!\\)\[", "", tail)


def html_to_text(html: str) -> str:
    """Readable text of an HTML document or fragment; never raises."""
    try:
        markdown = _converter().handle(html[:_MAX_HTML])
    except Exception:  # noqa: BLE001 - html2text on hostile markup: keep the tags-stripped text
        markdown = re.sub(r"<[^>]*>", " ", html[:_MAX_HTML])
    text = _LINK.sub(_link, _drop_unclosed_brackets(markdown))
    text = _AUTOLINK.sub(r"\1", text)
    text = _ESCAPE.sub(r"\1", text)
    lines = [line.rstrip() for line in text.replace("\xa0", " ").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
