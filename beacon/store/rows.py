"""Store-ready rows of a parsed email, made wherever it was parsed (perhaps a parse worker).

No SQLAlchemy here: parse workers import this module and the parser only, so each one
stays small in memory (:mod:`beacon.ingest.prepare`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isal import isal_zlib

from beacon.models import Email
from beacon.store.search_rows import SearchRow, search_row

if TYPE_CHECKING:  # parse is imported lazily by callers; the rows only need the shape
    from beacon.parse import ParsedMessage

__all__ = ["JSONText", "NewEmail", "compress_raw", "email_columns", "new_email", "recipients_column"]

# The recipients query column holds this much; the Email JSON keeps every address.
MAX_RECIPIENTS_CHARS = 20_000
MAX_SUBJECT_CHARS = 2_000
MAX_ID_CHARS = 998
MAX_REFERENCES = 200


class JSONText(str):
    """JSON already serialised where the data was made (a parse worker): stored as it is."""


@dataclass
class NewEmail:
    """Everything one stored email needs, made where it was parsed (perhaps a worker process).

    Plain data (picklable, small): the ``emails`` columns with the Email JSON already
    serialised, the compressed raw bytes, one row per attachment (no attachment bytes:
    they stay inside the raw message and are decoded on demand) and the full-text index row.
    """

    columns: dict[str, Any]
    raw_compressed: bytes
    attachments: list[dict[str, Any]]
    search: SearchRow
    problem_count: int = 0

    @property
    def identity(self) -> tuple[str, str]:
        return self.columns["message_id"], self.columns["content_hash"]


def compress_raw(raw: bytes) -> bytes:
    """A zlib stream (``zlib.decompress`` reads it), made by ISA-L at level 1: three times
    faster than zlib's level 1 on mail, five times on base64 attachments (faster even than
    zlib's Huffman-only coding), and no bigger. The raw message is written once per import
    and read rarely."""
    return isal_zlib.compress(raw, 1)


def email_columns(email: Email) -> dict[str, Any]:
    sender = email.from_address
    # Query columns are capped (String(998) on PostgreSQL refuses more; a 5 MB subject
    # would slow every listing); the Email JSON in ``data`` keeps every value whole.
    return dict(
        message_id=email.message_id[:MAX_ID_CHARS],
        message_id_synthetic=email.message_id_synthetic,
        content_hash=email.content_hash,
        thread_id=email.thread_id[:MAX_ID_CHARS],
        in_reply_to=email.in_reply_to[:MAX_ID_CHARS] if email.in_reply_to else None,
        references=list(email.references[-MAX_REFERENCES:]),
        subject=email.subject[:MAX_SUBJECT_CHARS],
        from_name=sender.name[:MAX_ID_CHARS],
        from_addr=sender.address.lower()[:MAX_ID_CHARS],
        recipients=recipients_column(email),
        date=email.date,
        date_source=email.date_source,
        size=email.size,
        has_attachments=bool(email.attachments),
        problem_count=len(email.problems),
        data=JSONText(email.model_dump_json(by_alias=True)),
    )


def recipients_column(email: Email) -> str:
    """Lower-cased To + Cc addresses for queries, capped (the Email JSON keeps them all)."""
    out: list[str] = []
    length = 0
    for a in (*email.to, *email.cc):
        if a.address:
            out.append(a.address.lower())
            length += len(a.address) + 1
            if length > MAX_RECIPIENTS_CHARS:
                break
    return " ".join(out)


def new_email(parsed: ParsedMessage, raw: bytes, *, source: str | None = None,
              folder: str | None = None) -> NewEmail:
    email = parsed.email
    cols = email_columns(email)
    cols["source"] = source
    cols["folder"] = folder
    attachments = [
        dict(position=pos, filename=info.filename, content_type=info.content_type, size=info.size,
             sha256=info.sha256, part=info.part, data=None)
        for pos, info in enumerate(email.attachments)
    ]
    return NewEmail(cols, compress_raw(raw), attachments, search_row(email, cols), len(email.problems))
