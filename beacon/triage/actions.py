"""Acting on mail: done, snooze, read, importance, replied, and undo. The one way states change.

Every action is logged in ``email_actions`` with the state fields it changed as they were, so
it can be undone, learned from and pushed to the mail server; then :func:`beacon.triage.hooks
.after_actions` runs (re-scoring, learning), in the same transaction, or, for a caller that must
answer at once (the web), once the action is committed and answered: :func:`run_hooks_later`.
A user acts only on their own mail: another user's email is as absent as a missing one
(:class:`~beacon.errors.NotFound`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from beacon.errors import Conflict, InvalidInput, NotFound
from beacon.store.db import Database
from beacon.store.schema import Account, EmailActionRow, EmailRow
from beacon.store.tenancy import UserScope, account_ids, is_everyone
from beacon.triage import hooks
from beacon.triage.models import Action, ActionRecord, EmailState, Importance, Source
from beacon.triage.states import decode_fields, encode_fields, load_states, state_of, write_state

__all__ = ["MAX_BULK", "Action", "ActionRecord", "apply_action", "changes_for", "run_hooks_later", "undo_action"]

log = logging.getLogger(__name__)

MAX_BULK = 1_000  # emails one request may act on (the web's "select all" sends a page at a time)
# Actions that come from the reader (not Beacon's own detection, nor the server's flags).
_READER = {Source.WEB, Source.API, Source.CLI}


def changes_for(action: Action, state: EmailState, now: datetime, until: datetime | None = None,
                source: Source = Source.API) -> dict[str, Any]:
    """The state fields ``action`` sets on an email in ``state``."""
    changes: dict[str, Any] = {
        Action.DONE: {"done_at": state.done_at or now, "snoozed_until": None},
        Action.UNDONE: {"done_at": None},
        Action.SNOOZE: {"snoozed_until": until, "done_at": None},
        Action.UNSNOOZE: {"snoozed_until": None},
        Action.READ: {"read_at": state.read_at or now},
        Action.UNREAD: {"read_at": None},
        Action.IMPORTANT: {"importance": Importance.IMPORTANT},
        Action.NOT_IMPORTANT: {"importance": Importance.NOT_IMPORTANT},
        Action.CLEAR_IMPORTANCE: {"importance": None},
        Action.REPLIED: {"replied_at": state.replied_at or now},
    }[action]
    if source in _READER and state.woken(now) and "snoozed_until" not in changes:
        changes["snoozed_until"] = None  # a woken email stays on top until the reader acts on it
    return changes


def _check(action: Action | str, until: datetime | None, source: Source | str, now: datetime) -> tuple[Action, Source]:
    try:
        act = Action(action)
    except ValueError:
        raise InvalidInput(f"unknown action {action!r}; use one of {', '.join(a.value for a in Action)}") from None
    try:
        src = Source(source)
    except ValueError:
        raise InvalidInput(f"unknown source {source!r}") from None
    if act is Action.SNOOZE:
        if until is None:
            raise InvalidInput("snooze needs a time to wake (until)")
        if until.tzinfo is None:
            raise InvalidInput("the snooze time needs a timezone (e.g. 2026-12-03T09:00:00+01:00)")
        if until <= now:
            raise InvalidInput(f"the snooze time {until.isoformat()} is not in the future")
    elif until is not None:
        raise InvalidInput(f"'until' is only for snooze, not {act.value}")
    return act, src


def _owners(s: Session, scope: UserScope, email_ids: Sequence[int]) -> dict[int, int | None]:
    """email id -> owner of those of ``email_ids`` that ``scope`` may act on (deleted mail is gone)."""
    q = (select(EmailRow.id, Account.user_id).join(Account, Account.id == EmailRow.account_id)
         .where(EmailRow.id.in_(list(email_ids)), EmailRow.deleted.is_(False)))
    if not is_everyone(scope):
        q = q.where(EmailRow.account_id.in_(account_ids(scope)))
    return {eid: uid for eid, uid in s.execute(q).all()}


def _record(row: EmailActionRow, state: EmailState) -> ActionRecord:
    return ActionRecord(
        id=row.id, user_id=row.user_id, email_id=row.email_id, action=Action(row.action), until=row.until,
        source=Source(row.source), before=dict(row.before), created_at=row.created_at, undone_at=row.undone_at,
        imap_synced_at=row.imap_synced_at, state=state,
    )


def apply_action(s: Session, scope: UserScope, email_ids: Sequence[int], action: Action | str, *,
                 until: datetime | None = None, source: Source | str = Source.API,
                 now: datetime | None = None, hooks_now: bool = True) -> list[ActionRecord]:
    """Apply ``action`` to each of ``email_ids`` (all ``scope``'s, or nothing happens: NotFound
    names the others); one logged record per email, in the order given. ``hooks_now=False``:
    the caller hands the records to :func:`run_hooks_later` once it has committed."""
    now = now or datetime.now(timezone.utc)
    act, src = _check(action, until, source, now)
    ids = list(dict.fromkeys(email_ids))
    if not ids:
        raise InvalidInput("no email to act on")
    if len(ids) > MAX_BULK:
        raise InvalidInput(f"at most {MAX_BULK} emails at once")
    owners = _owners(s, scope, ids)
    missing = [i for i in ids if i not in owners]
    if missing:
        raise NotFound("no email " + ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else ""))
    states = load_states(s, ids)
    rows: list[tuple[EmailActionRow, EmailState]] = []
    for eid in ids:
        changes = changes_for(act, states[eid], now, until, src)
        before = encode_fields(states[eid], changes)
        after = write_state(s, eid, changes)
        row = EmailActionRow(user_id=owners[eid], email_id=eid, action=act.value, until=until, source=src.value,
                             before=before, created_at=now)
        s.add(row)
        rows.append((row, after))
    s.flush()
    records = [_record(row, after) for row, after in rows]
    if hooks_now:
        hooks.after_actions(s, records)
    return records


def get_action(s: Session, scope: UserScope, action_id: int) -> EmailActionRow:
    """The logged action, if it is on ``scope``'s mail."""
    q = select(EmailActionRow).join(EmailRow, EmailRow.id == EmailActionRow.email_id).where(
        EmailActionRow.id == action_id)
    if not is_everyone(scope):
        q = q.where(EmailRow.account_id.in_(account_ids(scope)))
    row = s.scalar(q)
    if row is None:
        raise NotFound(f"no action {action_id}")
    return row


