"""``beacon done / undone / snooze / unsnooze / mark / undo`` against a real SQLite store: each
acts for --user (or BEACON_USER) on that user's own mail only, prints the ids to undo (or JSON),
and refuses unknown ids, another user's mail and unreadable times with exit status 2."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from beacon.cli.main import app
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import User
from tests.helpers import store_messages, synthetic_message
from tests.test_triage_api import analyse


@dataclass
class Cli:
    runner: CliRunner
    db: Database
    alice: list[int]
    bob: list[int]

    def __call__(self, *args: str, user: str | None = "alice") -> object:
        return self.runner.invoke(app, [*(["--user", user] if user else []), *args])

    def json(self, *args: str, user: str = "alice") -> list[dict]:
        r = self(*args, "--json", user=user)
        assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
        return json.loads(r.stdout)  # type: ignore[attr-defined]

    def state(self, email_id: int, user: str = "alice") -> dict:
        items = self.json("inbox", "--all", user=user)
        return next(i["state"] for i in items if i["id"] == email_id)

    def inbox(self, *args: str) -> list[int]:
        return [i["id"] for i in self.json("inbox", *args)]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("BEACON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BEACON_USER", raising=False)
    settings = Settings()
    db = Database(settings.database_url_resolved)
    db.migrate()
    with db.session() as s:
        users = [User(username=name, password_hash="-") for name in ("alice", "bob")]
        s.add_all(users)
        s.flush()
        alice_id, bob_id = (u.id for u in users)
    alice = store_messages(db, [synthetic_message(i) for i in range(4)], account="a", user_id=alice_id)
    bob = store_messages(db, [synthetic_message(100 + i) for i in range(2)], account="b", user_id=bob_id)
    analyse(db, settings, alice + bob)
    yield Cli(CliRunner(), db, alice, bob)
    db.dispose()


def test_done_and_undone(cli: Cli) -> None:
    a, b = cli.alice[:2]
    r = cli("done", str(a), str(b))
    assert r.exit_code == 0, r.output
    assert f"email {a}: marked done (undo: beacon undo " in r.stdout
    assert set(cli.inbox()) == set(cli.alice[2:])
    assert set(cli.inbox("-q", "is:done")) == {a, b}
    [undone] = cli.json("undone", str(b))
    assert undone["action"] == "undone" and undone["source"] == "cli" and undone["state"]["done"] is False
    assert b in cli.inbox()


def test_snooze_reads_when_and_refuses_what_it_cannot(cli: Cli) -> None:
    e = cli.alice[0]
    [snoozed] = cli.json("snooze", str(e), "--until", "2h")
    until = datetime.fromisoformat(snoozed["until"])
    assert timedelta(hours=1, minutes=59) < until - datetime.now(timezone.utc) <= timedelta(hours=2)
    assert e not in cli.inbox() and cli.inbox("-q", "is:snoozed") == [e]
    [again] = cli.json("snooze", str(e), "--until", "tomorrow 9:00")
    local = datetime.fromisoformat(again["until"]).astimezone()
    assert (local.date() - datetime.now().astimezone().date()).days == 1 and (local.hour, local.minute) == (9, 0)
    for bad in ("yesterday", "2020-01-01T10:00:00+00:00", "0h", "25:00", "soon"):
        r = cli("snooze", str(e), "--until", bad)
        assert r.exit_code == 2 and "error" in r.stderr, (bad, r.output)
    assert cli("snooze", str(e)).exit_code == 2  # --until is required
    [woken] = cli.json("unsnooze", str(e))
    assert woken["state"]["snoozed_until"] is None and e in cli.inbox()


@pytest.mark.parametrize(("mark", "field", "value"), [
    ("important", "importance", "important"), ("not-important", "importance", "not_important"),
    ("read", "read", True), ("replied", "replied", True),
])
def test_mark_and_undo(cli: Cli, mark: str, field: str, value: object) -> None:
    e = cli.alice[1]
    [record] = cli.json("mark", str(e), mark)
    assert record["state"][field] == value == cli.state(e)[field]
    r = cli("undo", str(record["id"]))
    assert r.exit_code == 0 and f"email {e}: undid" in r.stdout
    assert cli.state(e)[field] in (None, False)
    again = cli("undo", str(record["id"]))
    assert again.exit_code == 1 and "already undone" in again.stderr


def test_mark_unread_after_read(cli: Cli) -> None:
    e = cli.alice[2]
    cli.json("mark", str(e), "read")
    assert cli.json("mark", str(e), "unread")[0]["state"]["read"] is False
    assert e in cli.inbox("-q", "is:unread")
    assert cli("mark", str(e), "purple").exit_code == 2


def test_unknown_ids_and_another_users_mail_are_refused(cli: Cli) -> None:
    for args in (["done", "999999"], ["done", str(cli.bob[0])], ["mark", str(cli.alice[0]), str(cli.bob[0]), "read"],
                 ["undo", "999999"]):
        r = cli(*args)
        assert r.exit_code == 2 and "no " in r.stderr, (args, r.output)
    assert cli.state(cli.alice[0])["read"] is False  # a refused bulk action changes nothing
    [bobs] = cli.json("done", str(cli.bob[0]), user="bob")
    r = cli("undo", str(bobs["id"]))
    assert r.exit_code == 2 and cli.state(cli.bob[0], user="bob")["done"] is True


def test_the_user_comes_from_beacon_user_and_is_needed_with_several(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    r = cli("done", str(cli.alice[3]), user=None)
    assert r.exit_code == 2 and "--user" in r.stderr
    monkeypatch.setenv("BEACON_USER", "bob")
    assert cli("done", str(cli.alice[3]), user=None).exit_code == 2  # bob's view: no such email
    assert cli("done", str(cli.bob[1]), user=None).exit_code == 0
    assert cli.state(cli.bob[1], user="bob")["done"] is True
