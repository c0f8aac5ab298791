"""What runs after actions change states, in order: learning, then re-scoring.

A fixed tuple of plain functions (no registry to mutate at run time). Each hook does its work
in small units, each handed to a :data:`Transactions`: the caller decides what a unit runs in.

- :func:`same_session` (CLI, IMAP flags, undo in a script): every unit in the action's own
  transaction, so no state changes without what depends on it (a failing hook fails the action).
- :func:`own_transactions` (the web, after it has answered): every unit in a short transaction
  of its own, so the deferred work never holds SQLite's write lock (or PostgreSQL's row locks)
  for longer than one unit's writes while the reader's next action waits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from beacon.settings import Settings
from beacon.store.app_settings import current_settings
from beacon.store.db import Database
from beacon.triage.learning.hook import learn_after_actions
from beacon.triage.models import ActionRecord
from beacon.triage.rescore import rescore_after_actions

__all__ = ["AFTER_ACTIONS", "AfterActions", "Transactions", "after_actions", "own_transactions", "same_session"]

T = TypeVar("T")


class Transactions(Protocol):
    """Runs one unit of work (a function of a session) and returns what it returned."""

    def __call__(self, unit: Callable[[Session], T]) -> T: ...


def same_session(s: Session) -> Transactions:
    def run(unit: Callable[[Session], T]) -> T:
        return unit(s)

    return run


def own_transactions(db: Database, before_unit: Callable[[], None] | None = None) -> Transactions:
    """Each unit in a transaction of its own; ``before_unit`` is called before each (the web's
    after-actions thread waits there while a reader's action is being answered)."""
    def run(unit: Callable[[Session], T]) -> T:
        if before_unit is not None:
            before_unit()
        with db.session() as s:
            return unit(s)

    return run


AfterActions = Callable[[Transactions, Sequence[ActionRecord], Settings], None]

# Learning first: the rescore of the acted-on threads then scores with what it just learned.
AFTER_ACTIONS: tuple[AfterActions, ...] = (learn_after_actions, rescore_after_actions)


def after_actions(s: Session | Transactions, records: Sequence[ActionRecord],
                  hooks: Sequence[AfterActions] = AFTER_ACTIONS) -> None:
    """Hand ``records`` (just applied, or just undone: ``undone_at`` set) to every hook, with
    the settings in force, read once here (the environment, then the stored changes), as the CLI
    and the server read them: actions come from places that hold no settings (IMAP flags, undo).
    ``s``: the action's session (every unit in it), or a :data:`Transactions`."""
    if not records:
        return
    tx = same_session(s) if isinstance(s, Session) else s
    settings = tx(lambda s: current_settings(s, Settings()))
    for hook in hooks:
        hook(tx, records, settings)
