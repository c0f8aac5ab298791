"""What runs after actions change states, in order, in the same transaction.

A fixed tuple of plain functions (no registry to mutate at run time): re-scoring, learning
and the IMAP write-back each add theirs here. A hook that fails fails the action with it, so
no state changes without what depends on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from beacon.settings import Settings
from beacon.store.app_settings import current_settings
from beacon.triage.learning.hook import learn_after_actions
from beacon.triage.models import ActionRecord
from beacon.triage.rescore import rescore_after_actions

__all__ = ["AFTER_ACTIONS", "AfterActions", "after_actions"]

AfterActions = Callable[[Session, Sequence[ActionRecord], Settings], None]

# Learning first: the rescore of the acted-on threads then scores with what it just learned.
AFTER_ACTIONS: tuple[AfterActions, ...] = (learn_after_actions, rescore_after_actions)


def after_actions(s: Session, records: Sequence[ActionRecord],
                  hooks: Sequence[AfterActions] = AFTER_ACTIONS) -> None:
    """Hand ``records`` (just applied, or just undone: ``undone_at`` set) to every hook, with
    the settings in force, read once here (the environment, then the stored changes), as the CLI
    and the server read them: actions come from places that hold no settings (IMAP flags, undo)."""
    if not records:
        return
    settings = current_settings(s, Settings())
    for hook in hooks:
        hook(s, records, settings)
