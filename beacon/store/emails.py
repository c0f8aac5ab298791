"""Data access for accounts, emails, raw bytes and attachments.

Functions take an open :class:`~sqlalchemy.orm.Session`; the caller decides the transaction
size (an import commits in chunks so memory stays flat and progress survives a crash).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from beacon.errors import NotFound
from beacon.models import Email
from beacon.store import row_insert, search_index
from beacon.store.rows import (  # noqa: F401 - re-exported: the rows are part of this API
    MAX_ID_CHARS, MAX_RECIPIENTS_CHARS, MAX_REFERENCES, MAX_SUBJECT_CHARS, JSONText, NewEmail, compress_raw,
    email_columns, new_email, recipients_column,
)
from beacon.store.schema import Account, AnalysisRow, AttachmentRow, EmailRow, RawMessage
from beacon.store.tenancy import EVERYONE, UserScope, account_ids, is_everyone

if TYPE_CHECKING:  # parse is imported lazily by callers; the store only needs the shape
    from beacon.parse import ParsedMessage


@dataclass(frozen=True)
class AddResult:
    email_id: int
    created: bool


def _owned(q: Any, scope: UserScope) -> Any:
    """``q`` limited to the emails ``scope`` may see: the one owner filter of this module."""
    return q if is_everyone(scope) else q.where(EmailRow.account_id.in_(account_ids(scope)))


def find_account(s: Session, name: str, user_id: int | None) -> Account | None:
    """``user_id``'s account of that name (None: the account with no owner yet)."""
    owner = Account.user_id.is_(None) if user_id is None else Account.user_id == user_id
    return s.scalar(select(Account).where(Account.name == name, owner))


def get_or_create_account(s: Session, name: str, kind: str = "local", *, user_id: int | None = None) -> Account:
    acc = find_account(s, name, user_id)
    if acc is None:
        acc = Account(name=name, kind=kind, addresses=[], folders=["INBOX"], user_id=user_id)
        s.add(acc)
        s.flush()
    return acc


def find_email_id(s: Session, account_id: int, message_id: str, content_hash: str) -> int | None:
    return s.scalar(
        select(EmailRow.id).where(
            EmailRow.account_id == account_id,
            EmailRow.message_id == message_id,
            EmailRow.content_hash == content_hash,
        )
    )


# One statement for every batch, the hashes bound as one expanding parameter (not a bound
# value built per hash and batch).
_EXISTING = select(EmailRow.id, EmailRow.message_id, EmailRow.content_hash).where(
    EmailRow.account_id == bindparam("account_id"), EmailRow.content_hash.in_(bindparam("hashes", expanding=True)))


def existing_ids(s: Session, account_id: int, identities: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of the emails the account already has among (message id, content hash) pairs."""
    found: dict[tuple[str, str], int] = {}
    wanted = set(identities)
    hashes = sorted({h for _m, h in wanted})
    for start in range(0, len(hashes), 500):
        rows = s.execute(_EXISTING, {"account_id": account_id, "hashes": hashes[start:start + 500]})
        for row in rows:
            key = (row.message_id, row.content_hash)
            if key in wanted:
                found[key] = row.id
    return found


def _sqlite_new_ids(s: Session, account_id: int, todo: list[NewEmail]) -> dict[tuple[str, str], int] | None:
    """The ids SQLite just gave ``todo``'s rows (inserted in that order by one executemany), or
    None if the rows at those ids are not exactly them.

    SQLite gives a new row the largest id + 1, and no other writer can insert before this
    transaction ends, so the rows hold the ids up to the last one inserted: one range read by
    primary key instead of a lookup of every identity.
    """
    last = s.connection().exec_driver_sql("SELECT last_insert_rowid()").scalar() or 0
    first = last - len(todo) + 1
    rows = s.connection().exec_driver_sql(
        "SELECT id, account_id, message_id, content_hash FROM emails WHERE id BETWEEN ? AND ? ORDER BY id",
        (first, last)).all()
    expected = [(first + i, account_id, *n.identity) for i, n in enumerate(todo)]
    if [tuple(r) for r in rows] != expected:
        return None
    return {n.identity: first + i for i, n in enumerate(todo)}


def add_batch(s: Session, account_id: int, batch: list[NewEmail]) -> list[AddResult]:
    """Store many emails with a few statements; returns one result per input, in order.

    Emails the account already has (or that appear twice in ``batch``) are not stored again.
    Runs inside the caller's transaction; an IntegrityError (a concurrent writer stored
    one of them meanwhile) propagates so the caller can retry message by message.
    """
    ids = existing_ids(s, account_id, [n.identity for n in batch])
    todo: list[NewEmail] = []
    seen: set[tuple[str, str]] = set(ids)
    for n in batch:
        if n.identity not in seen:
            seen.add(n.identity)
            todo.append(n)
    created: set[tuple[str, str]] = set()
    if todo:
        # Core statements on the session's connection: the ORM's bulk path costs more
        # per row than the insert itself.
        # (RETURNING with ordered rows makes SQLite run one INSERT per row: an executemany
        # and one SELECT of the new ids are much cheaper.)
        conn = s.connection()
        emails = [{**n.columns, "account_id": account_id} for n in todo]
        if row_insert.supported(conn):
            row_insert.insert_rows(conn, EmailRow.__table__, emails)
            new_ids = _sqlite_new_ids(s, account_id, todo)
        else:
            conn.execute(insert(EmailRow.__table__), emails)
            new_ids = None
        ids.update(new_ids if new_ids is not None else existing_ids(s, account_id, [n.identity for n in todo]))
        created.update(n.identity for n in todo)
        raws = [{"email_id": ids[n.identity], "codec": "zlib", "data": n.raw_compressed} for n in todo]
        attachments = [{**a, "email_id": ids[n.identity]} for n in todo for a in n.attachments]
        for table, rows in ((RawMessage.__table__, raws), (AttachmentRow.__table__, attachments)):
            if rows and row_insert.supported(conn):
                row_insert.insert_rows(conn, table, rows)
            elif rows:
                conn.execute(insert(table), rows)
        # The full-text rows, made in the parse workers (no insert trigger: search_index).
        search_index.add_rows(s.connection(), [(ids[n.identity], n.search) for n in todo])
    results: list[AddResult] = []
    for n in batch:
        first = n.identity in created
        results.append(AddResult(ids[n.identity], first))
        created.discard(n.identity)  # a second copy in the same batch is a duplicate
    return results


def add_email(
    s: Session, account_id: int, parsed: ParsedMessage, raw: bytes, source: str | None = None,
    folder: str | None = None,
) -> AddResult:
    """Store a parsed message unless the account already has it (message id + content hash)."""
    return add_batch(s, account_id, [new_email(parsed, raw, source=source, folder=folder)])[0]


def update_parsed(s: Session, email_id: int, parsed: ParsedMessage) -> None:
    """Overwrite an email's parsed fields (``beacon reparse``); identity columns stay."""
    row = s.get(EmailRow, email_id)
    if row is None:
        raise NotFound(f"no email {email_id}")
    cols = email_columns(parsed.email)
    # Keep the identity the row was stored under, so re-imports still deduplicate.
    for key in ("message_id", "content_hash", "message_id_synthetic", "size"):
        cols.pop(key)
    cols["data"] = json.loads(cols["data"])  # ORM attribute: a plain value
    for key, value in cols.items():
        setattr(row, key, value)
    # The inbox orders and filters by the analyses' copies (the search index follows by trigger).
    s.execute(update(AnalysisRow).where(AnalysisRow.email_id == email_id)
              .values(email_date=row.date, has_attachments=bool(row.has_attachments)))
    s.execute(delete(AttachmentRow).where(AttachmentRow.email_id == email_id))
    for pos, info in enumerate(parsed.email.attachments):
        s.add(AttachmentRow(email_id=email_id, position=pos, filename=info.filename,
                            content_type=info.content_type, size=info.size, sha256=info.sha256,
                            part=info.part, data=None))


