"""Text from mail shown in pages: names, subjects and file names, isolated and without controls.

A sender's name or an attachment's file name is chosen by whoever sent the mail. Bidi
overrides (U+202E) would let ``invoice\\u202efdp.exe`` read "invoiceexe.pdf" and a name
reverse the text after it, so bidi controls are removed and the text is wrapped in
``<bdi>``, which isolates its direction from the page around it. Other control characters
(C0, C1, DEL) are replaced by a space: they have no business in a one-line field.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

__all__ = ["clean_line", "clean_piece", "isolate"]

# LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI; LRM, RLM, ALM.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]+")


def clean_piece(value: object) -> str:
    """Sender-chosen text with bidi controls taken out and other controls made spaces (a part
    of a line: its spaces are kept)."""
    text = "" if value is None else str(value)
    return _CONTROLS.sub(" ", _BIDI_CONTROLS.sub("", text))


def clean_line(value: object) -> str:
    """One line of sender-chosen text with bidi and other control characters taken out."""
    return clean_piece(value).strip()


def isolate(value: object) -> Markup:
    """``clean_line`` escaped and wrapped in ``<bdi>``, for templates."""
    return Markup("<bdi>%s</bdi>") % escape(clean_line(value))
