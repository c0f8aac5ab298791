"""What a list page shows of each email, read as plain columns.

A list page needs a dozen columns of the email and its analysis and three small parts of the
analysis's JSON (the score's factors, the first summary line, the action items). Reading them
as ORM rows parsed each analysis's whole JSON (entities, spans, phrases) and built two tracked
objects per email: most of a list page's CPU in the web process. Here the database pulls the
parts out of the JSON (SQLite ``json_extract``, PostgreSQL ``#>``) and each row is one tuple.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from beacon.store.schema import AnalysisRow, EmailRow

__all__ = ["ListRow", "load_list_rows"]


@dataclass(frozen=True, slots=True)
class ListRow:
    id: int
    account_id: int
    thread_id: str
    subject: str
    from_name: str
    from_addr: str
    date: datetime
    score: int
    level: str
    kind: str
    category: str
    needs_reply: bool
    factors: list[dict[str, Any]]  # the priority's factors, as stored
    summary: str | None  # the summary's first line
    action_items: list[dict[str, Any]]  # as stored
    text: str | None  # the email's text: only when snippets need it


_DATA = AnalysisRow.data
_COLUMNS = (
    EmailRow.id, EmailRow.account_id, EmailRow.thread_id, EmailRow.subject, EmailRow.from_name, EmailRow.from_addr,
    EmailRow.date, AnalysisRow.score, AnalysisRow.level, AnalysisRow.kind, AnalysisRow.category,
    AnalysisRow.needs_reply, _DATA[("priority", "factors")], _DATA[("analysis", "summary", 0)].as_string(),
    _DATA[("analysis", "action_items")],
)
_TEXT = EmailRow.data["text"].as_string()
# Built once (building it cost more than running it on a page's rows).
_PLAIN, _WITH_TEXT = (
    select(*_COLUMNS, *extra).join_from(AnalysisRow, EmailRow, EmailRow.id == AnalysisRow.email_id)
    .where(AnalysisRow.pipeline_version == bindparam("version"), AnalysisRow.email_id.in_(bindparam("ids", expanding=True)))
    for extra in ((), (_TEXT,))
)


def load_list_rows(s: Session, version: str, ids: list[int], *, text: bool = False) -> list[ListRow]:
    """The rows of ``ids`` analysed at ``version``, in that order (``text``: with the email's
    text, for snippets)."""
    if not ids:
        return []
    by_id = {}
    for r in s.execute(_WITH_TEXT if text else _PLAIN, {"version": version, "ids": ids}):
        (*columns, factors, summary, items) = r[:15]
        by_id[r[0]] = ListRow(*columns, factors or [], summary, items or [], r[15] if text else None)
    return [by_id[i] for i in ids if i in by_id]
