"""Acting on mail through the JSON API, against the real app and a real SQLite store: every
action and its undo, bulk actions, and every refusal (bad action or body 422, unknown or
another user's email 404, CSRF 403, undo twice or out of order 409)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from beacon.analysis.version import pipeline_version
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.analyses import save_analysis
from beacon.store.schema import EmailActionRow, EmailRow, User
from beacon.web.auth import create_user
from tests.helpers import PASSWORD, Served, make_served, store_messages, synthetic_message
from tests.test_priority import analysis as make_analysis


@dataclass
class Reader:
    c: TestClient
    h: dict[str, str]  # the CSRF header
    mail: list[int]


@dataclass
class Two:
    srv: Served
    alice: Reader
    bob: Reader


def analyse(db: Database, settings: Settings, ids: list[int]) -> None:
    """A real (handmade) analysis of each email at the current pipeline version, scored for real."""
    made = make_analysis("personal", due_days=None).model_copy(update={"pipeline_version": pipeline_version(settings)})
    with db.session() as s:
        for email_id in ids:
            save_analysis(s, email_id, made, settings)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Two]:
    """alice (the demo mailbox, analysed) and bob (a few emails of his own, analysed). Each
    test acts on emails of its own."""
    srv, lifespan = make_served(tmp_path_factory.mktemp("triage-api"), engine=False)
    with srv.db.session() as s:
        bob_id = create_user(s, "bob", PASSWORD).id
        alice_id = s.scalar(select(User.id).where(User.username == "alice"))
    bob_mail = store_messages(srv.db, [synthetic_message(900 + i) for i in range(3)], account="bobs", user_id=bob_id)
    with srv.db.session() as s:
        from beacon.store.schema import Account
        alice_mail = list(s.scalars(select(EmailRow.id).join(Account).where(Account.user_id == alice_id)
                                    .order_by(EmailRow.id)))
    analyse(srv.db, srv.settings, alice_mail + bob_mail)
    with lifespan:
        alice, ah = srv.login(lifespan)
        bob, bh = srv.login(username="bob")
        yield Two(srv, Reader(alice, ah, alice_mail), Reader(bob, bh, bob_mail))
    srv.db.dispose()


def _act(c: TestClient, h: dict[str, str], email_id: int, action: str, **kw: object) -> dict:
    r = c.post(f"/api/emails/{email_id}/actions", json={"action": action, **kw}, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def _state(c: TestClient, email_id: int) -> dict:
    r = c.get(f"/api/emails/{email_id}")
    assert r.status_code == 200, r.text
    return r.json()["state"]


FRESH = {"done": False, "snoozed_until": None, "woken": False, "read": False, "importance": None, "replied": False}


def test_a_fresh_email_is_open_and_unread(two: Two) -> None:
    assert _state(two.alice.c, two.alice.mail[0]) == FRESH


@pytest.mark.parametrize(("action", "changed"), [
    ("done", {"done": True}),
    ("read", {"read": True}),
    ("important", {"importance": "important"}),
    ("not_important", {"importance": "not_important"}),
    ("replied", {"replied": True}),
])
def test_each_action_sets_its_state_and_undo_puts_it_back(two: Two, action: str, changed: dict) -> None:
    email = two.alice.mail[1]
    out = _act(two.alice.c, two.alice.h, email, action)
    assert out["state"] == {**FRESH, **changed} == _state(two.alice.c, email)
    [logged] = out["actions"]
    assert (logged["email_id"], logged["action"], logged["source"], logged["undone_at"]) == (email, action, "api", None)
    r = two.alice.c.post(logged["undo_url"], headers=two.alice.h)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == FRESH == _state(two.alice.c, email)
    assert r.json()["action"]["undone_at"] is not None


@pytest.mark.parametrize(("first", "second", "after"), [
    ("done", "undone", {"done": False}),
    ("read", "unread", {"read": False}),
    ("important", "clear_importance", {"importance": None}),
])
def test_opposite_actions_reverse_each_other(two: Two, first: str, second: str, after: dict) -> None:
    email = two.alice.mail[2]
    _act(two.alice.c, two.alice.h, email, first)
    assert _act(two.alice.c, two.alice.h, email, second)["state"] == {**FRESH, **after}


def test_snooze_hides_until_then_and_unsnooze_brings_it_back(two: Two) -> None:
    email = two.alice.mail[3]
    until = datetime.now(timezone.utc) + timedelta(hours=3)
    out = _act(two.alice.c, two.alice.h, email, "snooze", until=until.isoformat())
    assert datetime.fromisoformat(out["state"]["snoozed_until"]) == until
    assert out["actions"][0]["until"] is not None
    assert _act(two.alice.c, two.alice.h, email, "unsnooze")["state"] == FRESH


def test_snooze_needs_a_future_time_with_an_offset(two: Two) -> None:
    url = f"/api/emails/{two.alice.mail[0]}/actions"
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    naive = (datetime.now() + timedelta(days=1)).replace(tzinfo=None).isoformat()
    future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    for body in ({"action": "snooze"}, {"action": "snooze", "until": past}, {"action": "snooze", "until": naive},
                 {"action": "snooze", "until": "tomorrow"}, {"action": "done", "until": future}):
        r = two.alice.c.post(url, json=body, headers=two.alice.h)
        assert r.status_code == 422, (body, r.text)
    assert _state(two.alice.c, two.alice.mail[0]) == FRESH


def test_an_unknown_action_or_bad_body_is_422(two: Two) -> None:
    url = f"/api/emails/{two.alice.mail[0]}/actions"
    for body in ({"action": "archive"}, {"action": "DONE"}, {}, {"action": None}, {"action": "done", "source": "imap"}):
        assert two.alice.c.post(url, json=body, headers=two.alice.h).status_code == 422, body
    assert two.alice.c.post(url, content=b"not json", headers={**two.alice.h, "content-type": "application/json"}
                          ).status_code in (400, 422)
    for bulk in ({"action": "done", "email_ids": []}, {"action": "done"}, {"action": "done", "email_ids": [0]},
                 {"action": "done", "email_ids": list(range(1, 1002))}):
        assert two.alice.c.post("/api/actions", json=bulk, headers=two.alice.h).status_code == 422, bulk


def test_unknown_or_another_users_email_is_404_and_changes_nothing(two: Two) -> None:
    bobs = two.bob.mail[0]
    with two.srv.db.session() as s:
        logged = len(s.scalars(select(EmailActionRow.id)).all())
    for c, h, email in ((two.alice.c, two.alice.h, bobs), (two.alice.c, two.alice.h, 999_999), (two.bob.c, two.bob.h, two.alice.mail[0])):
        r = c.post(f"/api/emails/{email}/actions", json={"action": "done"}, headers=h)
        assert r.status_code == 404, r.text
    # A bulk action with one foreign email is refused whole: nothing changes, nothing is logged.
    r = two.alice.c.post("/api/actions", json={"action": "done", "email_ids": [two.alice.mail[0], bobs]}, headers=two.alice.h)
    assert r.status_code == 404 and str(bobs) in r.json()["detail"]
    assert _state(two.alice.c, two.alice.mail[0]) == FRESH and _state(two.bob.c, bobs) == FRESH
    with two.srv.db.session() as s:
        assert len(s.scalars(select(EmailActionRow.id)).all()) == logged


def test_another_users_action_cannot_be_undone(two: Two) -> None:
    done = _act(two.bob.c, two.bob.h, two.bob.mail[1], "done")["actions"][0]
    assert two.alice.c.post(f"/api/actions/{done['id']}/undo", headers=two.alice.h).status_code == 404
    assert two.alice.c.post("/api/actions/999999/undo", headers=two.alice.h).status_code == 404
    assert _state(two.bob.c, two.bob.mail[1])["done"] is True


def test_actions_need_the_csrf_token_and_a_login(two: Two) -> None:
    url = f"/api/emails/{two.alice.mail[0]}/actions"
    assert two.alice.c.post(url, json={"action": "done"}).status_code == 403
    assert two.alice.c.post(url, json={"action": "done"}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert two.srv.client().post(url, json={"action": "done"}).status_code == 401
    assert two.srv.client().post("/api/actions/1/undo").status_code == 401
    assert _state(two.alice.c, two.alice.mail[0]) == FRESH


def test_bulk_actions_log_one_undoable_action_per_email(two: Two) -> None:
    ids = two.alice.mail[10:13]
    r = two.alice.c.post("/api/actions", json={"action": "done", "email_ids": ids + [ids[0]]}, headers=two.alice.h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [a["email_id"] for a in out["actions"]] == ids and out["state"] is None
    assert all(a["state"]["done"] for a in out["actions"])
    assert two.alice.c.post(out["actions"][1]["undo_url"], headers=two.alice.h).status_code == 200
    assert [_state(two.alice.c, i)["done"] for i in ids] == [True, False, True]


def test_undo_twice_or_under_a_later_change_is_409(two: Two) -> None:
    email = two.alice.mail[4]
    first = _act(two.alice.c, two.alice.h, email, "important")["actions"][0]
    later = _act(two.alice.c, two.alice.h, email, "not_important")["actions"][0]
    r = two.alice.c.post(first["undo_url"], headers=two.alice.h)
    assert r.status_code == 409 and str(later["id"]) in r.json()["detail"]
    # An action on other fields does not stand in the way.
    _act(two.alice.c, two.alice.h, email, "read")
    assert two.alice.c.post(later["undo_url"], headers=two.alice.h).status_code == 200
    assert two.alice.c.post(later["undo_url"], headers=two.alice.h).status_code == 409
    assert two.alice.c.post(first["undo_url"], headers=two.alice.h).status_code == 200
    assert _state(two.alice.c, email) == {**FRESH, "read": True}


def test_the_email_list_carries_each_items_state(two: Two) -> None:
    email = two.alice.mail[5]
    _act(two.alice.c, two.alice.h, email, "important")
    items = {m["id"]: m for m in two.alice.c.get("/api/emails", params={"per_page": 200}).json()["items"]}
    assert items[email]["state"]["importance"] == "important"
    assert all(set(m["state"]) == set(FRESH) for m in items.values())


def test_the_openapi_schema_documents_the_action_routes_and_their_errors(two: Two) -> None:
    paths = two.srv.client().get("/openapi.json").json()["paths"]
    assert set(paths["/api/emails/{email_id}/actions"]["post"]["responses"]) >= {"200", "401", "403", "404", "422"}
    assert set(paths["/api/actions"]["post"]["responses"]) >= {"200", "401", "403", "404", "422"}
    assert set(paths["/api/actions/{action_id}/undo"]["post"]["responses"]) >= {"200", "401", "403", "404", "409"}
