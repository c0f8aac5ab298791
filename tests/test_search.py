"""The search language on both backends: every operator, malformed queries, the index kept in
step on insert / re-parse / delete, reindex, keyset pages, capped counts and snippets."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, event, select, text, update

from beacon.errors import QueryError
from beacon.parse import parse_message
from beacon.query import parse
from beacon.query.model import Text
from beacon.query.snippet import snippet
from beacon.store import search_gin, search_index
from beacon.store.analyses import save_analysis
from beacon.store.db import Database
from beacon.store.emails import update_parsed
from beacon.store.inbox import Count, InboxFilter, categories, inbox, inbox_count, inbox_page, pending_count
from beacon.store.schema import Account, AnalysisRow, EmailRow
from beacon.store.tenancy import EVERYONE
from beacon.triage.actions import Action, apply_action
from tests.helpers import statements_sent, store_messages
from tests.test_priority import analysis as make_analysis

VERSION = "t"
NOW = datetime(2024, 5, 13, 9, 0, tzinfo=timezone.utc)


def _mail(key: str, *, sender: str, to: str, subject: str, date: str, body: str, cc: str = "",
          list_id: str = "", attachment: str = "") -> bytes:
    head = f"From: {sender}\nTo: {to}\n" + (f"Cc: {cc}\n" if cc else "") + (f"List-Id: {list_id}\n" if list_id else "")
    head += f"Subject: {subject}\nMessage-ID: <{key}@test>\nDate: {date}\nMIME-Version: 1.0\n"
    if not attachment:
        return (head + "Content-Type: text/plain; charset=utf-8\n\n" + body + "\n").encode()
    return (head + 'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\n'
            + body + f'\n--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="{attachment}"\n'
            "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n").encode()


# key -> (raw message, kind, score, level, needs_reply, due in days from NOW or None)
MAILS = {
    "deck": (_mail("deck", sender="Priya Shah <priya@example.com>", to="Reader <reader@example.com>",
                   cc="Boss <boss@example.org>", subject="Board deck for Thursday", date="Fri, 10 May 2024 10:00:00 +0000",
                   body="Here is the board deck. Let us meet at the café at noon.", attachment="deck-final.pdf"),
             "personal", 72, "HIGH", True, 0),
    "lunch": (_mail("lunch", sender="Bob <bob@example.net>", to="team@example.com", subject="Lunch",
                    date="Mon, 15 Jan 2024 12:00:00 +0000", body="The board will meet; bring deck chairs."),
              "personal", 40, "MEDIUM", False, None),
    "digest": (_mail("digest", sender="Python-Dev <news@lists.python.org>", to="python-dev@python.org",
                     list_id="Python development <python-dev.python.org>", subject="Python-Dev digest",
                     date="Thu, 1 Jun 2023 08:00:00 +0000", body="Meeting notes and the release schedule."),
               "newsletter", 20, "LOW", False, None),
    "muller": (_mail("muller", sender="Jürgen Müller <jm@example.de>", to="reader@example.com", subject="Résumé attached",
                     date="Thu, 3 Mar 2022 09:00:00 +0000", body="A naïve approach, but it works.", attachment="lebenslauf.pdf"),
               "personal", 55, "MEDIUM", True, -3),
    "spam": (_mail("spam", sender="Promo <promo@shop.example>", to="reader@example.com", subject="Free money",
                   date="Sat, 11 May 2024 07:00:00 +0000", body="Click for free money now."),
             "spam", 5, "LOW", False, None),
    "reply": (_mail("reply", sender="Priya Shah <priya@example.com>", to="Bob <bob@example.net>",
                    cc="Reader <reader@example.com>", subject="Re: Board deck", date="Sun, 12 May 2024 18:00:00 +0000",
                    body="Thanks, the meeting moved to Friday."),
              "personal", 60, "HIGH", False, 4),
}


@pytest.fixture
def mailbox(any_db: Database) -> dict[str, int]:
    """The six emails above, stored and analysed; email id by key."""
    return _fill(any_db)


def _fill(db: Database) -> dict[str, int]:
    ids = dict(zip(MAILS, store_messages(db, [m[0] for m in MAILS.values()])))
    with db.session() as s:
        for key, (_raw, kind, score, level, reply, due) in MAILS.items():
            a = make_analysis(kind, due_days=None, request=False)
            if due is not None:
                from beacon.analysis.models import ActionItem

                a.action_items = [ActionItem(text="do it", start=0, end=5, due=NOW + timedelta(days=due))]
            row = save_analysis(s, ids[key], a, _settings())
            # The scores the fixture wants (scoring has its own tests).
            s.execute(update(AnalysisRow).where(AnalysisRow.id == row.id)
                      .values(score=score, level=level, needs_reply=reply, category="work" if kind == "personal" else "bulk"))
        s.execute(update(EmailRow).where(EmailRow.id == ids["lunch"]).values(seen=True, answered=True))
        s.execute(update(EmailRow).where(EmailRow.id == ids["digest"]).values(flagged=True, seen=True))
        # Read is the reader's state in Beacon (the server's \Seen comes in as an action).
        apply_action(s, EVERYONE, [ids["lunch"], ids["digest"]], Action.READ, source="imap")
        acc = Account(name="work", kind="local", addresses=[], folders=["INBOX"])
        s.add(acc)
        s.flush()
        s.execute(update(EmailRow).where(EmailRow.id == ids["muller"]).values(account_id=acc.id))
    return ids


def _settings():  # noqa: ANN202 - the pipeline version the fixture stores analyses at
    from beacon.settings import Settings

    return Settings(own_addresses=["reader@example.com"])


def find(db: Database, query: str, **kw: object) -> set[str]:
    with db.session() as s:
        rows = inbox(s, InboxFilter(pipeline_version=VERSION, search=query, now=NOW, **kw), limit=None)
        keys = {row.id: key for key, row in _rows(s).items()}
        return {keys[e.id] for e, _a in rows}


def _rows(s: object) -> dict[str, EmailRow]:
    return {r.message_id.split("@")[0]: r for r in s.scalars(select(EmailRow))}  # type: ignore[attr-defined]


CASES = [
    ("board", {"deck", "lunch", "reply"}),
    ("board deck", {"deck", "lunch", "reply"}),
    ('"board deck"', {"deck", "reply"}),
    ("board -chairs", {"deck", "reply"}),
    ("cafe", {"deck"}),  # accents folded both ways
    ("CAFÉ", {"deck"}),
    ("muller", {"muller"}),
    ("naive", {"muller"}),
    ("meet*", {"deck", "lunch", "digest", "reply"}),
    ("money OR schedule", {"spam", "digest"}),
    ("(money OR schedule) -click", {"digest"}),
    ("from:priya", {"deck", "reply"}),
    ("from:priya@example.com", {"deck", "reply"}),
    ("from:example.com", {"deck", "reply"}),
    ("-from:priya", {"lunch", "digest", "muller", "spam"}),
    ("to:bob", {"reply"}),
    ("to:reader", {"deck", "muller", "spam"}),
    ("cc:reader", {"reply"}),
    ("cc:boss", {"deck"}),
    ("subject:board", {"deck", "reply"}),
    ('subject:"board deck"', {"deck", "reply"}),
    ("subject:resume", {"muller"}),
    ("list:python-dev", {"digest"}),
    ("list:python", {"digest"}),
    ("has:attachment", {"deck", "muller"}),
    ("filename:pdf", {"deck", "muller"}),
    ("filename:lebenslauf", {"muller"}),
    ("before:2024-01-01", {"digest", "muller"}),
    ("after:2024-05-10", {"deck", "spam", "reply"}),
    ("after:2024/01/15 before:2024/05/11", {"lunch", "deck"}),
    ("older_than:1y", {"muller"}),
    ("newer_than:3d", {"deck", "spam", "reply"}),
    ("newer_than:2d", {"reply"}),
    ("newer_than:2w", {"deck", "spam", "reply"}),
    ("older_than:6m", {"digest", "muller"}),
    ("level:high", {"deck", "reply"}),
    ("level:MEDIUM", {"lunch", "muller"}),
    ("kind:newsletter", {"digest"}),
    ("kind:spam OR kind:newsletter", {"spam", "digest"}),
    ("category:work", {"deck", "lunch", "muller", "reply"}),
    ("is:needs-reply", {"deck", "muller"}),
    ("is:unread", {"deck", "muller", "spam", "reply"}),
    ("is:read", {"lunch", "digest"}),
    ("is:flagged", {"digest"}),
    ("is:starred", {"digest"}),
    ("is:answered", {"lunch"}),
    ("is:important", {"deck", "reply", "digest"}),
    ("due:today", {"deck"}),
    ("due:week", {"deck", "reply"}),
    ("due:overdue", {"muller"}),
    ("account:work", {"muller"}),
    ("-account:work level:medium", {"lunch"}),
    ("board OR level:low", {"deck", "lunch", "reply", "digest", "spam"}),
    ("-board -money", {"digest", "muller"}),
    ("zqxjvbnm", set()),
    ("board AND deck from:bob", {"lunch"}),
]


def test_each_query_finds_exactly_its_emails(any_db: Database, mailbox: dict[str, int]) -> None:
    # One store for every case (a store per case would cost a database each on PostgreSQL).
    wrong = {query: (found, expected) for query, expected in CASES if (found := find(any_db, query)) != expected}
    assert wrong == {}


MALFORMED = [
    ('"board deck', "unclosed quote"),
    ("(board deck", "missing ')'"),
    ("board)", "unmatched ')'"),
    ("board OR", "OR needs a term"),
    ("OR board", "OR needs a term"),
    ("from:", "'from:' needs a value"),
    ("colour:red", "unknown operator 'colour:'"),
    ("is:purple", "unknown state"),
    ("level:urgent", "level:high, level:medium or level:low"),
    ("kind:work", "kind:personal"),
    ("has:pictures", "only has:attachment"),
    ("before:2024-02-30", "YYYY-MM-DD"),
    ("after:yesterday", "YYYY-MM-DD"),
    ("older_than:3q", "d, w, m or y"),
    ("due:someday", "due:today"),
    ("+++", "no letters or digits"),
    ("-", "'-' must be followed"),
    ("me*et", "only at the end"),
    ("x" * 600, "longer than"),
    (" ".join(f"w{i}" for i in range(40)), "more than"),
]


def test_a_malformed_query_is_refused_saying_why(any_db: Database, mailbox: dict[str, int]) -> None:
    for query, message in MALFORMED:
        with pytest.raises(QueryError, match=re.escape(message)):
            find(any_db, query)


def test_relevance_ranks_subject_matches_first_and_priority_orders_without_words(
        any_db: Database, mailbox: dict[str, int]) -> None:
    with any_db.session() as s:
        ranked = [e.id for e, _ in inbox(s, InboxFilter(pipeline_version=VERSION, search="board deck"))]
        by_priority = [a.score for _, a in inbox(s, InboxFilter(pipeline_version=VERSION, search="level:high OR level:medium"))]
    # "Board deck" in the subject outranks the two words in the text of "lunch".
    assert ranked[-1] == mailbox["lunch"] and set(ranked[:2]) == {mailbox["deck"], mailbox["reply"]}
    assert by_priority == sorted(by_priority, reverse=True) == [72, 60, 55, 40]


@pytest.mark.parametrize("sort", ["priority", "date", "oldest", "relevance"])
def test_keyset_pages_list_every_email_once_in_order(any_db: Database, mailbox: dict[str, int], sort: str) -> None:
    search = "meet* OR money OR resume" if sort == "relevance" else None
    with any_db.session() as s:
        f = InboxFilter(pipeline_version=VERSION, search=search, sort=sort)
        whole = [e.id for e, _ in inbox_page(s, f, limit=50).rows]
        paged: list[int] = []
        cursor = None
        while True:
            page = inbox_page(s, f, limit=2, cursor=cursor)
            paged.extend(e.id for e, _ in page.rows)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert paged == whole and len(whole) == (6 if search is None else 6)


@pytest.mark.parametrize("slice_sort", [0, 1_000])
def test_a_recent_slice_pages_the_same_sorted_or_walked(any_db: Database, mailbox: dict[str, int],
                                                       monkeypatch: pytest.MonkeyPatch, slice_sort: int) -> None:
    import beacon.store.inbox as inbox_module

    # after: with more matches than SLICE_SORT walks the priority order, else sorts the slice:
    # the same pages either way.
    monkeypatch.setattr(inbox_module, "SLICE_SORT", slice_sort)
    with any_db.session() as s:
        f = InboxFilter(pipeline_version=VERSION, search="after:2024/01/15", now=NOW)
        whole = [a.score for _, a in inbox_page(s, f, limit=50).rows]
        first = inbox_page(s, f, limit=2)
        rest = inbox_page(s, f, limit=50, cursor=first.next_cursor)
    assert whole == [72, 60, 40, 5] and [a.score for _, a in first.rows + rest.rows] == whole


def test_a_recent_slice_is_sized_on_the_date_index_without_reading_emails(any_db: Database, mailbox: dict[str, int],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether a recent slice is small enough to sort is counted on the analyses alone (the
    reader's own mail left in); the page and its count still leave the own mail out."""
    import beacon.store.inbox as inbox_module

    own = ("bob@example.net",)  # the sender of "lunch"
    with statements_sent(any_db) as statements:
        for slice_sort in (0, 1_000):
            monkeypatch.setattr(inbox_module, "SLICE_SORT", slice_sort)
            with any_db.session() as s:
                f = InboxFilter(pipeline_version=VERSION, search="after:2024/01/15", now=NOW, own_addresses=own)
                assert [a.score for _, a in inbox_page(s, f, limit=50).rows] == [72, 60, 5]
                assert inbox_count(s, f) == Count(3, True)
    sizing = [st for st, _ in statements if "count(" in st and "email_date >=" in st and "ORDER BY" not in st
              and "LIMIT" in st and "emails" not in st.split("FROM", 1)[1].split("WHERE", 1)[0]]
    assert len(sizing) == 2, statements


