"""``beacon account add | list`` and ``beacon sync`` end to end, against a real Dovecot."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from beacon.cli.context import CliContext
from beacon.cli.imap import register
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import Account, AnalysisRow, EmailRow
from beacon.store.tenancy import EVERYONE
from beacon.triage.actions import apply_action
from tests.imapserver import DovecotServer, append_messages, corpus

runner = CliRunner()


def cli(settings: Settings) -> typer.Typer:
    """The real commands under an app whose context uses these settings."""
    app = typer.Typer()

    @app.callback()
    def _main(ctx: typer.Context) -> None:
        ctx.obj = CliContext(settings)

    register(app)
    return app


def cli_settings(tmp_path: Path, server: DovecotServer, **kw: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'cli.db'}",
        imap_ca_file=str(server.cert),
        **kw,  # type: ignore[arg-type]
    )


def count(settings: Settings, model: type) -> int:
    db = Database(settings.database_url_resolved)
    db.migrate()  # a refused command may not have created the database
    try:
        with db.session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0
    finally:
        db.dispose()


def test_account_add_list_and_sync(dovecot: DovecotServer, tmp_path: Path) -> None:
    user = dovecot.add_user()
    append_messages(dovecot, user, corpus(5, offset=70))
    settings = cli_settings(tmp_path, dovecot)
    app = cli(settings)
    env = {"WORK_IMAP_PW": user.password}
    add = [
        "account", "add", "work", "--host", dovecot.host, "--port", str(dovecot.port),
        "--security", "starttls", "--user", user.name, "--password-env", "WORK_IMAP_PW",
        "--archive-folder", "Done",
    ]
    res = runner.invoke(app, add, env=env)
    assert res.exit_code == 0, res.output
    assert "Saved IMAP account work" in res.output
    assert user.password not in res.output

    res = runner.invoke(app, ["account", "list"])
    assert res.exit_code == 0, res.output
    assert "work" in res.output and "never" in res.output and "INBOX (never)" in res.output

    res = runner.invoke(app, ["sync", "--no-analyze"])
    assert res.exit_code == 0, res.output
    assert count(settings, EmailRow) == 5
    assert count(settings, AnalysisRow) == 0

    res = runner.invoke(app, ["account", "list"])
    assert "INBOX (5/5)" in res.output and "never" not in res.output

    db = Database(settings.database_url_resolved)
    with db.session() as s:
        stored = s.scalar(select(Account.password_encrypted).where(Account.name == "work"))
        # Done in Beacon: the next sync moves it to the account's archive folder (the server
        # has no \Archive folder).
        apply_action(s, EVERYONE, [s.scalars(select(EmailRow.id).order_by(EmailRow.id)).first()], "done")
    db.dispose()
    assert stored is not None and user.password.encode() not in stored
    res = runner.invoke(app, ["sync", "--no-analyze"])
    assert res.exit_code == 0, res.output
    assert "Written to the server: 1 action(s), 0 message(s) re-flagged, 1 moved" in res.output
    with dovecot.client(user) as c:
        assert c.folder_status("Done", ["MESSAGES"])[b"MESSAGES"] == 1
        assert c.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"] == 4


def test_account_add_refuses_a_wrong_password(dovecot: DovecotServer, tmp_path: Path) -> None:
    user = dovecot.add_user()
    settings = cli_settings(tmp_path, dovecot)
    res = runner.invoke(
        cli(settings),
        ["account", "add", "work", "--host", dovecot.host, "--port", str(dovecot.tls_port),
         "--user", user.name, "--password-env", "PW"],
        env={"PW": "wrong-password-123"},
    )
    assert res.exit_code == 1
    assert "authentication failed" in res.output and "Nothing saved" in res.output
    assert "wrong-password-123" not in res.output
    assert count(settings, Account) == 0


def test_sync_analyses_new_mail(dovecot: DovecotServer, tmp_path: Path) -> None:
    """Without --no-analyze, new mail goes through the real engine (in-process mode)."""
    user = dovecot.add_user()
    append_messages(dovecot, user, corpus(3, offset=75))
    settings = cli_settings(tmp_path, dovecot, nlp_mode="inprocess")
    app = cli(settings)
    res = runner.invoke(
        app,
        ["account", "add", "work", "--host", dovecot.host, "--port", str(dovecot.tls_port),
         "--user", user.name, "--password-env", "PW"],
        env={"PW": user.password},
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["sync"])
    assert res.exit_code == 0, res.output
    assert count(settings, EmailRow) == 3
    assert count(settings, AnalysisRow) == 3
