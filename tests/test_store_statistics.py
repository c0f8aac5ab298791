"""The query planners' statistics (``beacon.store.statistics``): gathered by a migration, after a
bulk import and by ``beacon reindex``; SQLite's long-lived connections optimise as they close."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from beacon.store import statistics
from beacon.store.db import Database
from tests.helpers import store_messages


def _stat1(db: Database) -> dict[str, str]:
    with db.sql_engine.connect() as c:
        if c.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is None:
            return {}
        return {idx: stat for idx, stat in c.exec_driver_sql("SELECT idx, stat FROM sqlite_stat1")}


def _mails(n: int, tag: str) -> list[bytes]:
    return [f"From: s{i}@example.org\nSubject: {tag} {i}\nMessage-ID: <{tag}{i}@x>\n\nHello {i}.\n".encode()
            for i in range(n)]


def test_a_migration_analyses_and_an_unchanged_schema_does_not(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'b.db'}")
    db.migrate()
    with db.sql_engine.connect() as c:  # ANALYZE ran: SQLite made its statistics table
        assert c.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is not None
    store_messages(db, _mails(5, "m"))
    db.migrate()  # nothing to upgrade: no ANALYZE (the emails stay unanalysed)
    assert "ix_emails_own_check" not in _stat1(db)
    db.dispose()


def test_a_bulk_import_gathers_statistics(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statistics, "BULK_ROWS", 4)
    store_messages(sqlite_db, _mails(3, "small"))
    assert "ix_emails_own_check" not in _stat1(sqlite_db)  # below a bulk load: left to optimize
    store_messages(sqlite_db, _mails(4, "bulk"))
    assert _stat1(sqlite_db)["ix_emails_own_check"].split()[0] == "7"


def test_a_sampled_per_key_figure_is_not_trusted(sqlite_db: Database) -> None:
    with sqlite_db.session() as s:
        assert statistics.sqlite_rows_per_key(s, "ix_analyses_date", 2) is None  # no figure yet
        s.execute(text("INSERT INTO sqlite_stat1 VALUES ('analyses', 'ix_analyses_date', '90000 1001 1001 1001 1 1')"))
        assert statistics.sqlite_rows_per_key(s, "ix_analyses_date", 2) is None  # stops at a sample
        s.execute(text("UPDATE sqlite_stat1 SET stat = '90000 90000 45000 45000 1 1' WHERE idx = 'ix_analyses_date'"))
        assert statistics.sqlite_rows_per_key(s, "ix_analyses_date", 2) == 45000


def test_refresh_on_postgres_fills_the_planners_statistics(postgres_db: Database) -> None:
    store_messages(postgres_db, _mails(3, "pg"))
    with postgres_db.sql_engine.begin() as conn:
        statistics.refresh(conn)
    with postgres_db.sql_engine.connect() as c:
        analysed = c.execute(text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'emails'")).scalar()
        assert analysed is not None


def test_a_closing_connection_analyses_what_its_queries_used(sqlite_db: Database) -> None:
    store_messages(sqlite_db, _mails(6, "close"))
    with sqlite_db.sql_engine.begin() as c:
        c.exec_driver_sql("DELETE FROM sqlite_stat1")
    with sqlite_db.sql_engine.connect() as c:
        c.exec_driver_sql("SELECT count(*) FROM emails WHERE from_addr = 's1@example.org'").all()
    assert _stat1(sqlite_db) == {}  # pooled, still open: nothing yet
    sqlite_db.dispose()  # the pool closes its connections
    assert "ix_emails_from_addr" in _stat1(sqlite_db)


def test_optimize_never_holds_up_a_close_behind_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    writer = sqlite3.connect(path)
    writer.execute("CREATE TABLE t (a)")
    writer.execute("CREATE INDEX ta ON t (a)")
    writer.execute("INSERT INTO t VALUES (1)")
    writer.commit()
    reader = sqlite3.connect(path)
    reader.execute("SELECT * FROM t WHERE a = 1").fetchall()
    writer.execute("BEGIN EXCLUSIVE")  # ANALYZE would wait for this lock
    started = time.monotonic()
    statistics.optimize_before_close(reader, None)  # gives up at once, no error
    assert time.monotonic() - started < 1  # not the connection's 5 s busy timeout
    assert reader.execute("PRAGMA busy_timeout").fetchone() == (0,)  # it did not wait at all
    writer.rollback()
    assert reader.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone() == (0,)
    reader.close()
    writer.close()


def test_connections_closing_under_load_optimise_once_per_interval(tmp_path: Path) -> None:
    """The web's pool closes overflow connections all the time under concurrent requests: one
    close per interval optimises (not each: that re-analysed the same tables several times a
    second, writing the database while only reads were served); one that gave up behind a
    writer leaves the next close to try; a disposing engine's closes all optimise."""
    path = tmp_path / "closes.db"
    admin = sqlite3.connect(path, isolation_level=None)
    admin.execute("PRAGMA journal_mode=WAL")  # as Beacon's: readers go on beside a writer
    admin.execute("CREATE TABLE t (a)")
    admin.execute("CREATE INDEX ta ON t (a)")
    admin.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(50)])

    def closing() -> sqlite3.Connection:
        c = sqlite3.connect(path)
        c.execute("SELECT * FROM t WHERE a = 1").fetchall()
        return c

    def analysed() -> bool:
        return admin.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone() == (1,) \
            and admin.execute("SELECT count(*) FROM sqlite_stat1").fetchone() != (0,)

    hook = statistics.OptimizeOnClose(every=3600)
    admin.execute("BEGIN IMMEDIATE")
    c = closing()
    hook(c, None)  # behind a writer: gives up ...
    c.close()
    admin.execute("ROLLBACK")
    assert not analysed()
    c = closing()
    hook(c, None)  # ... so the next close optimises
    c.close()
    assert analysed()
    admin.execute("DELETE FROM sqlite_stat1")
    for _ in range(3):
        c = closing()
        hook(c, None)  # within the interval: nothing written
        c.close()
    assert not analysed()
    hook.final = True
    c = closing()
    hook(c, None)
    c.close()
    assert analysed()
    admin.close()
