"""What runs after actions change states, in order, in the same transaction.

A fixed tuple of plain functions (no registry to mutate at run time): re-scoring, learning
and the IMAP write-back each add theirs here. A hook that fails fails the action with it, so
no state changes without what depends on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from beacon.triage.models import ActionRecord

__all__ = ["AFTER_ACTIONS", "AfterActions", "after_actions"]

AfterActions = Callable[[Session, Sequence[ActionRecord]], None]

AFTER_ACTIONS: tuple[AfterActions, ...] = ()


def after_actions(s: Session, records: Sequence[ActionRecord],
                  hooks: Sequence[AfterActions] = AFTER_ACTIONS) -> None:
    """Hand ``records`` (just applied, or just undone: ``undone_at`` set) to every hook."""
    if not records:
        return
    for hook in hooks:
        hook(s, records)
