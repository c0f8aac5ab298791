"""``beacon analyze-text`` input: one JSON object per line -> a typed Email (or a clear error).

Each line is ``{"text": ..., "subject": ..., "from": ..., "date": ISO-8601}``; only ``text`` is
required. The text is split into new text, quoted history and signature exactly as a parsed
message's body is, so the analysis sees what it would see for real mail.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from beacon.models import Email
from beacon.parse.addresses import parse_addresses
from beacon.parse.quotes import split_reply


class TextLine(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    text: str
    subject: str = ""
    from_: str = Field(default="", alias="from")
    date: datetime | None = None

    @field_validator("date")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            return v.replace(tzinfo=timezone.utc)  # an ISO date without offset is taken as UTC
        return v


class LineError(ValueError):
    """A line that is not a usable input object; the message says why."""


def parse_line(line: str, now: datetime | None = None) -> Email:
    try:
        data: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LineError(f"not JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise LineError(f"expected a JSON object, got {type(data).__name__}")
    try:
        item = TextLine.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "line"
        raise LineError(f"{where}: {err['msg']}") from exc
    senders, _problems = parse_addresses([item.from_]) if item.from_ else ([], [])
    digest = hashlib.sha256(line.encode("utf-8", "surrogateescape")).hexdigest()
    message_id = f"text-{digest[:32]}@beacon.invalid"
    split = split_reply(item.text)
    return Email(
        message_id=message_id,
        message_id_synthetic=True,
        thread_id=message_id,
        **{"from": senders[:1]},
        subject=item.subject,
        date=item.date or now or datetime.now(timezone.utc),
        date_source="header" if item.date else "import",
        text=item.text,
        new_text=split.new_text,
        signature=split.signature,
        content_hash=digest,
        size=len(item.text.encode("utf-8", "surrogateescape")),
    )
