"""A list page reads its rows as plain columns with parts of the analysis's JSON pulled out by the
database (``beacon.store.list_rows``), on SQLite and PostgreSQL: every item says what the whole
stored analysis says (top reason, first summary line, action items, the deadline judged now,
snippets), without spaCy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from beacon.analysis.models import ActionItem
from beacon.store.analyses import load_scored, save_analysis
from beacon.store.db import Database
from beacon.store.inbox import InboxFilter
from beacon.store.list_rows import load_list_rows
from beacon.store.schema import AnalysisRow, EmailRow, User
from beacon.settings import Settings
from beacon.triage.due import due_at
from beacon.web.services import inbox_page
from tests.helpers import store_messages
from tests.test_priority import analysis as make_analysis

NOW = datetime(2024, 6, 3, 9, 0, tzinfo=timezone.utc)


def _mail(i: int, subject: str, body: str) -> bytes:
    return (f"From: Sender {i} <s{i}@example.org>\nTo: reader@example.com\nSubject: {subject}\n"
            f"Message-ID: <{i}@rows.test>\nDate: Mon, {1 + i} May 2024 10:00:00 +0000\n\n{body}\n").encode()


@pytest.fixture
def box(any_db: Database) -> tuple[Database, int, list[int]]:
    with any_db.session() as s:
        user = User(username="alice", password_hash="-")
        s.add(user)
        s.flush()
        uid = user.id
    bodies = ["Please send the quarterly report by Friday.", "The quarterly newsletter is here.",
              "Can you review the draft? Thanks.", "Nothing much."]
    ids = store_messages(any_db, [_mail(i, f"Quarterly {i}", b) for i, b in enumerate(bodies)],
                         account="inbox", user_id=uid)
    sent = datetime(2024, 5, 2, 10, 0, tzinfo=timezone.utc)
    analyses = [
        # Two deadlines in other offsets (the one that matters now is chosen), no summary.
        make_analysis("personal", bodies[0], due_days=None).model_copy(update={"action_items": [
            ActionItem(text="send", start=0, end=4, due=datetime(2024, 6, 7, 17, 0, tzinfo=timezone(timedelta(hours=2)))),
            ActionItem(text="again", start=0, end=4, due=datetime(2024, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))),
            ActionItem(text="no date", start=0, end=4),
        ], "summary": []}),
        make_analysis("newsletter", bodies[1], request=False, due_days=None).model_copy(
            update={"summary": ["First line «quoted».", "Second line."]}),
        # A deadline before the mail was sent is no deadline.
        make_analysis("personal", bodies[2], due_days=None).model_copy(update={"action_items": [
            ActionItem(text="review", start=0, end=6, due=sent - timedelta(days=3))]}),
        make_analysis("personal", bodies[3], request=False, due_days=None),
    ]
    with any_db.session() as s:
        for email_id, a in zip(ids, analyses):
            save_analysis(s, email_id, a, Settings(), now=NOW)
    return any_db, uid, ids


def test_light_rows_show_what_the_stored_analysis_says(box: tuple[Database, int, list[int]]) -> None:
    db, uid, ids = box
    for search in (None, "quarterly"):
        f = InboxFilter(pipeline_version="t", scope=uid, now=NOW, search=search, sort="date")
        with db.session() as s:
            items = {i.id: i for i in inbox_page(s, f, 1, 50).items}
            assert sorted(items) == sorted(ids)
            for e, a in s.execute(select(EmailRow, AnalysisRow).join(AnalysisRow, AnalysisRow.email_id == EmailRow.id)):
                scored = load_scored(a)
                item = items[e.id]
                due = due_at(scored.analysis, e.date, NOW)
                assert item.top_reason == scored.priority.top_reason
                assert item.summary == (scored.analysis.summary[0] if scored.analysis.summary else "")
                assert item.action_items == len(scored.analysis.action_items)
                assert (item.due, item.due_status, item.due_label) == \
                    ((due.at, due.status, due.label) if due else (None, None, None))
                assert (item.subject, item.from_addr, item.date, item.score, item.kind, item.thread_id) == \
                    (e.subject, e.from_addr, e.date, a.score, a.kind, e.thread_id)
                assert (item.snippet is not None) == (search is not None)
    first = items[ids[0]]
    # The deadline ahead wins over the one past, with its own offset kept.
    assert first.due is not None and first.due.utcoffset() == timedelta(hours=2) and first.due_status == "soon"
    assert items[ids[2]].due is None and items[ids[2]].action_items == 1
    assert items[ids[1]].summary == "First line «quoted»."


def test_light_rows_keep_the_order_asked_and_the_version(box: tuple[Database, int, list[int]]) -> None:
    db, _uid, ids = box
    with db.session() as s:
        wanted = [ids[2], ids[0], 999_999, ids[3]]
        assert [r.id for r in load_list_rows(s, "t", wanted)] == [ids[2], ids[0], ids[3]]
        assert load_list_rows(s, "another version", ids) == []
        rows = load_list_rows(s, "t", ids[:1], text=True)
        assert rows[0].text is not None and "quarterly report" in rows[0].text
        assert "text" not in load_list_rows(s, "t", ids[:1])[0]._fields
