"""parse_message: raw RFC 5322 bytes to a fully filled :class:`Email`, never raising.

Each step runs inside its own guard; whatever fails is recorded in ``email.problems``
and the step's neutral default is used, so one broken header never loses the rest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from typing import TypeVar

from beacon.models import Address, AttachmentInfo, Email, ListHeaders, ParseProblem, SpamHeaders
from beacon.parse.addresses import parse_addresses
from beacon.parse.body import BodyParts, walk_body
from beacon.parse.dates import message_date
from beacon.parse.headers import decode_value, first_raw_values, raw_value, raw_values
from beacon.parse.html_text import html_to_text
from beacon.parse.mime import read_mime
from beacon.parse.quotes import split_reply
from beacon.parse.text import clean_text

T = TypeVar("T")

_MSG_ID = re.compile(r"<([^<>\s]+)>")
# ListHeaders field -> header name (the model's fields, in its order).
_LIST_HEADERS = {
    "list_id": "List-Id", "list_unsubscribe": "List-Unsubscribe",
    "list_unsubscribe_post": "List-Unsubscribe-Post", "precedence": "Precedence",
    "auto_submitted": "Auto-Submitted", "x_mailer": "X-Mailer", "user_agent": "User-Agent",
    "feedback_id": "Feedback-ID", "x_auto_response_suppress": "X-Auto-Response-Suppress",
    "return_path": "Return-Path", "x_campaign": "X-Campaign", "list_post": "List-Post",
}
_SPAM_HEADERS = {
    "x_spam_flag": "X-Spam-Flag", "x_spam_status": "X-Spam-Status", "x_spam_score": "X-Spam-Score",
    "x_spam_level": "X-Spam-Level", "x_spam": "X-Spam", "x_spamd_result": "X-Spamd-Result",
    "x_rspamd_score": "X-Rspamd-Score",
}
# The header names of each group, lower-cased once (as the header index keys them).
_LIST_LOWERED = tuple(h.lower() for h in _LIST_HEADERS.values())
_SPAM_LOWERED = tuple(h.lower() for h in _SPAM_HEADERS.values())
_MAX_RECEIVED = 6  # the relays nearest the sender are the last ones; keep the first few and the last
_CAMPAIGN_FALLBACKS = ("X-Campaign-Id", "X-CampaignID", "X-Mailgun-Campaign-Id", "X-MC-User")


@dataclass
class ParsedMessage:
    email: Email
    attachments: list[tuple[AttachmentInfo, bytes]] = field(default_factory=list)


@dataclass
class _Context:
    raw: bytes
    digest: str  # SHA-256 of the whole message (raw may be only its headers)
    problems: list[ParseProblem] = field(default_factory=list)

    def problem(self, kind: str, detail: str, part: str | None = None) -> None:
        self.problems.append(ParseProblem(kind=kind, detail=clean_text(detail)[:500], part=part))

    def guard(self, step: str, default: T, func: Callable[[], T]) -> T:
        try:
            return func()
        except Exception as exc:  # noqa: BLE001 - the parser's contract is "never raise"
            self.problem("internal", f"{step}: {type(exc).__name__}: {exc}")
            return default


def _header_text(msg: Message, name: str, ctx: _Context) -> str | None:
    return _decoded(raw_value(msg, name), name, ctx)


def _decoded(value: str | None, name: str, ctx: _Context) -> str | None:
    """``value`` (header ``name``'s raw value) decoded, its problems recorded."""
    if value is None:
        return None
    text, problems = decode_value(value)
    for problem in problems:
        ctx.problem("header", f"{name}: {problem}")
    return text


def _header_texts(msg: Message, headers: dict[str, str], lowered: tuple[str, ...],
                  ctx: _Context) -> dict[str, str | None]:
    """Decoded text of each header of a group (field -> header name; ``lowered``: the names
    lower-cased, in the same order), problems recorded in that order."""
    raws = first_raw_values(msg, lowered)
    return {field_name: _decoded(value, header, ctx)
            for (field_name, header), value in zip(headers.items(), raws)}


def _ids(value: str | None) -> list[str]:
    """Message ids in a Message-Id / In-Reply-To / References value, without <>."""
    if not value:
        return []
    found = [i.strip() for i in _MSG_ID.findall(value)]
    if not found:  # clients that omit the brackets: take bare tokens that look like ids
        found = [t.strip("<>,;") for t in value.split() if "@" in t]
    return [i for i in dict.fromkeys(found) if i]


def _message_id(msg: Message, ctx: _Context) -> tuple[str, bool]:
    ids = _ids(_header_text(msg, "Message-ID", ctx))
    if ids:
        return ids[0], False
    raw = raw_value(msg, "Message-ID")
    ctx.problem("header", "no Message-Id header" if raw is None else f"unusable Message-Id {raw.strip()[:80]!r}")
    return f"synthetic-{ctx.digest[:32]}@beacon.invalid", True


def _addresses(msg: Message, name: str, ctx: _Context) -> list[Address]:
    found, problems = parse_addresses(raw_values(msg, name))
    for problem in problems:
        ctx.problem("header", f"{name}: {problem}")
    return found


def _list_headers(msg: Message, ctx: _Context) -> ListHeaders:
    values = _header_texts(msg, _LIST_HEADERS, _LIST_LOWERED, ctx)
    if values["x_campaign"] is None:
        for header in _CAMPAIGN_FALLBACKS:
            values["x_campaign"] = values["x_campaign"] or _header_text(msg, header, ctx)
    if values["return_path"]:
        values["return_path"] = values["return_path"].strip("<> ")  # "<>" (bounces) -> None
    return ListHeaders(**{k: (v or None) for k, v in values.items()})


def _spam_headers(msg: Message, ctx: _Context) -> SpamHeaders:
    values = _header_texts(msg, _SPAM_HEADERS, _SPAM_LOWERED, ctx)
    return SpamHeaders(**{k: (v[:500] if v else None) for k, v in values.items()})


def _header_names(msg: Message) -> list[str]:
    return list(dict.fromkeys(str(k).strip().lower() for k in msg.keys()))[:200]


def _received(msg: Message) -> list[str]:
    values = raw_values(msg, "Received")
    if len(values) > _MAX_RECEIVED:
        values = values[: _MAX_RECEIVED - 1] + values[-1:]
    return [decode_value(v)[0][:300] for v in values]


def _html_source(body: BodyParts) -> str | None:
    for part in body.texts:
        if part.content_type == "text/html":
            return part.text
    return None


def _body_text(body: BodyParts) -> tuple[str, bool]:
    """Plain text: the text/plain parts, else the HTML parts converted."""
    plain = [p.text.strip() for p in body.texts if p.content_type == "text/plain" and p.text.strip()]
    if plain:
        return "\n\n".join(plain), False
    html = [html_to_text(p.text) for p in body.texts if p.content_type == "text/html"]
    html = [h for h in html if h]
    return "\n\n".join(html), bool(html)


def _parse(raw: bytes, fallback_date: datetime, keep_attachments: bool,
           truncated: tuple[int, str] | None, max_bytes: int | None) -> ParsedMessage:
    digest = truncated[1] if truncated else hashlib.sha256(raw).hexdigest()
    ctx = _Context(raw=raw, digest=digest)
    if truncated:
        limit = f" {max_bytes / 2**20:.0f} MB" if max_bytes else ""
        ctx.problem("size", f"message of {truncated[0] / 2**20:.1f} MB is over the{limit} size limit: "
                            "stored with its headers only")
    if not raw.strip():
        ctx.problem("structure", "empty message")
    msg = read_mime(raw, ctx.problems)

    message_id, synthetic = ctx.guard(
        "message id", (f"synthetic-{digest[:32]}@beacon.invalid", True),
        lambda: _message_id(msg, ctx))
    in_reply_to = ctx.guard("in-reply-to", [], lambda: _ids(_header_text(msg, "In-Reply-To", ctx)))
    references = ctx.guard("references", [], lambda: _ids(_header_text(msg, "References", ctx)))
    thread_id = (references or in_reply_to or [message_id])[0]

    addresses = {
        key: ctx.guard(header, [], lambda header=header: _addresses(msg, header, ctx))
        for key, header in (("from", "From"), ("to", "To"), ("cc", "Cc"),
                            ("reply_to", "Reply-To"), ("sender", "Sender"))
    }
    subject = ctx.guard("subject", "", lambda: _header_text(msg, "Subject", ctx) or "")

    def pick_date() -> tuple[datetime, str, list[str]]:
        return message_date(raw_values(msg, "Date"), raw_values(msg, "Received"), fallback_date)

    date, date_source, date_problems = ctx.guard(
        "date", (fallback_date, "import", ["date set to import time"]), pick_date)
    for problem in date_problems:
        ctx.problem("date", problem)

    body = ctx.guard("body", BodyParts(), lambda: walk_body(msg, keep_bytes=keep_attachments))
    ctx.problems.extend(body.problems)
    text, from_html = ctx.guard("text", ("", False), lambda: _body_text(body))
    split = ctx.guard("quotes", None, lambda: split_reply(text))
    list_headers = ctx.guard("list headers", ListHeaders(), lambda: _list_headers(msg, ctx))
    spam_headers = ctx.guard("spam headers", SpamHeaders(), lambda: _spam_headers(msg, ctx))
    header_names = ctx.guard("header names", [], lambda: _header_names(msg))
    received = ctx.guard("received", [], lambda: _received(msg))

    email = Email(
        message_id=message_id,
        message_id_synthetic=synthetic,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=references,
        thread_id=thread_id,
        **{"from": addresses["from"]},
        sender=addresses["sender"][0] if addresses["sender"] else None,
        to=addresses["to"],
        cc=addresses["cc"],
        reply_to=addresses["reply_to"],
        subject=subject,
        date=date,
        date_source=date_source,
        text=text,
        text_from_html=from_html,
        html=_html_source(body),
        new_text=split.new_text if split else text,
        signature=split.signature if split else "",
        attachments=[info for info, _ in body.attachments],
        list_headers=list_headers,
        spam_headers=spam_headers,
        header_names=header_names,
        received=received,
        problems=_dedupe(ctx.problems),
        content_hash=digest,
        size=truncated[0] if truncated else len(raw),
    )
    return ParsedMessage(email=email, attachments=body.attachments if keep_attachments else [])


def _dedupe(problems: list[ParseProblem]) -> list[ParseProblem]:
    seen: dict[tuple[str, str, str | None], ParseProblem] = {}
    for problem in problems:
        detail = clean_text(problem.detail)[:500]  # exception texts may carry raw bytes
        part = clean_text(problem.part) if problem.part else None
        seen.setdefault((problem.kind, detail, part), ParseProblem(kind=problem.kind, detail=detail, part=part))
    return list(seen.values())


def _last_resort(raw: bytes, fallback_date: datetime, exc: Exception) -> ParsedMessage:
    """An Email for bytes that defeated the parser itself (should not happen)."""
    digest = hashlib.sha256(raw).hexdigest()
    message_id = f"synthetic-{digest[:32]}@beacon.invalid"
    return ParsedMessage(email=Email(
        message_id=message_id, message_id_synthetic=True, thread_id=message_id,
        date=fallback_date, date_source="import", content_hash=digest, size=len(raw),
        problems=[ParseProblem(kind="internal", detail=clean_text(f"{type(exc).__name__}: {exc}")[:500])],
    ))


def parse_message(
    raw: bytes,
    *,
    fallback_date: datetime | None = None,
    keep_attachments: bool = True,
    truncated: tuple[int, str] | None = None,
    max_bytes: int | None = None,
) -> ParsedMessage:
    """Parse raw message bytes. Never raises; problems are recorded on the Email.

    ``fallback_date`` (default: now, UTC) is used when neither Date nor Received gives one.
    ``keep_attachments=False`` returns no attachment bytes (only their size and hash, in
    the Email): what an import needs, since the store decodes them from the raw message.
    ``truncated=(size, sha256)`` says ``raw`` is only the header block of a message over
    the size limit ``max_bytes``: the Email gets the whole message's size and hash.
    """
    if fallback_date is None:
        fallback_date = datetime.now(timezone.utc)
    elif fallback_date.tzinfo is None:
        fallback_date = fallback_date.replace(tzinfo=timezone.utc)
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raw = str(raw).encode("utf-8", "surrogateescape")
    raw = bytes(raw)
    try:
        return _parse(raw, fallback_date, keep_attachments, truncated, max_bytes)
    except Exception as exc:  # noqa: BLE001 - contract: never raise
        return _last_resort(raw, fallback_date, exc)
