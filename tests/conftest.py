"""Shared fixtures: real databases (a SQLite file, and the PostgreSQL server .ci/run starts), the
web app with and without the engine, and (from ``tests/imapserver.py``) a throwaway Dovecot."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from beacon.settings import Settings
from beacon.store.db import Database
from tests.helpers import Served, make_served, wait_job

pytest_plugins = ["tests.imapserver"]

# .ci/run exports this after starting PostgreSQL; a developer sets it the same way.
POSTGRES_ENV = "BEACON_TEST_POSTGRES_URL"

# Processes the tests start (engine workers, probes, ``beacon serve``) import testkit too.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)


def _postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.fail(
            f"{POSTGRES_ENV} is not set: PostgreSQL tests need a real server "
            "(.ci/run starts one; see README 'Tests')",
            pytrace=False,
        )
    return url


@pytest.fixture(autouse=True)
def _umask_kept() -> Iterator[None]:
    """A CLI command run in-process sets the umask to 077 for its process (beacon.cli.main);
    later tests (Dovecot reading its files as another user) must not inherit it."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Demo mailbox imported and analysed by the real engine; the app's lifespan is running."""
    srv, lifespan_client = make_served(tmp_path_factory.mktemp("web-api"), engine=True)
    with lifespan_client:
        c, h = srv.login(lifespan_client)
        run_id = c.post("/api/jobs/analyze", headers=h).json()["run_id"]
        wait_job(c, run_id, timeout=240)
        yield srv
    srv.db.dispose()


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Served]:
    """A fresh app without an engine (settings changes do not leak between tests)."""
    srv, lifespan_client = make_served(tmp_path, engine=False)
    with lifespan_client:
        yield srv
    srv.db.dispose()
