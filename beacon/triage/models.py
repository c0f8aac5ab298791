"""The triage types: actions, where they came from, importance, and an email's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["Action", "ActionOut", "ActionRecord", "EmailState", "EmailStateOut", "Importance", "Source", "STATE_FIELDS"]


class Action(StrEnum):
    DONE = "done"
    UNDONE = "undone"
    SNOOZE = "snooze"
    UNSNOOZE = "unsnooze"
    READ = "read"
    UNREAD = "unread"
    IMPORTANT = "important"
    NOT_IMPORTANT = "not_important"
    CLEAR_IMPORTANCE = "clear_importance"
    REPLIED = "replied"


class Source(StrEnum):
    """Who acted: the reader (web UI, API, command line), the mail server, or Beacon itself."""

    WEB = "web"
    API = "api"
    CLI = "cli"
    IMAP = "imap"
    AUTO = "auto"


class Importance(StrEnum):
    IMPORTANT = "important"
    NOT_IMPORTANT = "not_important"


# The columns of ``email_states`` an action may change (and undo restores).
STATE_FIELDS = ("done_at", "snoozed_until", "read_at", "importance", "replied_at")


@dataclass(frozen=True)
class EmailState:
    """One email's state; the default is an email nobody has acted on (open, unread)."""

    done_at: datetime | None = None
    snoozed_until: datetime | None = None
    read_at: datetime | None = None
    importance: Importance | None = None
    replied_at: datetime | None = None

    def snoozed(self, now: datetime) -> bool:
        """Still asleep: hidden from the inbox until ``snoozed_until``."""
        return self.snoozed_until is not None and self.snoozed_until > now

    def woken(self, now: datetime) -> bool:
        """Its snooze ended and nobody acted on it since: it stands on top of the inbox."""
        return self.snoozed_until is not None and self.snoozed_until <= now and self.done_at is None

    def out(self, now: datetime) -> EmailStateOut:
        return EmailStateOut(
            done=self.done_at is not None, snoozed_until=self.snoozed_until if self.snoozed(now) else None,
            woken=self.woken(now), read=self.read_at is not None, importance=self.importance,
            replied=self.replied_at is not None,
        )


class EmailStateOut(BaseModel):
    """An email's state as the API and ``beacon … --json`` show it."""

    done: bool = Field(description="done (archived): out of the inbox")
    snoozed_until: datetime | None = Field(description="asleep until then (out of the inbox); null when not snoozed")
    woken: bool = Field(False, description="its snooze ended: on top of the inbox until acted on")
    read: bool
    importance: Importance | None = Field(description="the reader's own mark; null: Beacon's judgement")
    replied: bool = Field(description="the reader replied (own mail in the thread, Sent folder, \\Answered, or marked)")


@dataclass(frozen=True)
class ActionRecord:
    """One logged action (a row of ``email_actions``); ``before`` holds the state fields it
    changed as they were (ISO strings), which undo restores."""

    id: int
    user_id: int | None
    email_id: int
    action: Action
    until: datetime | None
    source: Source
    before: dict[str, Any]
    created_at: datetime
    undone_at: datetime | None = None
    imap_synced_at: datetime | None = None
    state: EmailState = field(default_factory=EmailState)  # the email's state after it (or after its undo)


class ActionOut(BaseModel):
    id: int
    email_id: int
    action: Action
    until: datetime | None
    source: Source
    created_at: datetime
    undone_at: datetime | None
    undo_url: str = Field(description="POST here to undo it")

    @classmethod
    def of(cls, r: ActionRecord) -> ActionOut:
        return cls(id=r.id, email_id=r.email_id, action=r.action, until=r.until, source=r.source,
                   created_at=r.created_at, undone_at=r.undone_at, undo_url=f"/api/actions/{r.id}/undo")
