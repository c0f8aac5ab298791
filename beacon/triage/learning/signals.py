"""From what the reader did to what the model learns: each action a labelled, weighted example.

Explicit marks say it outright; the implicit signals say less, so they weigh less: a reply or a
flag nearly as much as "important", reading a mail soon after it arrived a little, archiving it
unread a little the other way. Actions that carry no preference (undone, unread, unsnooze) teach
nothing. Taking a mark back (clear_importance), or undoing an action, unlearns what it taught: the
same example with the opposite label, which to first order cancels the earlier update of a linear
model (and takes it out of the counts the reasons quote).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol


class Signal(StrEnum):
    important = "important"
    not_important = "not_important"
    replied = "replied"
    flagged = "flagged"
    read_soon = "read_soon"
    done_unread = "done_unread"
    snoozed = "snoozed"
    ignored = "ignored"


# (the mail mattered, how much one such example weighs)
SIGNALS: dict[Signal, tuple[bool, float]] = {
    Signal.important: (True, 1.0),
    Signal.not_important: (False, 1.0),
    Signal.replied: (True, 0.8),
    Signal.flagged: (True, 0.8),
    Signal.read_soon: (True, 0.3),
    Signal.snoozed: (True, 0.3),
    Signal.done_unread: (False, 0.5),
    Signal.ignored: (False, 0.2),
}

# How the reasons say each signal: "you marked 4 of 5 mails from this list not important".
SENTENCES: dict[Signal, str] = {
    Signal.important: "you marked {mails} important",
    Signal.not_important: "you marked {mails} not important",
    Signal.replied: "you replied to {mails}",
    Signal.flagged: "you flagged {mails}",
    Signal.read_soon: "you read {mails} soon after they came",
    Signal.done_unread: "you archived {mails} unread",
    Signal.snoozed: "you snoozed {mails}",
    Signal.ignored: "you left {mails} unread",
}
# ... and in a list of several ("replied to 2, marked important 1").
SHORT: dict[Signal, str] = {
    Signal.important: "marked important",
    Signal.not_important: "marked not important",
    Signal.replied: "replied to",
    Signal.flagged: "flagged",
    Signal.read_soon: "read soon",
    Signal.done_unread: "archived unread",
    Signal.snoozed: "snoozed",
    Signal.ignored: "left unread",
}


class ActionLike(Protocol):
    """The fields of an action record (14a's ``ActionRecord``, the ``email_actions`` row) used here."""

    user_id: int | None
    email_id: int
    action: str
    created_at: datetime
    before: Mapping[str, Any] | None
    undone_at: datetime | None  # set when the hook sees the action being undone


@dataclass(frozen=True)
class Example:
    signal: Signal
    positive: bool
    weight: float
    unlearn: bool = False  # take back an earlier example of this signal


def example_for(record: ActionLike, arrived_at: datetime | None, read_soon: timedelta) -> Example | None:
    """The example one action teaches (or, once undone, takes back), or None when it says
    nothing about the reader's taste."""
    ex = _applied(record, arrived_at, read_soon)
    if ex is None or getattr(record, "undone_at", None) is None:
        return ex
    return Example(ex.signal, not ex.positive, ex.weight, unlearn=not ex.unlearn)


def _applied(record: ActionLike, arrived_at: datetime | None, read_soon: timedelta) -> Example | None:
    action = str(record.action)
    before = record.before or {}
    signal: Signal | None = None
    if action in ("important", "not_important", "replied", "ignored"):
        signal = Signal(action)
    elif action in ("flagged", "flag"):
        signal = Signal.flagged
    elif action == "snooze":
        signal = Signal.snoozed
    elif action == "read":
        if arrived_at is not None and record.created_at - arrived_at <= read_soon:
            signal = Signal.read_soon
    elif action == "done":
        # ``before`` holds only the fields the action changed; read and importance are in the
        # state the record carries (14a's ActionRecord.state), when it does.
        state = getattr(record, "state", None)
        read = getattr(state, "read_at", None) or before.get("read_at")
        marked = getattr(state, "importance", None) or before.get("importance")
        if not read and not marked:  # a mark already said what the reader thinks of it
            signal = Signal.done_unread
    elif action == "clear_importance":
        was = before.get("importance")
        if was in ("important", "not_important"):
            positive, weight = SIGNALS[Signal(was)]
            return Example(Signal(was), not positive, weight, unlearn=True)
    if signal is None:
        return None
    positive, weight = SIGNALS[signal]
    return Example(signal, positive, weight)
