"""`beacon analyze`, `beacon engine run`, `beacon inbox` and `beacon show` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from beacon.cli.main import app
from beacon.demo import DEMO_MBOX


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BEACON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BEACON_NLP_MODE", "pool")
    monkeypatch.setenv("BEACON_WORKERS", "2")
    monkeypatch.setenv("BEACON_OWN_ADDRESSES", "alex.morgan@example.com,alex.m@example.net")
    monkeypatch.setenv("BEACON_VIP_SENDERS", "priya.shah@example.com")
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_analyze_then_inbox_and_show(cli: CliRunner) -> None:
    assert cli.invoke(app, ["import", str(DEMO_MBOX), "--account", "demo"]).exit_code == 0
    r = cli.invoke(app, ["analyze"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "analysed" in r.output and "41" in r.output

    r = cli.invoke(app, ["engine", "run"], catch_exceptions=False)  # nothing left to do
    assert r.exit_code == 0, r.output

    r = cli.invoke(app, ["inbox", "--level", "HIGH"])
    assert r.exit_code == 0
    assert "Q3 delivery numbers for the board deck" in r.output
    assert "Your November roast" not in r.output  # marketing is never HIGH

    r = cli.invoke(app, ["inbox", "--kind", "marketing"])
    assert "Your November roast" in r.output and "LOW" in r.output

    r = cli.invoke(app, ["show", "24"])
    assert "Why this priority" in r.output and "VIP sender" in r.output


def test_engine_run_for_an_unknown_account_is_a_clear_error(cli: CliRunner) -> None:
    r = cli.invoke(app, ["engine", "run", "--account", "nope"])
    assert r.exit_code == 2 and "no account named 'nope'" in r.output
