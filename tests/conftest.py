"""Shared fixtures: real databases (a SQLite file, and the PostgreSQL server .ci/run starts)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from beacon.settings import Settings
from beacon.store.db import Database

# .ci/run exports this after starting PostgreSQL; a developer sets it the same way.
POSTGRES_ENV = "BEACON_TEST_POSTGRES_URL"


def _postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.fail(
            f"{POSTGRES_ENV} is not set: PostgreSQL tests need a real server "
            "(.ci/run starts one; see README 'Tests')",
            pytrace=False,
        )
    return url


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'beacon.db'}")
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def postgres_db() -> Iterator[Database]:
    """A fresh, migrated database on the real PostgreSQL server, dropped afterwards."""
    admin_url = _postgres_admin_url()
    name = f"beacon_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(Database(admin_url).url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"cannot reach PostgreSQL at {admin_url}: {exc}", pytrace=False)
    base = admin_url.rsplit("/", 1)[0]
    db = Database(f"{base}/{name}")
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest) -> Database:
    """Runs a store test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'beacon.db'}")
