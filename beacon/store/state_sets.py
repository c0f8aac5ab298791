"""The reader's states (``email_states``) as conditions for the inbox and the ``is:`` terms of
the search language.

What the inbox leaves out: done and snoozed mail through the analyses' ``away`` copy (a leading
key of the inbox indexes, so the walk never reads it); the reader's own mail is checked on each
row the walk reads. ``is:read`` and ``is:unread`` are the analyses' ``is_read`` copy (a range of
an inbox index); the other ``is:`` terms probe each row's state by its primary key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import ColumnElement, and_, bindparam, exists, false, or_, select, true, update
from sqlalchemy.orm import Session

from beacon.store.schema import Account, AnalysisRow, EmailRow, EmailStateRow
from beacon.store.tenancy import UserScope, is_everyone

__all__ = [
    "SENT_FOLDERS", "WOKEN_CAP", "account_addresses", "is_away", "is_read", "kept", "not_away", "not_own", "one_read",
    "state_condition", "sync_copies", "woken",
]

# Session.info key of the answers kept by ``one_read`` (absent outside it).
_ONE_READ = "beacon.state_sets.one_read"

# Folder names mail clients and servers give sent mail (IMAP SPECIAL-USE \Sent, Maildir++,
# Gmail, Exchange/Outlook, Apple Mail, Thunderbird), as stored in ``emails.folder``.
SENT_FOLDERS = (
    "Sent", "Sent Items", "Sent Mail", "Sent Messages", "Sent Mails", "[Gmail]/Sent Mail", "[Google Mail]/Sent Mail",
    "INBOX.Sent", "INBOX/Sent", "INBOX.Sent Items", "INBOX.Sent Messages", "Sent.mbox", "sent", "sent-mail",
    "Sent-Mail", "Gesendet", "Gesendete Objekte", "Envoyés", "Éléments envoyés", "Enviados", "Inviata",
)

_S = EmailStateRow
WOKEN_CAP = 200  # woken mail on top of the inbox at most (the rest waits at its own rank)


def not_away() -> ColumnElement[bool]:
    """Neither done nor snoozed (asleep, or woken and not acted on yet: those stand on top of
    the first page instead, :func:`woken`): the analysis' ``away`` copy, a leading key of the
    inbox indexes, so the walk never reads the mail it leaves out."""
    return AnalysisRow.away == false()


def is_away(state: EmailStateRow | None) -> bool:
    """What ``analyses.away`` holds for an email in ``state`` (no row: in the inbox)."""
    return state is not None and (state.done_at is not None or state.snoozed_until is not None)


def is_read(state: EmailStateRow | None) -> bool:
    """What ``analyses.is_read`` holds for an email in ``state`` (no row: unread)."""
    return state is not None and state.read_at is not None


def sync_copies(s: Session, state: EmailStateRow) -> None:
    """Keep the analyses' ``away`` and ``is_read`` copies (every pipeline version's) in step
    with ``state``."""
    s.execute(update(AnalysisRow).where(AnalysisRow.email_id == state.email_id)
              .values(away=is_away(state), is_read=is_read(state)).execution_options(synchronize_session="fetch"))


@contextmanager
def one_read(s: Session) -> Iterator[None]:
    """Within the block, ``woken`` and ``account_addresses`` read the store once each (per
    scope) and give the same answer after: an inbox page asks them up to three times, for
    its rescore, its page and its count, and changes neither meanwhile. ``woken`` keeps the
    moment of its first call, so all three see the same snoozes ended. (So does anything
    else read through :func:`kept`.)"""
    outer = _ONE_READ in s.info
    if not outer:
        s.info[_ONE_READ] = {}
    try:
        yield
    finally:
        if not outer:
            s.info.pop(_ONE_READ, None)


def kept(s: Session, key: tuple[Any, ...], read: Any) -> Any:
    """``read()``, once per ``key`` within ``one_read`` (every time outside it)."""
    memo = s.info.get(_ONE_READ)
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    return memo[key]


# Statements built once (building one costs more than running it on a page's worth of rows).
_WOKEN = (select(_S.email_id).where(_S.snoozed_until <= bindparam("now"), _S.done_at.is_(None))
          .order_by(_S.snoozed_until.desc()).limit(bindparam("cap")))
_ADDRESSES = select(Account.addresses).where(Account.user_id == bindparam("scope"))


def woken(s: Session, now: datetime, cap: int = WOKEN_CAP) -> list[int]:
    """Mail whose snooze has ended and that nobody has acted on since (read from the snooze
    index: usually none), the most recently woken first; every user's (the inbox query keeps
    the reader's own)."""
    return list(kept(s, ("woken", cap), lambda: tuple(s.scalars(_WOKEN, {"now": now, "cap": cap}))))


def not_own(addresses: Sequence[str]) -> ColumnElement[bool]:
    """Not the reader's own message (from one of their addresses, or in a Sent folder), read
    from the email's row."""
    not_sent = or_(EmailRow.folder.is_(None), EmailRow.folder.not_in(SENT_FOLDERS))
    own = sorted({a.lower() for a in addresses if a})
    return and_(EmailRow.from_addr.not_in(own), not_sent) if own else not_sent


def account_addresses(s: Session, scope: UserScope) -> list[str]:
    """The addresses set on ``scope``'s accounts (besides the personal ``own_addresses``)."""
    def read() -> tuple[str, ...]:
        rows = s.scalars(select(Account.addresses)) if is_everyone(scope) else s.scalars(_ADDRESSES, {"scope": scope})
        return tuple(sorted({a.lower() for addrs in rows for a in (addrs or [])}))

    return list(kept(s, ("account_addresses", scope), read))


def _has(cond: ColumnElement[bool]) -> ColumnElement[bool]:
    """The email has a state row meeting ``cond``: one primary-key probe per row the walk reads
    (a set of every such id, built for each query, grew with the mail: a store whose mail is
    all done built 50,000 ids to list 50)."""
    return exists().where(_S.email_id == AnalysisRow.email_id, cond)


def state_condition(name: str, now: datetime) -> ColumnElement[bool]:
    """The ``is:`` terms kept in ``email_states`` as a condition on the inbox's analyses row."""
    if name == "done":
        return _has(_S.done_at.is_not(None))
    if name == "snoozed":
        return _has(_S.snoozed_until > now)
    if name == "read":  # equality on the copy: the range of ix_analyses_read_priority
        return AnalysisRow.is_read == true()
    if name == "unread":
        return AnalysisRow.is_read == false()
    if name == "replied":
        return _has(_S.replied_at.is_not(None))
    if name == "important":
        # The reader's mark wins; unmarked mail is important when flagged on the server or HIGH.
        return or_(
            _has(_S.importance == "important"),
            and_(~_has(_S.importance.is_not(None)), or_(EmailRow.flagged.is_(True), AnalysisRow.level == "HIGH")),
        )
    if name == "not-important":
        return _has(_S.importance == "not_important")
    raise ValueError(f"not a state kept in email_states: {name}")
