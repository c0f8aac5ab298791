"""The prioritised inbox query, shared by the CLI and the web app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from beacon.store.schema import Account, AnalysisRow, EmailRow

SORTS = {
    "priority": (AnalysisRow.score.desc(), EmailRow.date.desc(), EmailRow.id.desc()),
    "date": (EmailRow.date.desc(), EmailRow.id.desc()),
    "oldest": (EmailRow.date.asc(), EmailRow.id.asc()),
}


@dataclass(frozen=True)
class InboxFilter:
    pipeline_version: str
    level: str | None = None
    kind: str | None = None
    category: str | None = None
    needs_reply: bool | None = None
    account: str | None = None
    search: str | None = None
    sort: str = "priority"
    include_hidden: bool = False  # also emails a later state hides from the inbox (deleted)


def _query(f: InboxFilter) -> Select:
    q = (
        select(EmailRow, AnalysisRow)
        .join(AnalysisRow, (AnalysisRow.email_id == EmailRow.id) & (AnalysisRow.pipeline_version == f.pipeline_version))
    )
    if not f.include_hidden:
        q = q.where(EmailRow.deleted.is_(False))
    if f.level:
        q = q.where(AnalysisRow.level == f.level.upper())
    if f.kind:
        q = q.where(AnalysisRow.kind == f.kind.lower())
    if f.category:
        q = q.where(func.lower(AnalysisRow.category) == f.category.lower())
    if f.needs_reply is not None:
        q = q.where(AnalysisRow.needs_reply.is_(f.needs_reply))
    if f.account:
        q = q.join(Account, Account.id == EmailRow.account_id).where(Account.name == f.account)
    if f.search:
        # Every word must appear in the subject, the sender or the text (case-insensitive).
        for word in f.search.split()[:8]:
            # % and _ are LIKE wildcards: a search for "50%" means the characters, not a pattern.
            escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            q = q.where(
                or_(
                    func.lower(EmailRow.subject).like(pattern, escape="\\"),
                    func.lower(EmailRow.from_name).like(pattern, escape="\\"),
                    EmailRow.from_addr.like(pattern, escape="\\"),
                    func.lower(EmailRow.data["text"].as_string()).like(pattern, escape="\\"),
                )
            )
    return q


def inbox(s: Session, f: InboxFilter, *, limit: int | None = 50, offset: int = 0) -> list[tuple[EmailRow, AnalysisRow]]:
    q = _query(f).order_by(*SORTS.get(f.sort, SORTS["priority"])).limit(limit).offset(offset)
    return [(e, a) for e, a in s.execute(q)]


class InboxRow(NamedTuple):
    """What a list page shows of one email: a few columns and the small parts of its analysis
    (never the email's or the analysis's whole JSON, which hold its text)."""

    id: int
    subject: str
    from_name: str
    from_addr: str
    date: datetime
    score: int
    level: str
    kind: str
    category: str
    needs_reply: bool
    priority: dict[str, Any]  # beacon.analysis.models.Priority JSON
    summary: list[str] | None
    action_items: list[dict[str, Any]] | None


def inbox_rows(s: Session, f: InboxFilter, *, limit: int = 50, offset: int = 0) -> list[InboxRow]:
    """One page of :func:`inbox`, with bounded columns (for list pages)."""
    q = _query(f).with_only_columns(
        EmailRow.id, EmailRow.subject, EmailRow.from_name, EmailRow.from_addr, EmailRow.date,
        AnalysisRow.score, AnalysisRow.level, AnalysisRow.kind, AnalysisRow.category, AnalysisRow.needs_reply,
        AnalysisRow.data["priority"], AnalysisRow.data[("analysis", "summary")],
        AnalysisRow.data[("analysis", "action_items")],
    )
    q = q.order_by(*SORTS.get(f.sort, SORTS["priority"])).limit(limit).offset(offset)
    return [InboxRow(*row) for row in s.execute(q)]


def inbox_count(s: Session, f: InboxFilter) -> int:
    return s.scalar(select(func.count()).select_from(_query(f).subquery())) or 0
