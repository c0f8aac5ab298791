"""Email HTML made safe to display: nh3 (ammonia) sanitising plus remote-content blocking.

Defence in depth, each layer enough on its own for scripts:
1. nh3 keeps a small allow-list of tags/attributes/URL schemes: no script, no event handlers,
   no ``javascript:``, no forms, no ``<style>`` blocks, only harmless inline CSS properties.
2. Remote images are removed (and counted) until the reader allows them; ``cid:`` images are
   inlined as ``data:`` URIs from the message's own attachments.
3. The result is served as its own document with a CSP of ``default-src 'none'`` inside an
   iframe sandboxed without ``allow-scripts`` (see ``security.email_body_csp``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass

import nh3

TAGS = set(nh3.ALLOWED_TAGS) | {"font"}
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"style", "title", "dir", "lang"},
    "font": {"color", "size", "face"},
}
for _tag in ("table", "td", "th", "tr"):
    ATTRIBUTES.setdefault(_tag, set()).update({"width", "height", "bgcolor", "valign", "border", "cellpadding", "cellspacing"})

# Harmless presentation only: no position (overlays that fake the UI), no background
# (remote images through CSS), no content/behaviour tricks.
STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style", "font-weight",
    "text-align", "text-decoration", "text-transform", "line-height", "letter-spacing",
    "vertical-align", "white-space", "word-break", "list-style-type",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-color",
    "border-width", "border-style", "border-collapse", "border-radius",
    "width", "max-width", "min-width", "height", "max-height", "min-height",
}
URL_SCHEMES = {"http", "https", "mailto", "tel", "cid", "data"}
# Anything that can fetch or run something from inside a CSS value.
_DANGEROUS_CSS = re.compile(r"url\s*\(|expression\s*\(|javascript:|@import|\\|behavior|binding", re.I)
_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.I)
_DATA_IMAGE = re.compile(r"^data:image/(?:png|gif|jpeg|webp);base64,", re.I)
# Browsers drop tabs and newlines anywhere in a URL and control characters and spaces around
# it: "da\nta:" is "data:" to them, so schemes are judged on the URL with those removed.
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")
LINK_SCHEMES = {"http", "https", "mailto", "tel"}

MAX_INLINE_IMAGE = 2 * 1024 * 1024

CidResolver = Callable[[str], tuple[str, bytes] | None]  # content id -> (content type, bytes)


@dataclass(frozen=True)
class SafeHtml:
    html: str
    remote_images: int  # how many remote images were blocked (or allowed)


def sanitize_email_html(
    html: str, *, allow_remote_images: bool = False, cid: CidResolver | None = None
) -> SafeHtml:
    remote = 0

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        nonlocal remote
        if attr == "style":
            return None if _DANGEROUS_CSS.search(value) else value
        if tag == "img" and attr == "src":
            if _REMOTE.match(value):
                remote += 1
                return value if allow_remote_images else None
            if value.lower().startswith("cid:"):
                return _inline_cid(value[4:], cid)
            return value if _DATA_IMAGE.match(value) else None
        if attr in ("href", "cite"):
            url = _URL_NOISE.sub("", value)
            scheme = _SCHEME.match(url.lower())
            if scheme is not None and scheme[1] not in LINK_SCHEMES:
                return None
            return url
        return value

    cleaned = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        attribute_filter=attribute_filter,
        filter_style_properties=STYLE_PROPERTIES,
        # Dropped with their content: code, CSS, and head-only text such as <title>.
        clean_content_tags={"script", "style", "title", "template", "noscript", "textarea", "select"},
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
    return SafeHtml(html=cleaned, remote_images=remote)


def _inline_cid(content_id: str, resolve: CidResolver | None) -> str | None:
    if resolve is None:
        return None
    found = resolve(content_id.strip("<> "))
    if found is None:
        return None
    content_type, data = found
    if not content_type.startswith("image/") or len(data) > MAX_INLINE_IMAGE:
        return None
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


# The document the sandboxed iframe shows. Its only styling is this inline block (allowed by
# the body CSP's style-src 'unsafe-inline'; there is no script to abuse it).
_DOCUMENT = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<style>
body {{ font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330;
        margin: 12px; overflow-wrap: anywhere; }}
img {{ max-width: 100%; height: auto; }}
table {{ max-width: 100%; }}
</style></head><body>{body}</body></html>
"""


def email_document(safe: SafeHtml) -> str:
    return _DOCUMENT.format(body=safe.html)
