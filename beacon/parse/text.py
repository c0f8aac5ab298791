"""Byte-to-text decoding with charset fallbacks, and output text normalisation.

Real mail lies about charsets (``charset="default"``, ``us-ascii`` with 8-bit bytes,
``iso-8859-1`` holding windows-1252 quotes) or declares none at all. Every decode here
returns valid text plus an optional explanation of what had to be guessed, never raises.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

# Labels that mean "I don't know" rather than naming a codec.
_NON_CHARSETS = {"default", "unknown", "unknown-8bit", "x-unknown", "x-user-defined", "none", ""}
# Labels whose real-world content is nearly always a superset codec (as browsers treat them).
_SUPERSETS = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252",
              "ascii": "cp1252", "iso-8859-9": "cp1254", "ks_c_5601-1987": "cp949",
              "gb2312": "gb18030", "gbk": "gb18030", "tis-620": "cp874", "iso-8859-11": "cp874"}
_ASCII_LABELS = {"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us"}
# Detection is restricted to charsets actually seen in mail: on short texts an open
# search picks exotic code pages (cp1006 for "h\xe9llo").
_MAIL_CHARSETS = ("utf_8", "cp1252", "iso8859_15", "cp1250", "iso8859_2", "cp1251", "koi8_r",
                  "iso8859_5", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "shift_jis",
                  "euc_jp", "iso2022_jp", "euc_kr", "gb18030", "big5", "cp874")
_DETECT_LIMIT = 64 * 1024  # charset detection on a prefix is enough and keeps big parts fast
CONTROL_CHARS = re.compile(r"[\x00\x0b\x0c\x0e-\x1f\x7f]")  # what clean_text drops


def codec_for(label: str | None) -> str | None:
    """Python codec name for a MIME charset label, or None if unknown/meaningless."""
    if label is None:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _NON_CHARSETS:
        return None
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


# Characters Western European text holds in windows-1252 besides ASCII: accented letters,
# currency, quotes, dashes. Not ¹²³ or ¦ (Polish/Czech text in cp1250 or ISO-8859-2 read as
# cp1252 shows those), nor C1 controls.
_WESTERN = frozenset(
    "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿŒœŠšŽžŸƒ"
    "£€¢¥©®°±·«»¿¡‘’‚“”„–—…•™´¨ºª§¶×÷µ†‡‰‹›\xa0"
)
_HIGH = re.compile(r"[^\x00-\x7f]")
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_WESTERN_SHARE = 0.3  # at most this share of the letters may be non-ASCII


def western(data: bytes) -> bool:
    """True when 8-bit ``data`` reads as Western European text in windows-1252.

    Statistical detectors guess cp1250 or Shift_JIS for mostly-ASCII text with a few
    accented letters or a "£" ("£750m" -> "Ł750m", "très" -> "trčs"). Western text has
    few non-ASCII letters, each one that Western languages use; Cyrillic, Greek or Central
    European text read as cp1252 gives mostly non-ASCII letters or symbols outside that set.
    """
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    # Counted with C-speed string operations: detection runs on up to 64 KB per part.
    high = _HIGH.findall(text)
    if not high or not _WESTERN.issuperset(high):
        return False
    high_letters = sum(1 for c in high if c.isalpha())
    letters = high_letters + len(data) - len(data.translate(None, _ASCII_LETTERS))
    return high_letters <= _WESTERN_SHARE * letters


def detect(data: bytes) -> str | None:
    """Best-guess codec for ``data``: Western text first, else charset-normalizer, or None."""
    sample = data[:_DETECT_LIMIT]
    if western(sample):
        return "cp1252"
    try:
        best = from_bytes(sample, cp_isolation=list(_MAIL_CHARSETS)).best()
    except Exception:  # noqa: BLE001 - detection is a guess; any failure means "no guess"
        return None
    if best is None:
        return None
    # Mostly-ASCII Western text decodes identically under several code pages; the
    # detector then names any of them (often cp1250). cp1252 is by far the likeliest.
    if "cp1252" in best.could_be_from_charset:
        return "cp1252"
    return best.encoding


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """Decode ``data`` declared as charset ``declared``.

    Returns ``(text, problem)``; ``problem`` is None when the declared charset (or UTF-8
    when none was declared) decoded cleanly, else it says what was guessed.
    """
    if not data:
        return "", None
    label = declared.strip().strip("\"'").lower() if declared is not None else None
    codec = codec_for(label)
    # An ASCII label on 8-bit data is a lie (usually UTF-8): try UTF-8 before cp1252.
    if codec is not None and label not in _ASCII_LABELS:
        try:
            return data.decode(codec), None
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
    if data.isascii():
        known = label is None or codec is not None
        return data.decode("ascii"), None if known else f"unknown charset {declared!r}; text is ASCII"
    if label is None:
        why = "no charset declared for 8-bit text"
    elif codec is None:
        why = f"unknown charset {declared!r}"
    else:
        why = f"text is not valid {declared!r}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:  # undeclared UTF-8 is normal (RFC 6532 headers, lazy clients): not a problem
        return text, None if label is None else f"{why}; decoded as utf-8"
    guess = detect(data) or codec or "cp1252"
    try:
        text = data.decode(guess, errors="replace")
    except (LookupError, ValueError):
        guess = "cp1252"
        text = data.decode(guess, errors="replace")
    return text, f"{why}; guessed {guess}"


def clean_text(text: str) -> str:
    """Normalise text for storage: LF line ends, no NULs/control chars, no lone surrogates.

    PostgreSQL rejects NUL (``\\u0000``) in text and JSON, and lone surrogates are not
    encodable as UTF-8, so both must go before anything is stored.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = CONTROL_CHARS.sub("", text)
    if text.isascii():  # (a constant-time flag) no surrogates to replace
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def fold_whitespace(text: str) -> str:
    """Collapse runs of whitespace (incl. header folding) into single spaces."""
    if text.isascii() and not CONTROL_CHARS.search(text):
        return " ".join(text.split())  # what clean_text would leave of it, split the same
    return " ".join(clean_text(text).split())
