"""The prioritised inbox query, shared by the CLI and the web app."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from beacon.store.schema import Account, AnalysisRow, EmailRow
from beacon.store.tenancy import EVERYONE, UserScope, account_ids, is_everyone

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
    scope: UserScope = EVERYONE  # whose mail: the logged-in user's in the web


def _owned(q: Select, scope: UserScope) -> Select:
    """``q`` limited to the mail ``scope`` may see: the one owner filter of this module."""
    return q if is_everyone(scope) else q.where(EmailRow.account_id.in_(account_ids(scope)))


def _query(f: InboxFilter) -> Select:
    q = _owned(
        select(EmailRow, AnalysisRow)
        .join(AnalysisRow, (AnalysisRow.email_id == EmailRow.id) & (AnalysisRow.pipeline_version == f.pipeline_version)),
        f.scope,
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


def inbox_count(s: Session, f: InboxFilter) -> int:
    return s.scalar(select(func.count()).select_from(_query(f).subquery())) or 0


def categories(s: Session, pipeline_version: str, scope: UserScope) -> list[str]:
    """The categories ``scope``'s analysed mail has, sorted."""
    q = _owned(select(AnalysisRow.category).join(EmailRow, EmailRow.id == AnalysisRow.email_id)
               .where(AnalysisRow.pipeline_version == pipeline_version).distinct(), scope)
    return sorted(c for c in s.scalars(q) if c)
