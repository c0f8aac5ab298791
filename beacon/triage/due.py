"""A deadline as the reader sees it at ``now``: "overdue", "due today", "due tomorrow" or the
date; the same words in the web chips, the API and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from beacon.analysis.models import Analysis
from beacon.analysis.priority import days_left, nearest_due

__all__ = ["Due", "DueStatus", "due_at", "due_of"]


class DueStatus(StrEnum):
    OVERDUE = "overdue"
    TODAY = "today"
    TOMORROW = "tomorrow"
    SOON = "soon"  # within a week
    LATER = "later"


@dataclass(frozen=True)
class Due:
    at: datetime
    status: DueStatus
    days: int  # calendar days from now in the deadline's timezone (negative: past)

    @property
    def label(self) -> str:
        if self.status is DueStatus.OVERDUE:
            n = -self.days
            return f"overdue {n} day{'' if n == 1 else 's'} ({self.at:%d %b})"
        if self.status is DueStatus.TODAY:
            return f"due today {self.at:%H:%M}"
        if self.status is DueStatus.TOMORROW:
            return f"due tomorrow {self.at:%H:%M}"
        return f"due {self.at:%a %d %b}"


def due_at(analysis: Analysis, sent: datetime, now: datetime) -> Due | None:
    """The deadline that matters at ``now`` (the nearest one not yet past, else the latest
    past one), judged as the priority judges it."""
    return due_of([a.due for a in analysis.action_items], sent, now)


def due_of(dues: list[datetime | None], sent: datetime, now: datetime) -> Due | None:
    """``due_at`` of the action items' due dates alone (in their order)."""
    when = nearest_due(dues, sent, now)
    if when is None:
        return None
    days = days_left(when, now)
    status = (DueStatus.OVERDUE if days < 0 else DueStatus.TODAY if days == 0 else DueStatus.TOMORROW if days == 1
              else DueStatus.SOON if days <= 7 else DueStatus.LATER)
    return Due(at=when, status=status, days=days)