def load_raw(s: Session, email_id: int) -> bytes | None:
    rm = s.get(RawMessage, email_id)
    if rm is None:
        return None
    return zlib.decompress(rm.data) if rm.codec == "zlib" else rm.data


def attachment_bytes(s: Session, email_id: int, rows: list[AttachmentRow]) -> dict[int, bytes]:
    """Bytes of some of an email's attachments, by row id: decoded from the raw message
    (parsed once for all of them), or the stored bytes of rows written before."""
    out = {r.id: r.data for r in rows if r.data is not None}
    wanted = {r.part: r for r in rows if r.data is None and r.part}
    if wanted:
        from beacon.parse.body import extract_parts  # noqa: PLC0415 - the store needs the parser only here

        raw = load_raw(s, email_id)
        if raw is not None:
            for part, data in extract_parts(raw, set(wanted)).items():
                if hashlib.sha256(data).hexdigest() == wanted[part].sha256:
                    out[wanted[part].id] = data
    return out


def load_email(row: EmailRow) -> Email:
    return Email.model_validate(row.data)


def visible_ids(s: Session, email_ids: set[int], scope: UserScope) -> set[int]:
    """Those of ``email_ids`` that ``scope`` may see."""
    if is_everyone(scope) or not email_ids:
        return set(email_ids)
    return set(s.scalars(_owned(select(EmailRow.id).where(EmailRow.id.in_(email_ids)), scope)))


def count_emails(s: Session, scope: UserScope) -> int:
    """How many emails ``scope`` has (a user's: read from the index of their accounts' mail)."""
    return s.scalar(_owned(select(func.count()).select_from(EmailRow), scope)) or 0


def get_email_row(s: Session, email_id: int, scope: UserScope = EVERYONE) -> EmailRow | None:
    """The email, if ``scope`` may see it (another user's email is as absent as a missing one)."""
    if is_everyone(scope):
        return s.scalar(_ONE_EMAIL, {"id": email_id})
    return s.scalar(_ONE_EMAIL_OWNED, {"id": email_id, "scope": scope})


# Built once (an email page's statements cost more to build than to run).
_ONE_EMAIL = select(EmailRow).where(EmailRow.id == bindparam("id"))
_ONE_EMAIL_OWNED = _owned(_ONE_EMAIL, bindparam("scope"))  # type: ignore[arg-type]


def list_attachments(s: Session, email_id: int) -> list[AttachmentRow]:
    return list(
        s.scalars(
            select(AttachmentRow)
            .where(AttachmentRow.email_id == email_id)
            .order_by(AttachmentRow.position)
        )
    )


def recent_emails(
    s: Session, *, limit: int = 50, offset: int = 0, account_id: int | None = None, scope: UserScope = EVERYONE,
) -> list[EmailRow]:
    q = _owned(select(EmailRow).where(EmailRow.deleted.is_(False)), scope)
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


def stats(s: Session, scope: UserScope = EVERYONE) -> StoreStats:
    """What ``scope``'s accounts hold."""
    mine = EmailRow.account_id.in_(account_ids(scope))
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
        ).where(mine)
    ).one()
    compressed = s.scalar(select(func.coalesce(func.sum(func.length(RawMessage.data)), 0))
                          .join(EmailRow, EmailRow.id == RawMessage.email_id).where(mine))
    accounts = s.scalar(select(func.count(Account.id)).where(Account.id.in_(account_ids(scope))))
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
