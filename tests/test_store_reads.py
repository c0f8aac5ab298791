"""How the store reads: JSON columns through orjson (with the standard library's reader for
what orjson refuses), and ``one_read``, which answers an inbox page's repeated questions once."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from sqlalchemy import event

from beacon.store.schema import AppSetting
from beacon.store.state_sets import account_addresses, one_read, woken


def test_json_that_orjson_refuses_still_reads_back(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    # json.dumps writes NaN and integers past 64 bits; orjson refuses both on reading.
    value = {"nan": float("nan"), "big": 2**70, "text": "Müller", "list": [1, 2.5, None]}
    with sqlite_db.session() as s:
        s.add(AppSetting(key="test.odd", value=value))
    with sqlite_db.session() as s:
        back = s.get(AppSetting, "test.odd").value
    assert math.isnan(back["nan"])
    assert back["big"] == 2**70
    assert {k: back[k] for k in ("text", "list")} == {"text": "Müller", "list": [1, 2.5, None]}


def _counting(db, table: str) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    @event.listens_for(db.sql_engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement, *_a) -> None:  # type: ignore[no-untyped-def]
        if f"FROM {table}" in statement:
            seen.append(statement)

    return seen


def test_one_read_asks_the_store_once_per_question(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2024, 5, 1, tzinfo=timezone.utc)
    states = _counting(sqlite_db, "email_states")
    accounts = _counting(sqlite_db, "accounts")
    with sqlite_db.session() as s:
        with one_read(s):
            first = woken(s, now)
            # A later moment inside the block still gets the first answer: one page, one instant.
            assert woken(s, now + timedelta(seconds=1)) == first
            assert account_addresses(s, 1) == account_addresses(s, 1) == []
            account_addresses(s, 2)  # another scope is another question
        assert len(states) == 1
        assert len(accounts) == 2
        # Outside the block every call reads again.
        woken(s, now)
        woken(s, now)
        assert len(states) == 3


def test_one_read_nested_keeps_the_outer_answers(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2024, 5, 1, tzinfo=timezone.utc)
    states = _counting(sqlite_db, "email_states")
    with sqlite_db.session() as s, one_read(s):
        woken(s, now)
        with one_read(s):
            woken(s, now)
        woken(s, now)  # the inner block's end did not drop the outer block's answers
    assert len(states) == 1


def test_one_read_builds_a_filters_conditions_once(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    """A page and its count share the filter's conditions within the block (building them
    cost more than the page's queries); outside it, and for another filter, they are built anew."""
    from beacon.store.inbox import InboxFilter, _compiled

    f = InboxFilter(pipeline_version="t", search="level:high report", scope=1)
    with sqlite_db.session() as s:
        with one_read(s):
            assert _compiled(s, f) is _compiled(s, f)
            assert _compiled(s, f) is not _compiled(s, InboxFilter(pipeline_version="t", scope=1))
            assert _compiled(s, f, woken_only=[3]) is not _compiled(s, f)
        assert _compiled(s, f) is not _compiled(s, f)
