"""The mail commands end to end through the real CLI, on a real SQLite file."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
from typer.testing import CliRunner

from beacon.cli.main import app
from testkit.corpora import cpython_email_dir


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BEACON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BEACON_DATABASE_URL", raising=False)
    return CliRunner()


def _run(cli: CliRunner, *args: str, input: bytes | None = None):  # type: ignore[no-untyped-def]
    result = cli.invoke(app, list(args), input=input, catch_exceptions=False)
    return result


def test_import_list_show_stats(cli: CliRunner, tmp_path: Path) -> None:
    data = cpython_email_dir()
    r = _run(cli, "import", str(data / "msg_01.txt"), "--account", "work")
    assert r.exit_code == 0, r.output
    assert "imported" in r.output and "│ 1" in r.output

    r = _run(cli, "import", str(data / "msg_01.txt"), "--account", "work")
    assert "already stored (duplicates)  │ 1" in r.output

    r = _run(cli, "list")
    assert "This is a test message" in r.output and "John X. Doe" in r.output

    r = _run(cli, "show", "1")
    assert r.exit_code == 0
    for expected in ("This is a test message", "bbb@ddd.com", "2001-05-04T14:05:44-04:00",
                     "15090.61304.110929.45684@aaa.zzz.org"):
        assert expected in r.output

    r = _run(cli, "show", "99")
    assert r.exit_code == 2 and "no email with id 99" in r.output

    r = _run(cli, "stats")
    assert "│ emails" in r.output and "│ 1 " in r.output


def test_import_from_stdin_single_and_mbox(cli: CliRunner, tmp_path: Path) -> None:
    data = cpython_email_dir()
    r = _run(cli, "import", "-", input=(data / "msg_01.txt").read_bytes())
    assert r.exit_code == 0 and "imported                     │ 1" in r.output

    box_path = tmp_path / "x.mbox"
    box = mailbox.mbox(box_path)
    for name in ("msg_02.txt", "msg_03.txt", "msg_04.txt"):
        box.add((data / name).read_bytes())
    box.close()
    r = _run(cli, "import", "-", input=box_path.read_bytes())
    assert r.exit_code == 0 and "messages seen                │ 3" in r.output


def test_import_missing_path_is_a_clear_error(cli: CliRunner, tmp_path: Path) -> None:
    r = _run(cli, "import", str(tmp_path / "nope.mbox"))
    assert r.exit_code == 2
    assert "no such file or directory" in r.output


def test_reparse_keeps_identity(cli: CliRunner) -> None:
    data = cpython_email_dir()
    _run(cli, "import", str(data))
    r = _run(cli, "reparse")
    # msg_19.txt is a digest body without any header: not mail, so not imported.
    assert r.exit_code == 0 and "Re-parsed 47 messages" in r.output
    r = _run(cli, "import", str(data))
    assert "imported                     │ 0" in r.output


def test_show_caps_a_huge_subject_and_recipient_list(cli: CliRunner, tmp_path: Path) -> None:
    rcpts = ", ".join(f"user{i}@example.org" for i in range(100_000))
    raw = (f"From: Ann <ann@example.org>\nTo: {rcpts}\nMessage-ID: <huge@x>\n"
           "Date: Mon, 1 Jan 2024 10:00:00 +0000\nSubject: ").encode() + b"long " * 1_000_000 + b"\n\nbody\n"
    path = tmp_path / "huge.eml"
    path.write_bytes(raw)
    r = _run(cli, "import", str(path))
    assert r.exit_code == 0, r.output
    r = _run(cli, "show", "1")
    assert r.exit_code == 0
    out = " ".join(r.output.split())
    assert "user0@example.org" in out and "user49@example.org" in out and "user50@example.org" not in out
    assert "… and 99,950 more" in out and "(4,999,999 characters)" in out
    assert len(r.output) < 50_000
    # The full data is kept.
    from beacon.settings import Settings
    from beacon.store import emails as store
    from beacon.store.db import Database

    db = Database(Settings().database_url_resolved)
    with db.session() as s:
        email = store.load_email(store.get_email_row(s, 1))
    db.dispose()
    assert len(email.to) == 100_000 and len(email.subject) > 4_000_000