def undo_action(s: Session, scope: UserScope, action_id: int, *, now: datetime | None = None,
                hooks_now: bool = True) -> ActionRecord:
    """Put back the state fields the action changed. Refused (Conflict) when it is undone
    already, or a later action changed one of those fields since (undo that one first)."""
    now = now or datetime.now(timezone.utc)
    row = get_action(s, scope, action_id)
    if row.undone_at is not None:
        raise Conflict(f"action {action_id} is already undone")
    later = s.scalars(select(EmailActionRow).where(
        EmailActionRow.email_id == row.email_id, EmailActionRow.id > row.id, EmailActionRow.undone_at.is_(None),
    ).order_by(EmailActionRow.id))
    for other in later:
        if set(other.before) & set(row.before):
            raise Conflict(f"action {other.id} ({other.action}) changed this email since: undo it first")
    after = write_state(s, row.email_id, decode_fields(row.before)) if row.before else state_of(s, row.email_id)
    row.undone_at = now
    row.imap_synced_at = None  # the server must be given the state as it is again
    s.flush()
    record = _record(row, after)
    if hooks_now:
        hooks.after_actions(s, [record])
    return record


def run_hooks_later(db: Database, records: Sequence[ActionRecord], *,
                    before_unit: Callable[[], None] | None = None) -> None:
    """The after-actions hooks of committed ``records``, each unit of their work in a short
    transaction of its own: what the web runs once its answer is sent, so a click answers in
    milliseconds while the learning and the re-score follow without holding a lock the reader's
    next action waits for. Should they fail, the action stands; its threads are left to the
    periodic re-score, and the lesson is lost (logged)."""
    if not records:
        return
    try:
        hooks.after_actions(hooks.own_transactions(db, before_unit), records)
    except Exception:  # noqa: BLE001 -- the action is committed; keep the server up and say why
        log.exception("after-actions hooks failed for actions %s", [r.id for r in records])
        from beacon.triage.rescore import mark_due

        with db.session() as s:
            mark_due(s, [r.email_id for r in records])
