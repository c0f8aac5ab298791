"""The two CLI contracts scripts rely on: ``beacon inbox --json`` and ``beacon analyze-text``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from beacon.cli.main import app
from beacon.demo import DEMO_MBOX
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import EmailRow

# Messages of the demo mailbox sent by Alex (BEACON_OWN_ADDRESSES below).
OWN_DEMO_MAIL = 4


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BEACON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BEACON_OWN_ADDRESSES", "alex.morgan@example.com,alex.m@example.net")
    monkeypatch.setenv("BEACON_VIP_SENDERS", "priya.shah@example.com")
    return CliRunner()


def test_inbox_json_lists_the_analysed_inbox_best_first(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEACON_NLP_MODE", "inprocess")
    assert cli.invoke(app, ["import", str(DEMO_MBOX), "--account", "demo"]).exit_code == 0
    assert cli.invoke(app, ["analyze"], catch_exceptions=False).exit_code == 0

    r = cli.invoke(app, ["inbox", "--json"])
    assert r.exit_code == 0, r.output
    items = json.loads(r.stdout)
    assert len(items) == 41 - OWN_DEMO_MAIL  # Alex's own messages are no inbox items
    for item in items:
        assert {"id", "score", "level", "kind", "needs_reply", "subject", "from", "date", "source"} <= set(item)
        assert item["kind"] in ("personal", "notification", "newsletter", "marketing", "spam")
        assert item["source"].startswith(str(DEMO_MBOX))
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    top = items[0]
    assert top["level"] == "HIGH" and top["kind"] == "personal" and " <" in top["from"]

    assert len(json.loads(cli.invoke(app, ["inbox", "--json", "--limit", "5"]).stdout)) == 5
    personal = json.loads(cli.invoke(app, ["inbox", "--json", "--kind", "personal"]).stdout)
    assert personal and all(i["kind"] == "personal" for i in personal)

    # A later state (here: deleted) hides an email from the inbox; --all still lists it.
    db = Database(Settings().database_url_resolved)
    with db.session() as s:
        s.execute(update(EmailRow).where(EmailRow.id == top["id"]).values(deleted=True))
    db.dispose()
    shown = json.loads(cli.invoke(app, ["inbox", "--json"]).stdout)
    assert top["id"] not in {i["id"] for i in shown} and len(shown) == 40 - OWN_DEMO_MAIL
    everything = json.loads(cli.invoke(app, ["inbox", "--json", "--all"]).stdout)
    assert len(everything) == 41
    assert next(i for i in everything if i["id"] == top["id"])["hidden"] is True


def test_analyze_text_one_line_out_per_line_in_through_the_worker_pool(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEACON_NLP_MODE", "pool")
    monkeypatch.setenv("BEACON_WORKERS", "2")
    lines = [
        json.dumps({"text": "Hi Alex,\n\nCan you send me the signed contract by tomorrow 5pm?\n\nThanks,\nDana",
                    "subject": "Signed contract", "from": "Dana Smith <dana@example.com>",
                    "date": "2024-03-06T09:15:00-05:00"}),
        "{not json",
        json.dumps({"subject": "no text here"}),
        "",
        json.dumps({"text": "Bonjour Alex, pouvez-vous m'envoyer le rapport avant vendredi ? Nous devons "
                            "préparer la réunion avec le client. Merci, Camille",
                    "from": "Camille <camille@example.net>"}),
        json.dumps({"text": "Hallo Alex, kannst du mir bitte bis Freitag die Zahlen schicken? Wir müssen die "
                            "Präsentation vorbereiten. Viele Grüße, Jonas"}),
        json.dumps({"text": "LIMITED TIME: 70% off all watches. Click here to order now! Unsubscribe below.",
                    "subject": "Huge sale", "date": "2024-03-06"}),
    ]
    r = cli.invoke(app, ["analyze-text", "--batch", "2"], input="\n".join(lines) + "\n")
    assert r.exit_code == 1, r.output  # some lines failed: said in the exit status too
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["line"] for o in out] == [1, 2, 3, 5, 6, 7]

    request = out[0]
    assert request["kind"] == "personal" and request["language"] == "en" and request["needs_reply"] is True
    assert request["requests"][0]["text"] == "Can you send me the signed contract by tomorrow 5pm?"
    assert request["action_items"][0]["due"].startswith("2024-03-07T17:00")
    assert {"score", "level", "factors"} <= set(request["priority"])
    assert {f["name"] for f in request["priority"]["factors"]} >= {"base", "request", "deadline"}
    for key in ("entities", "summary", "kind_reasons", "sentiment", "time_refs"):
        assert key in request

    assert out[1]["error"].startswith("not JSON") and "kind" not in out[1]
    assert out[2]["error"] == "text: Field required"
    assert (out[3]["language"], out[3]["depth"]) == ("fr", "text")
    assert out[3]["notes"][0].startswith("language: fr, not analysed for requests")
    assert (out[4]["language"], out[4]["requests"]) == ("de", [])
    assert out[5]["kind"] in ("marketing", "spam") and out[5]["needs_reply"] is False
    assert out[5]["priority"]["level"] == "LOW"
