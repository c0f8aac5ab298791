"""What a list page shows of each email, read as plain columns.

A list page needs a dozen columns of the email and its analysis and three small parts of the
analysis's JSON (the score's factors, the first summary line, the action items). Reading them
as ORM rows parsed each analysis's whole JSON (entities, spans, phrases) and built two tracked
objects per email: most of a list page's CPU in the web process. Here the database pulls the
parts out of the JSON (SQLite ``json_extract``, PostgreSQL ``#>``) and each row is one tuple
(a SQLAlchemy ``Row``, its columns by name).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from beacon.store.schema import AnalysisRow, EmailRow

__all__ = ["ListRow", "load_list_rows"]


# A row of ``load_list_rows``: the email's id, account_id, thread_id, subject, from_name,
# from_addr and date, the analysis's score, level, kind, category and needs_reply, then
# ``factors`` (the priority's, as stored; None if none), ``summary`` (its first line; None if
# none), ``action_items`` (as stored; None if none) and ``text`` (the email's, with text=True).
ListRow = Row[Any]

_DATA = AnalysisRow.data
_COLUMNS = (
    EmailRow.id, EmailRow.account_id, EmailRow.thread_id, EmailRow.subject, EmailRow.from_name, EmailRow.from_addr,
    EmailRow.date, AnalysisRow.score, AnalysisRow.level, AnalysisRow.kind, AnalysisRow.category,
    AnalysisRow.needs_reply, _DATA[("priority", "factors")].label("factors"),
    _DATA[("analysis", "summary", 0)].as_string().label("summary"), _DATA[("analysis", "action_items")].label("action_items"),
)
_TEXT = EmailRow.data["text"].as_string().label("text")
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
    by_id = {r.id: r for r in s.execute(_WITH_TEXT if text else _PLAIN, {"version": version, "ids": ids})}
    return [by_id[i] for i in ids if i in by_id]
