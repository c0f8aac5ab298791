"""The server's flags read into Beacon's states (the mail server is the source of truth).

- ``\\Seen`` is read / unread.
- ``\\Flagged`` (the star of every mail program) is "important": a star set elsewhere marks
  the mail important; a star removed clears Beacon's importance (back to Beacon's own
  judgement), never "not important" — an unstarred mail in a mail program is just unstarred,
  IMAP has no flag for "not important". Beacon's "not important" removes the star.
- ``\\Answered`` is replied (there is no "unreplied": removing it changes nothing).
- ``$BeaconDone`` (done on a server without an archive folder) is done / undone.

A change another mail program made to a known message becomes an action of source ``imap``
(logged, learned from, undoable like the reader's own), already in step with the server. Mail
seen for the first time takes its state from its flags directly: it arriving read is not an
action of the reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from beacon.imap.mailbox import ANSWERED, DONE_KEYWORD, FLAGGED, SEEN
from beacon.store.schema import EmailActionRow, EmailRow, ImapMessage
from beacon.store.tenancy import EVERYONE
from beacon.triage.actions import apply_action
from beacon.triage.models import Action, ActionRecord, EmailState, Importance, Source
from beacon.triage.states import load_states, write_state

__all__ = ["apply_imap_action", "apply_server_changes", "initial_states", "server_actions"]


def server_actions(old: Iterable[str], new: Iterable[str], state: EmailState) -> list[Action]:
    """The actions that bring ``state`` in line with a flag change ``old`` -> ``new``; none
    for what the state already says."""
    before, after = set(old), set(new)
    added, removed = after - before, before - after
    out: list[Action] = []
    if SEEN in added and state.read_at is None:
        out.append(Action.READ)
    if SEEN in removed and state.read_at is not None:
        out.append(Action.UNREAD)
    if FLAGGED in added and state.importance != Importance.IMPORTANT:
        out.append(Action.IMPORTANT)
    if FLAGGED in removed and state.importance == Importance.IMPORTANT:
        out.append(Action.CLEAR_IMPORTANCE)
    if ANSWERED in added and state.replied_at is None:
        out.append(Action.REPLIED)
    if DONE_KEYWORD in added and state.done_at is None:
        out.append(Action.DONE)
    if DONE_KEYWORD in removed and state.done_at is not None:
        out.append(Action.UNDONE)
    return out


def apply_server_changes(
    s: Session, changes: Sequence[tuple[int, list[str], list[str]]], now: datetime | None = None
) -> list[ActionRecord]:
    """Apply (email id, flags before, flags now) changes seen on the server; the actions are
    logged as in step with the server already (nothing to write back)."""
    now = now or datetime.now(UTC)
    live = set(s.scalars(select(EmailRow.id).where(
        EmailRow.id.in_([c[0] for c in changes]), EmailRow.deleted.is_(False))))
    records: list[ActionRecord] = []
    for email_id, old, new in changes:
        if email_id not in live:
            continue
        state = load_states(s, [email_id])[email_id]
        for action in server_actions(old, new, state):
            records += apply_imap_action(s, [email_id], action, now)
    return records


def apply_imap_action(s: Session, email_ids: Sequence[int], action: Action,
                      now: datetime | None = None) -> list[ActionRecord]:
    """An action the server's state calls for, logged as in step with the server already."""
    now = now or datetime.now(UTC)
    records = apply_action(s, EVERYONE, email_ids, action, source=Source.IMAP, now=now)
    s.execute(update(EmailActionRow).where(EmailActionRow.id.in_([r.id for r in records]))
              .values(imap_synced_at=now).execution_options(synchronize_session=False))
    return records


def initial_states(s: Session, email_ids: Sequence[int], now: datetime | None = None) -> int:
    """States of mail stored for the first time, from the flags it has on the server; returns
    how many emails got a state (the others keep the default: unread, no importance)."""
    now = now or datetime.now(UTC)
    flags: dict[int, set[str]] = {}
    for email_id, fl in s.execute(select(ImapMessage.email_id, ImapMessage.flags)
                                  .where(ImapMessage.email_id.in_(list(email_ids)), ImapMessage.uid > 0)):
        flags.setdefault(email_id, set()).update(fl or [])
    n = 0
    for email_id, fl in flags.items():
        changes: dict[str, object] = {}
        if SEEN in fl:
            changes["read_at"] = now
        if FLAGGED in fl:
            changes["importance"] = Importance.IMPORTANT
        # \Answered is left to beacon.triage.replies.detect_replies, which runs next and
        # records it as a reply of source imap (a signal the reader's model learns from).
        if DONE_KEYWORD in fl:
            changes["done_at"] = now
        if changes:
            write_state(s, email_id, changes)
            n += 1
    return n
