"""Durable storage: SQLAlchemy 2 over SQLite (default) or PostgreSQL, migrated by Alembic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from beacon.store.db import Database

__all__ = ["Database"]


def __getattr__(name: str) -> Any:
    # Lazy: parse workers import beacon.store.rows alone, without SQLAlchemy and Alembic.
    if name == "Database":
        from beacon.store.db import Database  # noqa: PLC0415

        return Database
    raise AttributeError(name)
