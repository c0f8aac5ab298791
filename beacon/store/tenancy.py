"""Who owns what: every account (and through it its mail, analyses and IMAP state), run and
analysis job belongs to one user; personal settings are per user.

``UserScope`` is how callers say whose data a query may see: a user id (the web, always;
the command line given ``--user``), or :data:`EVERYONE` for the system's own work (the
engine, the IMAP scheduler, a command line with no users yet). Each store module applies it
in one helper of its own. Rows made before any user existed have no owner; the first user
created adopts them (:func:`adopt_unowned`), as migration 0004 gives an existing database to
its oldest user.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Select, func, literal, select, update
from sqlalchemy.orm import Session

from beacon.store.schema import Account, AnalysisJob, AnalysisRow, AppSetting, LearningModelRow, Run, UserSetting

__all__ = ["EVERYONE", "PERSONAL_FIELDS", "REBUILD_ABOVE", "UserScope", "account_ids", "adopt_unowned", "is_everyone"]


class _Everyone:
    def __repr__(self) -> str:
        return "EVERYONE"


EVERYONE: Final = _Everyone()
UserScope = int | _Everyone  # a user's id, or the whole installation

# Settings each user has for themselves; the others are engine-wide, an admin's to change.
PERSONAL_FIELDS = ("own_addresses", "vip_senders", "priority_high", "priority_medium", "priority_weights")


def is_everyone(scope: UserScope) -> bool:
    return isinstance(scope, _Everyone)


def account_ids(scope: UserScope) -> Select[tuple[int]]:
    """The ids of the accounts ``scope`` may see (a subquery)."""
    q = select(Account.id)
    return q if is_everyone(scope) else q.where(Account.user_id == scope)


# Past this many unowned analyses, their owner's indexes are rebuilt rather than updated (see
# _adopt_analyses).
REBUILD_ABOVE = 20_000


def adopt_unowned(s: Session, user_id: int) -> None:
    """Give ``user_id`` everything that has no owner yet, and the stored personal settings."""
    for table in (Account, Run, AnalysisJob, LearningModelRow):
        s.execute(update(table).where(table.user_id.is_(None)).values(user_id=user_id)
                  .execution_options(synchronize_session=False))
    _adopt_analyses(s, user_id)
    for row in list(s.scalars(select(AppSetting).where(AppSetting.key.in_(PERSONAL_FIELDS)))):
        if s.get(UserSetting, (user_id, row.key)) is None:
            s.add(UserSetting(user_id=user_id, key=row.key, value=row.value))
        s.delete(row)
    s.flush()


def _adopt_analyses(s: Session, user_id: int) -> None:
    """The analyses' copy of the owner. It leads the inbox indexes, so updating it moves every
    entry of each (the first user of a million imported emails waited over 10 minutes on
    SQLite); a large adoption drops those indexes and builds them again after, one sort each."""
    unowned = select(literal(1)).select_from(AnalysisRow).where(AnalysisRow.user_id.is_(None)).limit(REBUILD_ABOVE + 1)
    rebuild = (s.scalar(select(func.count()).select_from(unowned.subquery())) or 0) > REBUILD_ABOVE
    owner_indexes = [ix for ix in AnalysisRow.__table__.indexes if "user_id" in ix.columns]
    conn = s.connection()
    if rebuild:
        for ix in owner_indexes:
            ix.drop(conn)
    s.execute(update(AnalysisRow).where(AnalysisRow.user_id.is_(None)).values(user_id=user_id)
              .execution_options(synchronize_session=False))
    if rebuild:
        for ix in owner_indexes:
            ix.create(conn)
