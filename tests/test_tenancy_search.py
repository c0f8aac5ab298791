"""Tenancy in the inbox and search queries, on both backends: another user's mail never appears
in a page (any order, any cursor, relevance), never counts (exact, capped or estimated), never
gives a category, never waits for analysis in one's count, and ``account:`` names one's own."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select, text, update

from beacon.store import statistics
from beacon.store.analyses import save_analysis
from beacon.store.db import Database
from beacon.store.inbox import Count, InboxFilter, categories, inbox, inbox_count, inbox_page, pending_count
from beacon.store.query_sql import Clock, compile_query
from beacon.store.schema import AnalysisRow, EmailRow
from beacon.store.tenancy import EVERYONE, UserScope
from beacon.query import parse
from beacon.web.auth import create_user
from tests.helpers import PASSWORD, store_messages
from tests.test_priority import analysis as make_analysis

VERSION = "t"


def _mail(key: str, subject: str, body: str, day: int) -> bytes:
    return (f"From: Sender <s{key}@example.com>\nTo: reader@example.com\nSubject: {subject}\n"
            f"Message-ID: <{key}@tenancy.test>\nDate: Mon, {day} Jan 2024 10:00:00 +0000\n\n{body}\n").encode()


@dataclass
class Two:
    alice: int
    bob: int
    alice_mail: list[int]  # analysed, all mention "board"
    bob_mail: list[int]  # analysed, all mention "board" (more often: ranked higher)
    bob_pending: list[int]  # not analysed


def _analyse(db: Database, ids: list[int], score: int, category: str) -> None:
    from beacon.settings import Settings

    settings = Settings()
    with db.session() as s:
        for i, email_id in enumerate(ids):
            row = save_analysis(s, email_id, make_analysis("personal", due_days=None, request=False), settings)
            s.execute(update(AnalysisRow).where(AnalysisRow.id == row.id)
                      .values(score=score + i % 7, level="MEDIUM", category=category))


@pytest.fixture
def two(any_db: Database) -> Two:
    with any_db.session() as s:
        alice, bob = create_user(s, "alice", PASSWORD).id, create_user(s, "bob", PASSWORD).id
    # Both users have an account called "inbox"; alice's mail is older and lower scored, so
    # without the owner filter bob's would come first in every order and every ranking.
    alice_mail = store_messages(any_db, [_mail(f"a{i}", "Board notes", "the board met", 1 + i % 20)
                                         for i in range(20)], account="inbox", user_id=alice)
    bob_mail = store_messages(any_db, [_mail(f"b{i}", "Board board board", "board board board", 21 + i % 8)
                                       for i in range(60)], account="inbox", user_id=bob)
    bob_pending = store_messages(any_db, [_mail(f"p{i}", "Later", "board", 2) for i in range(3)],
                                 account="inbox", user_id=bob)
    _analyse(any_db, alice_mail, 30, "work")
    _analyse(any_db, bob_mail, 80, "bobs-only")
    return Two(alice, bob, alice_mail, bob_mail, bob_pending)


def _all_pages(db: Database, f: InboxFilter, limit: int = 3) -> list[int]:
    out: list[int] = []
    with db.session() as s:
        page = inbox_page(s, f, limit=limit)
        out += [e.id for e, _ in page.rows]
        while page.next_cursor is not None:
            page = inbox_page(s, f, limit=limit, cursor=page.next_cursor)
            out += [e.id for e, _ in page.rows]
    return out


ORDERS = [
    (None, "priority"), (None, "date"), (None, "oldest"), ("board", None), ("board", "priority"),
    ("is:unread", "date"), ("account:inbox", "oldest"), ("level:medium", "priority"),
]


def _every_order_and_cursor_page_is_the_users_own(any_db: Database, two: Two) -> None:
    for search, sort in ORDERS:
        for user, own in ((two.alice, two.alice_mail), (two.bob, two.bob_mail)):
            ids = _all_pages(any_db, InboxFilter(pipeline_version=VERSION, search=search, sort=sort, scope=user))
            assert sorted(ids) == sorted(own) and len(ids) == len(set(ids)), (search, sort, user)
        everyone = _all_pages(any_db, InboxFilter(pipeline_version=VERSION, search=search, sort=sort))
        assert sorted(everyone) == sorted(two.alice_mail + two.bob_mail), (search, sort)


def _another_users_cursor_shows_only_ones_own_mail(any_db: Database, two: Two) -> None:
    with any_db.session() as s:
        bobs = inbox_page(s, InboxFilter(pipeline_version=VERSION, sort="oldest", scope=two.bob), limit=2)
        assert bobs.next_cursor is not None
        # A cursor holds sort keys, not rights: alice's mail after bob's key, and nothing of bob's.
        page = inbox_page(s, InboxFilter(pipeline_version=VERSION, sort="oldest", scope=two.alice),
                          limit=50, cursor=bobs.next_cursor)
    assert {e.id for e, _ in page.rows} <= set(two.alice_mail)


def _relevance_ranks_only_the_users_newest_matches(any_db: Database, two: Two,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import beacon.store.inbox as inbox_module

    # A window of 4 and small id windows: bob's newer, better matches must not fill it.
    monkeypatch.setattr(inbox_module, "RANK_WINDOW", 4)
    monkeypatch.setattr(inbox_module, "_ID_WINDOWS", (5, 10))
    with any_db.session() as s:
        rows = inbox(s, InboxFilter(pipeline_version=VERSION, search="board", scope=two.alice), limit=10)
    assert [e.id for e, _ in rows] == sorted(two.alice_mail, reverse=True)[:4]


def _counts_are_the_users_own(any_db: Database, two: Two) -> None:
    with any_db.session() as s:
        for user, own in ((two.alice, 20), (two.bob, 60)):
            for search in (None, "board", "level:medium", "is:unread", "board is:unread", "account:inbox"):
                f = InboxFilter(pipeline_version=VERSION, search=search, scope=user)
                assert inbox_count(s, f) == Count(own, True), (user, search)
            assert inbox_count(s, InboxFilter(pipeline_version=VERSION, scope=user), cap=10) == Count(10, False)
        assert inbox_count(s, InboxFilter(pipeline_version=VERSION, search="board")) == Count(80, True)


def _an_estimated_count_extrapolates_the_users_own_mail(any_db: Database, two: Two,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import beacon.store.inbox as inbox_module

    monkeypatch.setattr(inbox_module, "SCAN_ROWS", 10)
    with any_db.session() as s:
        # -is:replied is checked email by email: counted in the first 10 and extrapolated to
        # the user's 20 emails (everyone's 83 would make it 80).
        alice = inbox_count(s, InboxFilter(pipeline_version=VERSION, search="-is:replied", scope=two.alice))
        assert alice == Count(20, False, estimated=True)
        bob = inbox_count(s, InboxFilter(pipeline_version=VERSION, search="-is:replied", scope=two.bob))
        assert bob == Count(60, False, estimated=True)  # 63 emails, rounded to tens
        everyone = inbox_count(s, InboxFilter(pipeline_version=VERSION, search="-is:replied"))
        assert everyone.estimated and everyone.n == 80
    # Beyond EXACT_SIZE analyses the database's statistics estimate the reader's total (never
    # below what was counted), not a count of every one.
    monkeypatch.setattr(inbox_module, "EXACT_SIZE", 5)
    with any_db.sql_engine.begin() as conn:
        statistics.refresh(conn)
    unreplied = InboxFilter(pipeline_version=VERSION, search="-is:replied", scope=two.bob)
    if not any_db.is_sqlite:  # PostgreSQL: the plan's rows for bob's range: 63, about 60
        with any_db.session() as s:
            bob = inbox_count(s, unreplied)
        assert bob.estimated and 50 <= bob.n <= 70
        return
    # SQLite: sqlite_stat1's rows per owner of the date index (an average over the owners),
    # read from the statistics table: set to 5,000 per owner, 10 of 10 sampled unreplied make
    # about 5,000.
    with any_db.session() as s:
        s.execute(text("UPDATE sqlite_stat1 SET stat = '10000 10000 5000 5000 1 1' WHERE idx = 'ix_analyses_date'"))
    with any_db.session() as s:
        assert inbox_count(s, unreplied) == Count(5000, False, estimated=True)
    # A figure no larger than a sample reads is not trusted: a sample's (statistics gathered
    # with analysis_limit, as Beacon gathers them), or the average of the owners' (20 + 63) / 2
    # the refresh found. Bob's share of the newest 10 analyses (all his: his mail is the
    # newest) times the largest email id (83) makes about 80: a bounded read, where this used
    # to count every analysis of his (1M emails: ~300 ms a count).
    for stat in ("10000 1001 1001 1001 1 1", "83 83 42 42 1 1"):
        with any_db.session() as s:
            s.execute(text("UPDATE sqlite_stat1 SET stat = :stat WHERE idx = 'ix_analyses_date'"), {"stat": stat})
        with any_db.session() as s:
            assert inbox_count(s, unreplied) == Count(80, False, estimated=True), stat
    # Missing statistics (a store not analysed since it grew): bob's 63 are counted (about 60).
    with any_db.session() as s:
        s.execute(text("DELETE FROM sqlite_stat1"))
    with any_db.session() as s:
        assert inbox_count(s, unreplied) == Count(60, False, estimated=True)


def _categories_and_pending_counts_are_the_users_own(any_db: Database, two: Two) -> None:
    with any_db.session() as s:
        assert categories(s, two.alice) == ["work"]
        assert categories(s, two.bob) == ["bobs-only"]
        assert categories(s) == ["bobs-only", "work"]
        assert pending_count(s, VERSION, scope=two.alice) == Count(0, True)
        assert pending_count(s, VERSION, scope=two.bob) == Count(3, True)
        assert pending_count(s, VERSION) == Count(3, True)
        assert pending_count(s, "another version", scope=two.alice) == Count(20, True)


def _matching(db: Database, query: str, scope: UserScope) -> set[int]:
    with db.session() as s:
        compiled = compile_query(parse(query), sqlite=db.is_sqlite, clock=Clock.at(), scope=scope)
        return set(s.scalars(select(EmailRow.id).join(AnalysisRow, AnalysisRow.email_id == EmailRow.id)
                             .where(compiled.where)))


def _account_names_the_users_own_account(any_db: Database, two: Two) -> None:
    # Without the inbox's owner condition: the operator alone keeps to the user's accounts.
    assert _matching(any_db, "account:inbox", two.alice) == set(two.alice_mail)
    assert _matching(any_db, "account:inbox", two.bob) == set(two.bob_mail)
    assert _matching(any_db, "account:inbox", EVERYONE) == set(two.alice_mail + two.bob_mail)


# One store per backend for all the checks above (building it is the slow part; none writes).
def test_pages_cursors_and_ranking_are_the_users_own(any_db: Database, two: Two,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _every_order_and_cursor_page_is_the_users_own(any_db, two)
    _another_users_cursor_shows_only_ones_own_mail(any_db, two)
    _relevance_ranks_only_the_users_newest_matches(any_db, two, monkeypatch)


def test_counts_categories_and_accounts_are_the_users_own(any_db: Database, two: Two,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _counts_are_the_users_own(any_db, two)
    _an_estimated_count_extrapolates_the_users_own_mail(any_db, two, monkeypatch)
    _categories_and_pending_counts_are_the_users_own(any_db, two)
    _account_names_the_users_own_account(any_db, two)
