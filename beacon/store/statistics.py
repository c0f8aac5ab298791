"""The query planners' statistics: gathered after bulk changes, kept fresh on long-lived SQLite
connections, and read where a count may be an estimate.

SQLite has none until ``ANALYZE`` runs; its documentation recommends ``ANALYZE`` (bounded by
``analysis_limit``) after schema changes and bulk loads, and ``PRAGMA optimize`` before a
long-lived connection closes (it analyses what that connection's queries used and has grown
since). PostgreSQL's autovacuum keeps its own, but a bulk load is analysed at once here too.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

__all__ = ["ANALYSIS_LIMIT", "BULK_ROWS", "OPTIMIZE_EVERY", "OptimizeOnClose", "optimize_before_close", "planner_rows", "refresh",
           "sqlite_has_stats", "sqlite_rows_per_key"]

# Rows SQLite reads per index when it analyses (a sample: milliseconds on a million emails).
ANALYSIS_LIMIT = 1000
# An import of at least this many emails is a bulk load: statistics are refreshed after it.
BULK_ROWS = 1000
# Seconds between two optimisations on close of one engine's connections (SQLite suggests
# every few hours for long-lived connections; ours may close every second under load).
OPTIMIZE_EVERY = 600.0


def refresh(conn: Connection) -> None:
    """Gather statistics now (after a migration, a bulk import, a reindex)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        # Every index on the same sample: one analysed whole beside sampled ones (whose figures
        # stop at the rows read) looked dearer to the planner than it was.
        conn.exec_driver_sql("ANALYZE")
    else:
        conn.exec_driver_sql("ANALYZE")


def optimize_before_close(dbapi_conn: Any, _record: Any) -> bool:
    """SQLite pool hook: ``PRAGMA optimize`` as a connection closes. It must not hold up the
    close (web threads close overflow connections while an analysis writes): it never waits
    for a writer's lock; when one is held it is skipped (False) and a later close tries again."""
    try:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA busy_timeout=0")
            cur.execute("PRAGMA optimize")
        finally:
            cur.close()
    except sqlite3.Error:
        return False
    return True


class OptimizeOnClose:
    """:func:`optimize_before_close` on at most one close per ``every`` seconds, and on every
    close while ``final`` is set (the engine is being disposed). Under concurrent requests the
    web's pool opens and closes overflow connections all the time: optimising at each close
    analysed the same tables again several times a second, writing the database (and taking
    its write lock from the engine's saves) while only reads were served."""

    def __init__(self, every: float = OPTIMIZE_EVERY) -> None:
        self.every = every
        self.final = False
        self._lock = threading.Lock()
        self._last = float("-inf")  # monotonic time of the last optimize that ran

    def __call__(self, dbapi_conn: Any, record: Any) -> None:
        with self._lock:
            now = time.monotonic()
            if not self.final and now - self._last < self.every:
                return
            before, self._last = self._last, now
        if not optimize_before_close(dbapi_conn, record):
            with self._lock:
                if self._last == now:
                    self._last = before  # skipped behind a writer: the next close tries again


def sqlite_rows_per_key(s: Session, index: str, columns: int) -> int | None:
    """SQLite's estimate of the rows that share one value of the first ``columns`` columns of
    ``index`` (from ``sqlite_stat1``); None before any ``ANALYZE``, or when the figure is a
    sample's (``PRAGMA optimize`` analysed it again: it stops at the rows it read)."""
    if s.scalar(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")) is None:
        return None
    stat = s.scalar(text("SELECT stat FROM sqlite_stat1 WHERE idx = :idx"), {"idx": index})
    parts = (stat or "").split()
    if len(parts) <= columns or not parts[columns].isdigit() or int(parts[columns]) <= ANALYSIS_LIMIT + 1:
        return None
    return int(parts[columns])


def sqlite_has_stats(s: Session, index: str) -> bool:
    """Whether ``sqlite_stat1`` holds a figure for ``index`` (a sample's or not)."""
    if s.scalar(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")) is None:
        return False
    return s.scalar(text("SELECT 1 FROM sqlite_stat1 WHERE idx = :idx"), {"idx": index}) is not None


def planner_rows(s: Session, query: Any) -> int:
    """PostgreSQL's estimate of the rows ``query`` returns (from its statistics)."""
    sql = query.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True})
    plan = s.execute(text(f"EXPLAIN (FORMAT JSON) {sql}")).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])
