"""Database side of a folder sync: which stored email sits at which UID, with which flags.

A *stale* link is one whose UID belongs to an old UIDVALIDITY. It is kept, with its UID
replaced by ``-row id`` (negative, so it can never clash with a real UID), until the new
UIDs have been matched to it; links still stale after a full pass mean the mail is gone.
Keeping them in the database (not in memory) lets an interrupted resync resume.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Select, and_, bindparam, delete, exists, insert, select, update
from sqlalchemy.orm import Session, aliased

from beacon.store.schema import EmailRow, ImapFolder, ImapMessage
from beacon.triage.rescore import mark_due

# IMAP system flags mirrored as EmailRow columns. \Recent is per-session noise: dropped.
FLAG_COLUMNS = {"\\Seen": "seen", "\\Answered": "answered", "\\Flagged": "flagged"}
_IGNORED_FLAGS = {"\\Recent"}


def normalise_flags(flags: Iterable[bytes | str]) -> list[str]:
    out = {f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f) for f in flags}
    return sorted(out - _IGNORED_FLAGS)


def flag_columns(flags: Collection[str]) -> dict[str, bool]:
    """The EmailRow columns that mirror ``flags``."""
    # Flagged \Deleted = waiting for expunge: hidden like other clients hide it.
    return {**{column: flag in flags for flag, column in FLAG_COLUMNS.items()}, "deleted": "\\Deleted" in flags}


_FLAG_KEYS = tuple(flag_columns(()))


def apply_flags(row: EmailRow, flags: Sequence[str]) -> None:
    for column, value in flag_columns(flags).items():
        setattr(row, column, value)


def get_or_create_folder(s: Session, account_id: int, name: str) -> ImapFolder:
    folder = s.scalar(
        select(ImapFolder).where(ImapFolder.account_id == account_id, ImapFolder.name == name)
    )
    if folder is None:
        folder = ImapFolder(account_id=account_id, name=name, uidvalidity=None, last_uid=0)
        s.add(folder)
        s.flush()
    return folder


def link(
    s: Session, folder_id: int, uid: int, email_id: int, flags: list[str], *, may_be_stale: bool = True
) -> None:
    """Record that ``email_id`` is at ``uid``; reuses a stale link to the same email.

    ``may_be_stale=False`` (the folder has no stale links) skips the lookup: a query per
    message that would otherwise cost as much as storing it.
    """
    stale = None
    if may_be_stale:
        stale = s.scalar(
            select(ImapMessage)
            .where(ImapMessage.folder_id == folder_id, ImapMessage.email_id == email_id, ImapMessage.uid < 0)
            .limit(1)
        )
    if stale is not None:
        stale.uid, stale.flags = uid, flags
    else:
        s.add(ImapMessage(folder_id=folder_id, uid=uid, email_id=email_id, flags=flags))
    row = s.get(EmailRow, email_id)
    if row is not None:
        apply_flags(row, flags)  # also "undeletes" mail found again


def link_many(
    s: Session, folder_id: int, entries: Sequence[tuple[int, int, list[str]]], *, may_be_stale: bool = True,
    flags_stored: Collection[int] = (),
) -> None:
    """:func:`link` for many (uid, email_id, flags) at once: two statements when the folder
    has no stale links (a fresh sync), one :func:`link` each otherwise. ``flags_stored``:
    emails whose row was just inserted with its flag columns (:func:`flag_columns`), so
    only a second UID of the same email in ``entries`` needs its row updated."""
    if may_be_stale:
        for uid, email_id, flags in entries:
            link(s, folder_id, uid, email_id, flags)
        return
    if not entries:
        return
    # Core statements: the ORM's bulk paths cost more per row than the statements themselves.
    conn = s.connection()
    conn.execute(insert(ImapMessage.__table__), [
        {"folder_id": folder_id, "uid": uid, "email_id": email_id, "flags": flags} for uid, email_id, flags in entries])
    uses = Counter(email_id for _uid, email_id, _flags in entries)
    last = {email_id: flags for _uid, email_id, flags in entries}  # the last UID's flags win
    todo = [{"b_id": email_id, **{f"b_{k}": v for k, v in flag_columns(flags).items()}}
            for email_id, flags in last.items() if uses[email_id] > 1 or email_id not in flags_stored]
    if todo:
        table = EmailRow.__table__
        conn.execute(update(table).where(table.c.id == bindparam("b_id"))
                     .values({k: bindparam(f"b_{k}") for k in _FLAG_KEYS}), todo)


def linked_uids(s: Session, folder_id: int, uids: Sequence[int]) -> set[int]:
    if not uids:
        return set()
    return set(
        s.scalars(
            select(ImapMessage.uid).where(ImapMessage.folder_id == folder_id, ImapMessage.uid.in_(uids))
        )
    )


def known_chunk(s: Session, folder_id: int, after_uid: int, limit: int) -> list[ImapMessage]:
    """Live links with UID > ``after_uid``, in UID order: keyset paging keeps memory flat."""
    return list(
        s.scalars(
            select(ImapMessage)
            .where(ImapMessage.folder_id == folder_id, ImapMessage.uid > after_uid)
            .order_by(ImapMessage.uid)
            .limit(limit)
        )
    )


def update_flags(s: Session, msg: ImapMessage, flags: list[str]) -> None:
    msg.flags = flags
    row = s.get(EmailRow, msg.email_id)
    if row is not None:
        answered = row.answered
        apply_flags(row, flags)
        if row.answered != answered:  # \Answered answers it: its thread is rescored on the next pass
            mark_due(s, [row.id])


def _mark_orphans_deleted(s: Session, email_ids: Collection[int] | Select[Any]) -> None:
    """Emails no longer at any UID in any folder are marked deleted (the row stays)."""
    other = aliased(ImapMessage)
    ids = email_ids if isinstance(email_ids, Select) else list(email_ids)
    s.execute(
        update(EmailRow)
        .where(
            EmailRow.id.in_(ids),
            ~exists().where(and_(other.email_id == EmailRow.id, other.uid > 0)),
        )
        .values(deleted=True)
        .execution_options(synchronize_session=False)
    )
    mark_due(s, ids)  # a deleted head hands its conversation to another message


def unlink_gone(s: Session, messages: Sequence[ImapMessage]) -> None:
    """The server no longer has these UIDs (expunged)."""
    if not messages:
        return
    email_ids = {m.email_id for m in messages}
    s.execute(delete(ImapMessage).where(ImapMessage.id.in_([m.id for m in messages])))
    _mark_orphans_deleted(s, email_ids)


def mark_all_stale(s: Session, folder: ImapFolder, uidvalidity: int) -> int:
    """UIDVALIDITY changed: every live link becomes stale, UIDs restart from zero."""
    res = cast(CursorResult[Any], s.execute(
        update(ImapMessage)
        .where(ImapMessage.folder_id == folder.id, ImapMessage.uid > 0)
        .values(uid=-ImapMessage.id)
        .execution_options(synchronize_session=False)
    ))
    folder.uidvalidity = uidvalidity
    folder.last_uid = 0
    return res.rowcount or 0


def has_stale(s: Session, folder_id: int) -> bool:
    return bool(
        s.scalar(
            select(exists().where(ImapMessage.folder_id == folder_id, ImapMessage.uid < 0))
        )
    )


def stale_candidates(
    s: Session, folder_id: int, message_ids: Sequence[str]
) -> dict[tuple[str, int], list[int]]:
    """Stale links whose email has one of these Message-IDs: {(message id, size): [email ids]}."""
    out: dict[tuple[str, int], list[int]] = {}
    if not message_ids:
        return out
    rows = s.execute(
        select(EmailRow.message_id, EmailRow.size, ImapMessage.email_id)
        .join(EmailRow, EmailRow.id == ImapMessage.email_id)
        .where(
            ImapMessage.folder_id == folder_id,
            ImapMessage.uid < 0,
            EmailRow.message_id.in_(list(set(message_ids))),
        )
        .order_by(ImapMessage.id)
    )
    for mid, size, email_id in rows:
        out.setdefault((mid, size), []).append(email_id)
    return out


def purge_stale(s: Session, folder_id: int) -> int:
    """After a complete pass: stale links that found no new UID are mail that is gone."""
    stale = select(ImapMessage.email_id).where(
        ImapMessage.folder_id == folder_id, ImapMessage.uid < 0
    )
    _mark_orphans_deleted(s, stale)  # in SQL: a huge resync never lists ids in memory
    res = cast(CursorResult[Any], s.execute(
        delete(ImapMessage)
        .where(ImapMessage.folder_id == folder_id, ImapMessage.uid < 0)
        .execution_options(synchronize_session=False)
    ))
    return res.rowcount or 0
