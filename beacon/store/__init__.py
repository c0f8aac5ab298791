"""Durable storage: SQLAlchemy 2 over SQLite (default) or PostgreSQL, migrated by Alembic."""

from beacon.store.db import Database

__all__ = ["Database"]