def test_a_cursor_from_another_order_is_refused(any_db: Database, mailbox: dict[str, int]) -> None:
    from beacon.errors import InvalidInput

    with any_db.session() as s:
        cursor = inbox_page(s, InboxFilter(pipeline_version=VERSION, sort="date"), limit=2).next_cursor
        with pytest.raises(InvalidInput, match="not valid"):
            inbox_page(s, InboxFilter(pipeline_version=VERSION, sort="priority"), limit=2, cursor=cursor)
        with pytest.raises(InvalidInput, match="not valid"):
            inbox_page(s, InboxFilter(pipeline_version=VERSION), limit=2, cursor="garbage!")


def test_counts_are_exact_up_to_the_cap(any_db: Database, mailbox: dict[str, int]) -> None:
    with any_db.session() as s:
        assert inbox_count(s, InboxFilter(pipeline_version=VERSION)) == Count(6, True)
        assert inbox_count(s, InboxFilter(pipeline_version=VERSION), cap=4) == Count(4, False)
        assert str(inbox_count(s, InboxFilter(pipeline_version=VERSION), cap=4)) == "4+"
        assert inbox_count(s, InboxFilter(pipeline_version=VERSION, search="board")) == Count(3, True)
        assert inbox_count(s, InboxFilter(pipeline_version=VERSION, search="has:attachment is:unread")) == Count(2, True)
        assert categories(s) == ["bulk", "work"]
        assert pending_count(s, VERSION) == Count(0, True)
        assert pending_count(s, "another version") == Count(6, True)


