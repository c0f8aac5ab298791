"""``beacon user add/passwd``, first-run user creation, demo setup and the session key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from beacon.cli.main import app as cli
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import EmailRow, User
from beacon.web.app import create_app
from beacon.web.auth import authenticate
from beacon.web.runtime import DEMO_PASSWORD, DEMO_USER, ensure_user, setup_demo
from beacon.store.app_settings import current_settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("BEACON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BEACON_DATABASE_URL", f"sqlite:///{tmp_path / 'beacon.db'}")
    monkeypatch.delenv("BEACON_SECRET_KEY", raising=False)
    return Settings()


def _db(settings: Settings) -> Database:
    db = Database(settings.database_url_resolved)
    db.migrate()
    return db


def test_user_add_hashes_with_argon2_and_refuses_bad_input(env: Settings) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["user", "add", "bob", "--password", "a long password"])
    assert ok.exit_code == 0, ok.output
    with _db(env).session() as s:
        user = s.query(User).filter_by(username="bob").one()
        assert user.password_hash.startswith("$argon2id$") and "a long password" not in user.password_hash
        assert authenticate(s, "bob", "a long password") is not None
        assert authenticate(s, "bob", "wrong") is None
    assert runner.invoke(cli, ["user", "add", "bob", "--password", "another password"]).exit_code == 2
    assert runner.invoke(cli, ["user", "add", "carol", "--password", "short"]).exit_code == 2
    assert runner.invoke(cli, ["user", "add", "has space", "--password", "long enough"]).exit_code == 2


def test_user_passwd(env: Settings) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["user", "add", "bob", "--password", "first password"])
    assert runner.invoke(cli, ["user", "passwd", "bob", "--password", "second password"]).exit_code == 0
    with _db(env).session() as s:
        assert authenticate(s, "bob", "second password") is not None
        assert authenticate(s, "bob", "first password") is None
    assert runner.invoke(cli, ["user", "passwd", "nobody", "--password", "whatever1"]).exit_code == 2


def test_first_user_is_made_once(env: Settings) -> None:
    db = _db(env)
    first = ensure_user(db, demo=False)
    assert first is not None and first.username == "admin" and len(first.password) >= 12
    assert ensure_user(db, demo=False) is None
    with db.session() as s:
        assert authenticate(s, first.username, first.password) is not None


def test_demo_setup_is_idempotent_and_sets_addresses(env: Settings) -> None:
    from beacon.demo import DEMO_OWN_ADDRESSES, DEMO_VIP_SENDERS

    db = _db(env)
    first = setup_demo(db, env)
    again = setup_demo(db, env)
    assert first.imported > 30 and first.failed == 0
    assert again.imported == 0 and again.duplicates == first.imported
    with db.session() as s:
        assert s.query(EmailRow).count() == first.imported
        eff = current_settings(s, env)
    assert eff.own_addresses == sorted(DEMO_OWN_ADDRESSES) and eff.vip_senders == sorted(DEMO_VIP_SENDERS)
    demo_user = ensure_user(db, demo=True)
    assert demo_user is not None and (demo_user.username, demo_user.password) == (DEMO_USER, DEMO_PASSWORD)


def test_session_key_file_is_private_and_stable(env: Settings) -> None:
    db = _db(env)
    create_app(env, db)
    key_files = [p for p in env.data_dir.iterdir() if "secret" in p.name]
    assert len(key_files) == 1
    assert stat.S_IMODE(key_files[0].stat().st_mode) == 0o600
    before = key_files[0].read_bytes()
    create_app(env, db)
    assert key_files[0].read_bytes() == before
