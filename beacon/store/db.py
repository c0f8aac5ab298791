"""Database connection: engine, sessions and migrations for one database URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from beacon.store import statistics
from beacon.store.private import private_dir, private_file, sqlite_files
from beacon.store.rows import JSONText

__all__ = ["Database", "MIGRATIONS_DIR"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    # WAL lets the web app read while an import or the engine writes.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # What PRAGMA optimize analyses (beacon.store.statistics) is a sample, not every row.
    cur.execute(f"PRAGMA analysis_limit={statistics.ANALYSIS_LIMIT}")
    cur.close()
    # SQLite's lower() folds ASCII only; searches must match "Müller" as well as "muller".
    dbapi_conn.create_function("lower", 1, _unicode_lower, deterministic=True)


def _json_serializer(value: object) -> str:
    return str(value) if isinstance(value, JSONText) else json.dumps(value)


def _json_deserializer(text: str | bytes) -> object:
    # orjson parses a list page's analyses several times faster than json; json.dumps may
    # have written what orjson refuses (NaN, Infinity, integers past 64 bits): json reads those.
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _normalise_url(url: str) -> str:
    # Users write postgresql://...; we ship psycopg 3, not psycopg2.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """Owns one SQLAlchemy engine. Create one per process (workers never share it)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = _normalise_url(url)
        u = make_url(self.url)
        self.is_sqlite = u.get_backend_name() == "sqlite"
        if self.is_sqlite and u.database and u.database != ":memory:":
            # Created 0600 before SQLite opens it (its -wal and -shm files copy its mode).
            db_file = Path(u.database)
            if not db_file.parent.exists():
                private_dir(db_file.parent)
            private_file(db_file, create=True)
            for extra in sqlite_files(db_file)[1:]:
                private_file(extra)
        kwargs: dict = {"echo": echo, "future": True, "json_serializer": _json_serializer,
                        "json_deserializer": _json_deserializer}
        if not self.is_sqlite:
            kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
        self.sql_engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.sql_engine, "connect", _sqlite_pragmas)
            self._optimize = statistics.OptimizeOnClose()
            event.listen(self.sql_engine, "close", self._optimize)
        self._sessions = sessionmaker(self.sql_engine, expire_on_commit=False)

    def limit_page_cache(self, size: int) -> None:
        """Give each SQLite connection from now on a page cache of ``size`` bytes (the web
        process's ``web_sqlite_cache``); idle pooled connections are closed so none keeps the
        default. PostgreSQL caches on its server: nothing to do."""
        if not self.is_sqlite or size <= 0:
            return
        kib = max(1, size // 1024)

        def _cache(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA cache_size=-{kib}")  # negative: KiB rather than pages
            cur.close()

        event.listen(self.sql_engine, "connect", _cache)
        self.sql_engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions() as s:
            with s.begin():
                yield s

    def new_session(self) -> Session:
        return self._sessions()

    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.sql_engine
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent); after a change, SQLite's
        planner statistics are gathered again."""
        before = self._revision()
        command.upgrade(self.alembic_config(), "head")
        if self.is_sqlite and self._revision() != before:  # PostgreSQL's autovacuum analyses
            with self.sql_engine.begin() as conn:
                statistics.refresh(conn)

    def _revision(self) -> str | None:
        with self.sql_engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        if not self.is_sqlite:
            self.sql_engine.dispose()
            return
        self._optimize.final = True  # the connections close for good: each optimises
        try:
            self.sql_engine.dispose()
        finally:
            self._optimize.final = False
