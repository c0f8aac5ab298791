"""Tenancy in the store: the engine takes turns between users' queues, and migration 0004 gives
an existing single-user database (mail, runs, personal settings) to its first user."""

from __future__ import annotations

from sqlalchemy import delete, text
from sqlalchemy import inspect as sa_inspect

from beacon.analysis.version import pipeline_version
from beacon.settings import Settings
from beacon.store import jobs
from beacon.store.app_settings import current_settings
from beacon.store.db import Database
from beacon.store.emails import get_email_row
from beacon.store.inbox import InboxFilter, inbox
from beacon.store.schema import Account, AnalysisJob, EmailRow, Run, User
from beacon.web.auth import create_user
from tests.helpers import PASSWORD, store_messages, synthetic_message


def _users(db: Database, *names: str) -> list[int]:
    with db.session() as s:
        return [create_user(s, n, PASSWORD).id for n in names]


def test_one_users_big_import_does_not_starve_anothers_new_mail(any_db: Database) -> None:
    big, small = _users(any_db, "importer", "newcomer")
    store_messages(any_db, [synthetic_message(i) for i in range(400)], account="archive", user_id=big)
    version = pipeline_version(Settings())
    with any_db.session() as s:
        assert jobs.enqueue_missing(s, version) == 400
    new = store_messages(any_db, [synthetic_message(10_000 + i) for i in range(3)], account="inbox", user_id=small)
    with any_db.session() as s:
        assert jobs.enqueue_missing(s, version) == 3
        first = jobs.claim(s, version, "w1", 6, 60)
    # The newcomer's three jobs are in the very first claim, although 400 older ones wait.
    assert {c.email_id for c in first} >= set(new)
    with any_db.session() as s:
        owners = dict(s.execute(text("SELECT user_id, COUNT(*) FROM analysis_jobs WHERE status = 'running' "
                                     "GROUP BY user_id")).all())
        assert owners == {big: 3, small: 3}
        rest = jobs.claim(s, version, "w1", 10, 60)  # only the importer has work left: oldest first
    ids = [c.email_id for c in rest]
    assert ids == sorted(ids) and len(ids) == 10


def test_an_existing_single_user_database_moves_to_its_first_user(any_db: Database) -> None:
    from alembic import command

    command.downgrade(any_db.alembic_config(), "0002")
    with any_db.sql_engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, username, password_hash, created_at) VALUES "
                          "(7, 'solo', 'x', CURRENT_TIMESTAMP), (9, 'later', 'y', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO app_settings (key, value) VALUES ('vip_senders', '[\"vip@example.com\"]'), "
                          "('batch_size', '7')"))
    any_db.migrate()  # the test fixture's schema is at head again, now with the old rows
    ids = store_messages(any_db, [synthetic_message(1)], account="before")  # as the CLI did before users
    command.downgrade(any_db.alembic_config(), "0002")
    with any_db.sql_engine.begin() as conn:
        conn.execute(text("INSERT INTO runs (kind, status, params, total, done, failed, summary, started_at) "
                          "VALUES ('import', 'done', '{}', 1, 1, 0, '{}', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO app_settings (key, value) VALUES ('priority_high', '70')"))
    any_db.migrate()
    with any_db.session() as s:
        assert s.get(User, 7).is_admin and not s.get(User, 9).is_admin
        assert {a.user_id for a in s.query(Account)} == {7}
        assert get_email_row(s, ids[0], 7) is not None and get_email_row(s, ids[0], 9) is None
        assert {r.user_id for r in s.query(Run)} == {7}
        solo = current_settings(s, Settings(), 7)
        later = current_settings(s, Settings(), 9)
        assert solo.priority_high == 70 and later.priority_high == Settings().priority_high
        assert solo.batch_size == later.batch_size == 7  # engine-wide stays for everyone
        assert s.query(EmailRow).count() == 1 and s.query(AnalysisJob).count() == 0


