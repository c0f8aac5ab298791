"""Data access for accounts, emails, raw bytes and attachments.

Functions take an open :class:`~sqlalchemy.orm.Session`; the caller decides the transaction
size (an import commits in chunks so memory stays flat and progress survives a crash).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from beacon.errors import NotFound
from beacon.models import AttachmentInfo, Email
from beacon.store.schema import Account, AttachmentRow, EmailRow, RawMessage

if TYPE_CHECKING:  # parse is imported lazily by callers; the store only needs the shape
    from beacon.parse import ParsedMessage


@dataclass(frozen=True)
class AddResult:
    email_id: int
    created: bool


def get_or_create_account(s: Session, name: str, kind: str = "local") -> Account:
    acc = s.scalar(select(Account).where(Account.name == name))
    if acc is None:
        acc = Account(name=name, kind=kind, addresses=[], folders=["INBOX"])
        s.add(acc)
        s.flush()
    return acc


def compress_raw(raw: bytes) -> bytes:
    return zlib.compress(raw, 6)


def _email_columns(email: Email) -> dict:
    sender = email.from_address
    return dict(
        message_id=email.message_id,
        message_id_synthetic=email.message_id_synthetic,
        content_hash=email.content_hash,
        thread_id=email.thread_id,
        in_reply_to=email.in_reply_to,
        references=list(email.references),
        subject=email.subject,
        from_name=sender.name,
        from_addr=sender.address.lower(),
        recipients=" ".join(a.address.lower() for a in [*email.to, *email.cc] if a.address),
        date=email.date,
        date_source=email.date_source,
        size=email.size,
        has_attachments=bool(email.attachments),
        problem_count=len(email.problems),
        data=email.model_dump(mode="json", by_alias=True),
    )


def find_email_id(s: Session, account_id: int, message_id: str, content_hash: str) -> int | None:
    return s.scalar(
        select(EmailRow.id).where(
            EmailRow.account_id == account_id,
            EmailRow.message_id == message_id,
            EmailRow.content_hash == content_hash,
        )
    )


def add_email(
    s: Session, account_id: int, parsed: ParsedMessage, raw: bytes, source: str | None = None
) -> AddResult:
    """Store a parsed message unless the account already has it (message id + content hash)."""
    email = parsed.email
    existing = find_email_id(s, account_id, email.message_id, email.content_hash)
    if existing is not None:
        return AddResult(existing, False)
    row = EmailRow(account_id=account_id, source=source, **_email_columns(email))
    s.add(row)
    s.flush()
    s.add(RawMessage(email_id=row.id, codec="zlib", data=compress_raw(raw)))
    _add_attachments(s, row.id, parsed.attachments)
    return AddResult(row.id, True)


def _add_attachments(
    s: Session, email_id: int, attachments: list[tuple[AttachmentInfo, bytes]]
) -> None:
    for pos, (info, data) in enumerate(attachments):
        s.add(
            AttachmentRow(
                email_id=email_id,
                position=pos,
                filename=info.filename,
                content_type=info.content_type,
                size=info.size,
                sha256=info.sha256,
                data=data,
            )
        )


def update_parsed(s: Session, email_id: int, parsed: ParsedMessage) -> None:
    """Overwrite an email's parsed fields (``beacon reparse``); identity columns stay."""
    row = s.get(EmailRow, email_id)
    if row is None:
        raise NotFound(f"no email {email_id}")
    cols = _email_columns(parsed.email)
    # Keep the identity the row was stored under, so re-imports still deduplicate.
    for key in ("message_id", "content_hash", "message_id_synthetic"):
        cols.pop(key)
    for key, value in cols.items():
        setattr(row, key, value)
    s.execute(delete(AttachmentRow).where(AttachmentRow.email_id == email_id))
    _add_attachments(s, email_id, parsed.attachments)


def load_raw(s: Session, email_id: int) -> bytes | None:
    rm = s.get(RawMessage, email_id)
    if rm is None:
        return None
    return zlib.decompress(rm.data) if rm.codec == "zlib" else rm.data


def load_email(row: EmailRow) -> Email:
    return Email.model_validate(row.data)


def get_email_row(s: Session, email_id: int) -> EmailRow | None:
    return s.get(EmailRow, email_id)


def list_attachments(s: Session, email_id: int) -> list[AttachmentRow]:
    return list(
        s.scalars(
            select(AttachmentRow)
            .where(AttachmentRow.email_id == email_id)
            .order_by(AttachmentRow.position)
        )
    )


def recent_emails(
    s: Session, *, limit: int = 50, offset: int = 0, account_id: int | None = None
) -> list[EmailRow]:
    q = select(EmailRow).where(EmailRow.deleted.is_(False))
    if account_id is not None:
        q = q.where(EmailRow.account_id == account_id)
    q = q.order_by(EmailRow.date.desc(), EmailRow.id.desc()).limit(limit).offset(offset)
    return list(s.scalars(q))


@dataclass(frozen=True)
class StoreStats:
    accounts: int
    emails: int
    with_problems: int
    with_attachments: int
    synthetic_ids: int
    date_fallbacks: int
    raw_bytes: int
    compressed_bytes: int
    oldest: datetime | None
    newest: datetime | None


def stats(s: Session) -> StoreStats:
    emails, with_problems, with_att, synth, fallbacks, raw_bytes, oldest, newest = s.execute(
        select(
            func.count(EmailRow.id),
            func.count(EmailRow.id).filter(EmailRow.problem_count > 0),
            func.count(EmailRow.id).filter(EmailRow.has_attachments.is_(True)),
            func.count(EmailRow.id).filter(EmailRow.message_id_synthetic.is_(True)),
            func.count(EmailRow.id).filter(EmailRow.date_source != "header"),
            func.coalesce(func.sum(EmailRow.size), 0),
            func.min(EmailRow.date),
            func.max(EmailRow.date),
        )
    ).one()
    compressed = s.scalar(select(func.coalesce(func.sum(func.length(RawMessage.data)), 0)))
    accounts = s.scalar(select(func.count(Account.id)))
    return StoreStats(
        accounts=accounts or 0,
        emails=emails,
        with_problems=with_problems,
        with_attachments=with_att,
        synthetic_ids=synth,
        date_fallbacks=fallbacks,
        raw_bytes=int(raw_bytes),
        compressed_bytes=int(compressed or 0),
        oldest=oldest,
        newest=newest,
    )