def _phrase_mailbox(db: Database, decoys: int, hits: int) -> tuple[set[int], set[int]]:
    """Newer mails with the words of "board deck" apart (and "deck" in their subject: they rank
    first), older ones with the phrase; (decoy ids, hit ids)."""
    raws = [_mail(f"decoy{i}", sender="Ann <ann@example.com>", to="r@example.com", subject=f"Deck {i}",
                  date=f"Fri, 10 May 2024 {10 + i}:00:00 +0000", body="The deck for the board meeting.")
            for i in range(decoys)]
    raws += [_mail(f"hit{i}", sender="Ben <ben@example.com>", to="r@example.com", subject=f"Notes {i}",
                   date=f"Thu, 9 May 2024 {10 + i}:00:00 +0000", body="The board deck is attached.")
             for i in range(hits)]
    ids = store_messages(db, raws)
    with db.session() as s:
        for email_id in ids:
            save_analysis(s, email_id, make_analysis("personal", due_days=None, request=False), _settings())
    return set(ids[:decoys]), set(ids[decoys:])


def test_a_phrase_page_skips_the_candidates_without_the_phrase(any_db: Database) -> None:
    # PostgreSQL finds a phrase's words in the index and checks the phrase on the ranked
    # candidates until a page is full: here the first candidates all fail the check.
    decoys, hits = _phrase_mailbox(any_db, decoys=5, hits=3)
    f = InboxFilter(pipeline_version=VERSION, search='"board deck"', now=NOW)
    with any_db.session() as s:
        first = inbox_page(s, f, limit=2)
        assert len(first.rows) == 2 and {e.id for e, _a in first.rows} <= hits and first.next_cursor
        second = inbox_page(s, f, limit=2, cursor=first.next_cursor)
        assert {e.id for e, _a in (*first.rows, *second.rows)} == hits and second.next_cursor is None
        assert inbox_count(s, f) == Count(3, True)
        # the words alone: every mail, the decoys first (the words in their subject)
        words = inbox_page(s, InboxFilter(pipeline_version=VERSION, search="board deck", now=NOW), limit=5)
        assert {e.id for e, _a in words.rows} == decoys
        # other orders check the phrase on the rows of their walk
        by_date = inbox(s, InboxFilter(pipeline_version=VERSION, search='"board deck"', sort="date", now=NOW), limit=None)
        assert [e.id for e, _a in by_date] == sorted(hits, reverse=True)
    assert find(any_db, '-"board deck" board') == {f"decoy{i}" for i in range(5)}


