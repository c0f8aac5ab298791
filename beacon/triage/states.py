"""Reading and writing an email's state (``email_states``): the typed :class:`EmailState`.

Only :mod:`beacon.triage.actions` changes states on a user's behalf (it logs each change);
this module is the row-level access both it and the readers (API, CLI) share.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from beacon.store.schema import EmailStateRow
from beacon.store.state_sets import sync_copies
from beacon.triage.models import STATE_FIELDS, EmailState, Importance

__all__ = ["decode_fields", "encode_fields", "load_states", "state_of", "write_state"]


def _state(row: EmailStateRow | None) -> EmailState:
    if row is None:
        return EmailState()
    return EmailState(done_at=row.done_at, snoozed_until=row.snoozed_until, read_at=row.read_at,
                      importance=Importance(row.importance) if row.importance else None, replied_at=row.replied_at)


def state_of(s: Session, email_id: int) -> EmailState:
    return _state(s.get(EmailStateRow, email_id))


# Built once: building it cost more than running it on a page's ids.
_STATES = select(EmailStateRow).where(EmailStateRow.email_id.in_(bindparam("ids", expanding=True)))


def load_states(s: Session, email_ids: Iterable[int]) -> dict[int, EmailState]:
    """The state of each of ``email_ids`` (one query; emails without a row get the default)."""
    ids = sorted(set(email_ids))
    found = {r.email_id: _state(r) for r in s.scalars(_STATES, {"ids": ids})} if ids else {}
    return {i: found.get(i, EmailState()) for i in ids}


def write_state(s: Session, email_id: int, changes: dict[str, Any]) -> EmailState:
    """Set the given state fields of one email (its row is made on first use)."""
    row = s.get(EmailStateRow, email_id)
    if row is None:
        row = EmailStateRow(email_id=email_id)
        s.add(row)
    for name, value in changes.items():
        setattr(row, name, value.value if isinstance(value, Importance) else value)
    s.flush()
    sync_copies(s, row)
    return _state(row)


def encode_fields(state: EmailState, names: Iterable[str]) -> dict[str, Any]:
    """``names`` of ``state`` as JSON values (the ``before`` an action logs)."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(state, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else (str(value) if value is not None else None)
    return out


def decode_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`encode_fields` (what undo writes back)."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name not in STATE_FIELDS:
            continue
        if value is None or name == "importance":
            out[name] = Importance(value) if value else None
        else:
            out[name] = datetime.fromisoformat(value)
    return out