def test_the_first_user_adopts_mail_imported_before_any_user(sqlite_db: Database) -> None:
    ids = store_messages(sqlite_db, [synthetic_message(i) for i in range(2)], account="early")
    (first,) = _users(sqlite_db, "first")
    (second,) = _users(sqlite_db, "second")
    with sqlite_db.session() as s:
        assert all(get_email_row(s, i, first) is not None for i in ids)
        assert all(get_email_row(s, i, second) is None for i in ids)
        assert s.get(User, first).is_admin and not s.get(User, second).is_admin


def _search(db: Database, query: str, scope: int) -> set[int]:
    with db.session() as s:
        return {e.id for e, _ in inbox(s, InboxFilter(pipeline_version="t", search=query, scope=scope), limit=None)}


def _index_objects(db: Database) -> set[str]:
    with db.sql_engine.connect() as conn:
        if db.is_sqlite:
            return set(conn.scalars(text("SELECT name FROM sqlite_master WHERE name LIKE 'email_search%'")))
        return set(conn.scalars(text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'emails'::regclass "
                                     "AND NOT tgisinternal"))) | {
            r for r in conn.scalars(text("SELECT relname FROM pg_class WHERE relname LIKE 'email_search%'"))}


def test_0004_over_0003_keeps_the_search_index_its_triggers_and_the_sort_keys(any_db: Database) -> None:
    """0004's table copies (SQLite batch mode) run over 0003's index, triggers and copied columns:
    an existing database keeps all of them, and its mail is found by its first user only."""
    from alembic import command

    from beacon.parse import parse_message
    from beacon.store.analyses import save_analysis
    from beacon.store.emails import update_parsed
    from tests.test_priority import analysis

    objects = _index_objects(any_db)
    assert objects  # installed by 0003
    (old,) = store_messages(any_db, [synthetic_message(1, body="quarterly figures attached")], account="before")
    with any_db.session() as s:
        save_analysis(s, old, analysis(), Settings())
        keys = s.execute(text("SELECT a.email_date, a.due_at, e.analysed_version FROM analyses a "
                              "JOIN emails e ON e.id = a.email_id")).one()
    command.downgrade(any_db.alembic_config(), "0003")  # the database as 0003 left it
    with any_db.sql_engine.begin() as conn:
        assert "user_id" not in {c["name"] for c in sa_inspect(conn).get_columns("accounts")}
        conn.execute(text("INSERT INTO users (id, username, password_hash, created_at) VALUES "
                          "(3, 'solo', 'x', CURRENT_TIMESTAMP)"))
    any_db.migrate()  # 0004 over 0003
    assert _index_objects(any_db) == objects
    with any_db.session() as s:
        assert s.execute(text("SELECT a.email_date, a.due_at, e.analysed_version FROM analyses a "
                              "JOIN emails e ON e.id = a.email_id")).one() == keys
        other = create_user(s, "other", PASSWORD).id
    assert _search(any_db, "quarterly", 3) == {old} and _search(any_db, "quarterly", other) == set()
    # The triggers still keep the index in step: insert, re-parse and delete after 0004.
    (new,) = store_messages(any_db, [synthetic_message(2, body="quarterly forecast")], account="before", user_id=3)
    with any_db.session() as s:
        save_analysis(s, new, analysis(), Settings())
        update_parsed(s, old, parse_message(synthetic_message(1, body="annual report")))
    assert _search(any_db, "quarterly", 3) == {new} and _search(any_db, "annual", 3) == {old}
    with any_db.session() as s:
        s.execute(delete(EmailRow).where(EmailRow.id == new))
    assert _search(any_db, "quarterly", 3) == set()
    if any_db.is_sqlite:
        with any_db.sql_engine.begin() as conn:  # FTS5 checks its index against the content
            conn.exec_driver_sql("INSERT INTO email_search(email_search, rank) VALUES ('integrity-check', 1)")