@pytest.mark.parametrize("any_db", ["postgres"], indirect=True)
def test_a_phrase_count_beyond_the_sample_is_an_estimate(any_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from beacon.store import inbox as inbox_module

    monkeypatch.setattr(inbox_module, "CHECK_SAMPLE", 4)
    _phrase_mailbox(any_db, decoys=6, hits=2)  # 8 candidates; the newest 4: 2 hits, 2 decoys
    with any_db.session() as s:
        count = inbox_count(s, InboxFilter(pipeline_version=VERSION, search='"board deck"', now=NOW))
    assert count == Count(4, False, estimated=True) and str(count) == "about 4"


@pytest.mark.parametrize("any_db", ["postgres"], indirect=True)
def test_a_phrase_count_whose_share_passes_the_cap_says_so(any_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from beacon.store import inbox as inbox_module

    monkeypatch.setattr(inbox_module, "RANK_WINDOW", 4)
    _phrase_mailbox(any_db, decoys=0, hits=8)
    _phrase_mailbox(any_db, decoys=2, hits=0)  # the newest: 10 candidates, more than the window
    f = InboxFilter(pipeline_version=VERSION, search='"board deck"', now=NOW)
    with any_db.session() as s:
        # The page checks the window's 4 (2 decoys ranked first, 2 hits): half hold the phrase,
        # and half of the 10 candidates is more than the cap of 3.
        assert len(inbox_page(s, f, limit=1).rows) == 1
        count = inbox_count(s, f, cap=3)
    assert count == Count(3, False) and str(count) == "3+"
    with any_db.session() as s:  # the same share, below the cap: about half of the 10
        inbox_page(s, f, limit=1)
        assert inbox_count(s, f, cap=20) == Count(5, False, estimated=True)


@pytest.mark.parametrize("any_db", ["postgres"], indirect=True)
def test_a_window_of_newest_ids_is_a_condition_of_the_index(any_db: Database, mailbox: dict[str, int]) -> None:
    # The search's id windows are read in the index with the words: only the window's matches
    # are read from the table (the planner would not AND the primary key's range with them).
    with any_db.sql_engine.connect() as c:
        c.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(c.exec_driver_sql(
            "EXPLAIN SELECT email_id FROM email_search "
            "WHERE doc @@ to_tsquery('beacon_search', 'board & deck') AND email_id > 2", ()).scalars())
    conds = re.findall(r"Index Cond: \((.*)\)$", plan, re.M)
    assert len(conds) == search_gin.PARTS and all(c.startswith("(id > 2) AND (beacon_search_doc(") for c in conds), plan


def test_the_index_follows_reparse_and_delete_and_reindex_rebuilds_it(any_db: Database, mailbox: dict[str, int]) -> None:
    new = _mail("lunch", sender="Bob <bob@example.net>", to="team@example.com", subject="Dinner",
                date="Mon, 15 Jan 2024 12:00:00 +0000", body="Pizza tonight.")
    with any_db.session() as s:
        update_parsed(s, mailbox["lunch"], parse_message(new))
    assert find(any_db, "chairs") == set() and find(any_db, "pizza") == {"lunch"}
    assert find(any_db, "subject:dinner") == {"lunch"}
    # A re-parse that finds an attachment moves the analysis' copy of the flag with it.
    assert "lunch" not in find(any_db, "has:attachment")
    with any_db.session() as s:
        update_parsed(s, mailbox["lunch"], parse_message(_mail(
            "lunch", sender="Bob <bob@example.net>", to="team@example.com", subject="Dinner",
            date="Mon, 15 Jan 2024 12:00:00 +0000", body="Pizza tonight.", attachment="menu.pdf")))
    assert find(any_db, "has:attachment") == {"deck", "muller", "lunch"}
    with any_db.session() as s:
        update_parsed(s, mailbox["lunch"], parse_message(new))
    assert find(any_db, "has:attachment") == {"deck", "muller"}
    with any_db.session() as s:
        s.execute(delete(EmailRow).where(EmailRow.id == mailbox["spam"]))
    assert find(any_db, "money") == set()
    # An index emptied behind Beacon's back (a restored backup) is whole again after reindex.
    # (PostgreSQL's is of the emails' rows, so it cannot be emptied: it is dropped.)
    with any_db.sql_engine.begin() as conn:
        if any_db.is_sqlite:
            conn.exec_driver_sql("INSERT INTO email_search(email_search) VALUES ('delete-all')")
        else:
            search_gin.drop_index(conn)
            assert search_index.index_bytes(conn) == 0
    if any_db.is_sqlite:
        assert find(any_db, "pizza") == set()
    with any_db.sql_engine.begin() as conn:
        result = search_index.reindex(conn)
    assert result.emails == 5 and result.index_bytes > 0
    assert find(any_db, "pizza") == {"lunch"} and find(any_db, '"board deck"') == {"deck", "reply"}


@pytest.mark.parametrize("any_db", ["sqlite"], indirect=True)
def test_a_sqlite_rebuild_has_the_page_cache_it_is_given_and_leaves_the_connection_s_own(
        any_db: Database, mailbox: dict[str, int]) -> None:
    # FTS5 runs the rebuild's own statements inside SQLite (a PRAGMA cannot be read from a
    # trigger they fire): what the connection was told around the rebuild is what is checked.
    sent: list[str] = []
    event.listen(any_db.sql_engine, "before_cursor_execute", lambda *a: sent.append(" ".join(a[2].split())))
    with any_db.sql_engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA cache_size=-2048")
        sent.clear()
        result = search_index.reindex(conn, sqlite_cache=64 * 1024 * 1024)
        cache = [st for st in sent if st.startswith("PRAGMA cache_size=")]
        assert cache == ["PRAGMA cache_size=-65536", "PRAGMA cache_size=-2048"]
        # Everything the rebuild writes is sent between the two.
        first, last = (sent.index(st) for st in cache)
        assert [st for st in sent if "email_search(email_search)" in st] == \
            [st for st in sent[first:last] if "email_search(email_search)" in st] != []
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -2048
        sent.clear()
        search_index.reindex(conn, sqlite_cache=0)  # 0: the connection's own
        assert not [st for st in sent if st.startswith("PRAGMA cache_size=-65536")]
    assert result.emails == len(MAILS)
    assert find(any_db, '"board deck"') == {"deck", "reply"}


def test_after_a_reindex_the_index_still_follows_inserts_reparses_and_deletes(any_db: Database,
                                                                           mailbox: dict[str, int]) -> None:
    # PostgreSQL's reindex rebuilds the indexes in sessions of its own: they must be valid and
    # still follow the table.
    with any_db.sql_engine.begin() as conn:
        search_index.reindex(conn)
    (late,) = store_messages(any_db, [_mail("late", sender="Zed <zed@example.org>", to="team@example.com",
                                            subject="Quarterly kumquats", date="Mon, 15 Jan 2024 13:00:00 +0000",
                                            body="Kumquats for everyone.")])
    with any_db.session() as s:
        save_analysis(s, late, make_analysis("personal", due_days=None, request=False), _settings())
        update_parsed(s, mailbox["lunch"], parse_message(_mail(
            "lunch", sender="Bob <bob@example.net>", to="team@example.com", subject="Dinner",
            date="Mon, 15 Jan 2024 12:00:00 +0000", body="Pizza tonight.")))
    assert find(any_db, "kumquats") == {"late"} and find(any_db, "pizza") == {"lunch"}
    assert find(any_db, "chairs") == set()
    with any_db.session() as s:
        s.execute(delete(EmailRow).where(EmailRow.id == late))
    assert find(any_db, "kumquats") == set()
    if any_db.is_sqlite:
        return
    with any_db.sql_engine.connect() as c:
        valid = c.exec_driver_sql("SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                  "WHERE c.relname LIKE 'ix_email_search%%' ORDER BY 1", ()).all()
        assert [tuple(v) for v in valid] == [(f"ix_email_search_{k}", True) for k in range(search_gin.PARTS)]


def test_0015_makes_the_rows_in_parallel_and_downgrades(postgres_db: Database) -> None:
    from alembic import command

    ids = store_messages(postgres_db, [m[0] for m in MAILS.values()])
    command.downgrade(postgres_db.alembic_config(), "0017")  # the stored vectors, before 0018
    with postgres_db.sql_engine.connect() as c:
        rows = c.exec_driver_sql("SELECT * FROM email_search_rows ORDER BY email_id").all()
        c.exec_driver_sql("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
                          "SET min_parallel_table_scan_size = 0")
        plan = "\n".join(c.exec_driver_sql("EXPLAIN CREATE TABLE t AS SELECT * FROM email_search_rows").scalars())
    assert "Gather" in plan and "Parallel Seq Scan on emails" in plan and "beacon_search_row" in plan
    command.downgrade(postgres_db.alembic_config(), "0014")  # 0012's lateral view: the same rows
    with postgres_db.sql_engine.connect() as c:
        assert c.exec_driver_sql("SELECT * FROM email_search_rows ORDER BY email_id").all() == rows
    command.upgrade(postgres_db.alembic_config(), "0016")
    with postgres_db.sql_engine.connect() as c:
        assert c.exec_driver_sql("SELECT * FROM email_search_rows ORDER BY email_id").all() == rows
    assert len(rows) == len(ids)


def _pg_search_objects(db: Database) -> set[str]:
    with db.sql_engine.connect() as c:
        return set(c.exec_driver_sql(
            "SELECT relname || ':' || relkind::text FROM pg_class WHERE relname LIKE '%%email_search%%' "
            "UNION SELECT proname FROM pg_proc WHERE proname LIKE 'beacon_%%'", ()).scalars())


@pytest.mark.parametrize("any_db", ["postgres"], indirect=True)
def test_0018_replaces_the_stored_vectors_by_computed_ones_and_downgrades(any_db: Database,
                                                                          mailbox: dict[str, int]) -> None:
    from alembic import command

    postgres_db = any_db
    head = _pg_search_objects(postgres_db)
    assert "email_search:v" in head and "email_search_rows:v" not in head  # a view, no table
    assert {f"ix_email_search_{k}:i" for k in range(search_gin.PARTS)} <= head
    with postgres_db.sql_engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM pg_trigger WHERE tgname = 'email_search_sync'").scalar() == 0
    command.downgrade(postgres_db.alembic_config(), "0017")
    old = _pg_search_objects(postgres_db)
    assert {"email_search:r", "email_search_rows:v", "email_search_pkey:i", "ix_email_search:i",
            "beacon_search_row", "beacon_email_search_sync"} <= old
    assert not {o for o in old if o.startswith(("ix_email_search_", "beacon_search_doc", "beacon_search_query"))}
    with postgres_db.sql_engine.connect() as c:  # filled, and the update trigger back
        assert c.exec_driver_sql("SELECT count(*) FROM email_search").scalar() == len(MAILS)
        assert c.exec_driver_sql("SELECT count(*) FROM pg_trigger WHERE tgname = 'email_search_sync'").scalar() == 1
    postgres_db.migrate()
    assert _pg_search_objects(postgres_db) == head
    assert find(postgres_db, '"board deck" from:priya@example.com') == {"deck", "reply"}
    assert find(postgres_db, "to:team cc:boss OR filename:lebenslauf") == {"muller"}


def test_0011_copies_the_attachment_flag_of_an_existing_database(any_db: Database, mailbox: dict[str, int]) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from beacon.store.schema import Base

    with any_db.sql_engine.connect() as conn:  # the migration builds what the schema declares
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "has_attachments" in repr(d) or "attach_priority" in repr(d)] == []
    command.downgrade(any_db.alembic_config(), "0010")  # the database as 0010 left it
    with any_db.sql_engine.connect() as c:
        assert "has_attachments" not in set(c.execute(text("SELECT * FROM analyses LIMIT 0")).keys())
    any_db.migrate()
    with any_db.session() as s:
        flagged = set(s.scalars(select(AnalysisRow.email_id).where(AnalysisRow.has_attachments.is_(True))))
    assert flagged == {mailbox["deck"], mailbox["muller"]}
    assert find(any_db, "has:attachment") == {"deck", "muller"}
    # 0012's view (PostgreSQL) fills the same index: through the trigger and by reindex.
    with any_db.session() as s:
        update_parsed(s, mailbox["lunch"], parse_message(MAILS["lunch"][0]))
    with any_db.sql_engine.begin() as conn:
        search_index.reindex(conn)
    assert find(any_db, "to:team cc:boss OR filename:lebenslauf") == {"muller"}
    assert find(any_db, "from:priya@example.com") == {"deck", "reply"} and find(any_db, "chairs") == {"lunch"}
    with any_db.session() as s:
        assert inbox_count(s, InboxFilter(pipeline_version=VERSION, search="has:attachment is:unread")) == Count(2, True)


def test_reanalysis_keeps_the_sort_keys(any_db: Database, mailbox: dict[str, int]) -> None:
    with any_db.session() as s:
        row = s.scalar(select(AnalysisRow).where(AnalysisRow.email_id == mailbox["reply"]))
        email = s.get(EmailRow, mailbox["reply"])
        assert row.email_date == email.date and row.due_at == NOW + timedelta(days=4)
        assert email.analysed_version == VERSION
        save_analysis(s, mailbox["reply"], make_analysis("personal", due_days=None, request=False), _settings())
        s.flush()
        s.refresh(row)
        assert row.due_at is None and row.email_date == email.date


def test_snippets_show_the_searched_words_folded_like_the_index() -> None:
    text = "Long introduction. " * 30 + "We meet at the Café Müller tomorrow, near the muller's."
    found = snippet(text, [Text("cafe"), Text("muller"), Text("meet", prefix=True), Text("x", field=None)])
    marked = [found.text[a:b] for a, b in found.highlights]
    assert marked == ["meet", "Café", "Müller", "muller"] and found.text.startswith("…")
    assert snippet("no match here", [Text("absent")]).highlights == []


def test_parse_builds_the_tree_users_mean() -> None:
    tree = parse('from:priya "board deck" -spam OR meet*')
    assert str(tree).count("Text(") == 4
    assert parse("   ") is None
    assert parse("a OR b c") == parse("a OR (b c)")


def test_the_search_index_is_created_by_the_migration(any_db: Database) -> None:
    with any_db.sql_engine.connect() as conn:
        if any_db.is_sqlite:
            names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE 'email_search%'"))}
            assert {"email_search", "email_search_source", "email_search_bd", "email_search_au"} <= names
        else:
            assert conn.execute(text("SELECT to_regclass('email_search')")).scalar_one() is not None


def test_relevance_ranks_the_newest_matches(any_db: Database, mailbox: dict[str, int],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import beacon.store.inbox as inbox_module

    # Small windows, so a six-email store walks the same path a big one does.
    monkeypatch.setattr(inbox_module, "RANK_WINDOW", 2)
    monkeypatch.setattr(inbox_module, "_ID_WINDOWS", (2, 4))
    assert find(any_db, "meet*") == {"digest", "reply"}
    assert find(any_db, "meet*", sort="date") == {"deck", "lunch", "digest", "reply"}
    # Counts read the same windows: capped once a window holds more than the cap, else exact.
    with any_db.session() as s:
        f = InboxFilter(pipeline_version=VERSION, search="meet*", now=NOW)
        assert inbox_count(s, f, cap=1) == Count(1, False) and inbox_count(s, f) == Count(4, True)
        assert inbox_count(s, InboxFilter(pipeline_version=VERSION, search="schedule", now=NOW), cap=1) == Count(1, True)


def test_hidden_emails_are_left_out_of_pages_counts_and_searches(any_db: Database, mailbox: dict[str, int]) -> None:
    with any_db.session() as s:
        s.execute(update(EmailRow).where(EmailRow.id == mailbox["deck"]).values(deleted=True))
    assert find(any_db, "board") == {"lunch", "reply"} and find(any_db, "level:high") == {"reply"}
    assert find(any_db, "board", include_hidden=True) == {"deck", "lunch", "reply"}
    with any_db.session() as s:
        assert inbox_count(s, InboxFilter(pipeline_version=VERSION)) == Count(5, True)
        assert inbox_count(s, InboxFilter(pipeline_version=VERSION, search='"board deck"')) == Count(1, True)


class _WindowSession:
    """What _widening asks of a session: the newest id, and the settings it saves and sets."""

    def __init__(self, top: int) -> None:
        self.top = top

    def scalar(self, _stmt: object) -> int:
        return self.top

    def execute(self, *_args: object) -> object:
        class _Row:
            @staticmethod
            def one() -> tuple[str, str, str]:
                return ("on", "2", "on")
        return _Row()


@pytest.mark.parametrize(("density", "spans"), [
    (0.3, [2_500, 5_000]),  # common words: the next window that holds enough
    (0.05, [2_500, 30_000]),
    (0.01, [2_500, 160_000]),
    (0.002, [2_500, None]),  # rare ones: few matches in all, read without a window
    (0.0, [2_500, None]),
])
def test_id_windows_widen_to_enough_matches_or_to_all_when_they_are_few(density: float, spans: list[int | None]) -> None:
    from beacon.store.inbox import _widening

    top, ran = 1_000_000, []

    def run(cond: object) -> int:
        span = None if cond is None else top - cond.right.value  # type: ignore[attr-defined]
        ran.append(span)
        return int((span or top) * density)

    _widening(_WindowSession(top), EmailRow.id, run, 1_001)  # type: ignore[arg-type]
    assert ran == spans


def test_a_search_checks_its_matches_on_the_probe_index_not_the_analyses_rows(sqlite_db: Database) -> None:
    """SQLite: the ranked page and the count join each match of the full-text index to its
    analysis on ix_analyses_email_probe alone (the owner and version read from the index, not
    from the row behind its JSON)."""
    _fill(sqlite_db)
    with statements_sent(sqlite_db) as statements, sqlite_db.session() as s:
        f = InboxFilter(pipeline_version=VERSION, search="board", scope=EVERYONE)
        assert len(inbox_page(s, f).rows) == inbox_count(s, f).n == 3
    joins = [(st, p) for st, p in statements if "email_search JOIN analyses" in st]
    assert len(joins) == 2  # the ranked page, the count
    with sqlite_db.session() as s:
        for st, p in joins:
            plan = [row[3] for row in s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + st, p)]
            assert any("COVERING INDEX ix_analyses_email_probe" in step for step in plan), plan
