"""A counter the database moves whenever who may log in, or the settings in force, change.

Triggers (migration 0016) add one to the ``auth`` row of ``change_counters`` on every insert,
update and delete of ``users``, ``app_settings`` and ``user_settings``, in the writer's own
transaction, whichever process writes (the web, the CLI, a test). A reader that saw the same
number before may trust what it derived from those tables then: the web's login and settings
cache (``beacon.web.auth_cache``) reads this one row per request instead of four.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from beacon.store.schema import ChangeCounter

__all__ = ["AUTH", "AUTH_TABLES", "TRIGGER_DDL", "auth_generation"]

AUTH = "auth"
AUTH_TABLES = ("users", "app_settings", "user_settings")
_BUMP = f"UPDATE change_counters SET n = n + 1 WHERE name = '{AUTH}'"
_SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")

# (create, drop) statements per dialect. SQLite has row triggers only; PostgreSQL bumps once per
# statement (TRUNCATE included).
TRIGGER_DDL: dict[str, tuple[list[str], list[str]]] = {
    "sqlite": (
        [f"CREATE TRIGGER tr_auth_{t}_{e.lower()} AFTER {e} ON {t} BEGIN {_BUMP}; END"
         for t in AUTH_TABLES for e in _SQLITE_EVENTS],
        [f"DROP TRIGGER IF EXISTS tr_auth_{t}_{e.lower()}" for t in AUTH_TABLES for e in _SQLITE_EVENTS],
    ),
    "postgresql": (
        [f"CREATE OR REPLACE FUNCTION beacon_auth_changed() RETURNS trigger LANGUAGE plpgsql AS "
         f"$$ BEGIN {_BUMP}; RETURN NULL; END $$"]
        + [f"CREATE TRIGGER tr_auth_{t} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
           f"FOR EACH STATEMENT EXECUTE FUNCTION beacon_auth_changed()" for t in AUTH_TABLES],
        [f"DROP TRIGGER IF EXISTS tr_auth_{t} ON {t}" for t in AUTH_TABLES]
        + ["DROP FUNCTION IF EXISTS beacon_auth_changed()"],
    ),
}

_READ = select(ChangeCounter.n).where(ChangeCounter.name == AUTH)


def auth_generation(s: Session) -> int:
    """The ``auth`` counter now (as this session's transaction sees it)."""
    return s.execute(_READ).scalar_one()
