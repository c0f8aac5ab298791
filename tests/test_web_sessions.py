"""Logins and sessions: logout and password changes revoke cookies server-side, a session without
a password version or past its age is refused, failed logins are limited per address, and the
login redirect keeps the whole target."""

from __future__ import annotations

import base64
import json
import time

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from beacon.store.schema import User
from beacon.web.auth import COOKIE_NAME, set_password
from tests.helpers import PASSWORD, Served, form_token


def test_logout_revokes_the_old_cookie(bare: Served) -> None:
    c, h = bare.login()
    stolen = c.cookies[COOKIE_NAME]
    assert c.post("/api/logout", headers=h).status_code == 204
    replay = bare.client()
    replay.cookies.set(COOKIE_NAME, stolen)
    assert replay.get("/api/me").status_code == 401
    assert replay.get("/", follow_redirects=False).status_code == 303
    # Other sessions of the same user are unaffected; the UI logout revokes too.
    c2, _ = bare.login()
    ui_cookie = c2.cookies[COOKIE_NAME]
    assert c2.post("/logout", data={"csrf_token": form_token(c2, "/settings")}, follow_redirects=False).status_code == 303
    c3, _ = bare.login()
    assert c3.get("/api/me").status_code == 200
    replay.cookies.set(COOKIE_NAME, ui_cookie)
    assert replay.get("/api/me").status_code == 401


def test_password_change_invalidates_every_session(bare: Served) -> None:
    c1, _ = bare.login()
    c2, _ = bare.login()
    with bare.db.session() as s:
        set_password(s, "alice", "a brand new password")
    assert c1.get("/api/me").status_code == 401 and c2.get("/api/me").status_code == 401
    assert c1.get("/api/jobs/1/events").status_code == 401  # the stream checks it too
    r = c1.post("/api/login", json={"username": "alice", "password": "a brand new password"})
    assert r.status_code == 200 and c1.get("/api/me").status_code == 200


def _signed_cookie(bare: Served, payload: dict[str, object]) -> str:
    """A cookie signed with the app's own session key, as the session middleware writes it."""
    signer = TimestampSigner(bare.app.state.beacon.codec.secret_key)
    return signer.sign(base64.b64encode(json.dumps(payload).encode())).decode()


def test_cookie_from_before_password_versions_is_not_accepted(bare: Served) -> None:
    """A validly signed {sid, uid} session (without a password version) logs nobody in."""
    c = bare.client()
    c.cookies.set(COOKIE_NAME, _signed_cookie(bare, {"sid": "x" * 32, "uid": 1}))
    assert c.get("/api/me").status_code == 401
    # The same signer with the password version of alice's current hash does: the check above
    # failed for the missing version, not for the signature.
    st = bare.app.state.beacon
    with bare.db.session() as s:
        user = s.scalar(select(User).where(User.username == "alice"))
        fresh = st.codec.new(user)
    c.cookies.set(COOKIE_NAME, _signed_cookie(bare, fresh.as_dict()))
    assert c.get("/api/me").json()["username"] == "alice"


def test_an_expired_session_is_refused(bare: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    c, _ = bare.login()
    assert c.get("/api/me").status_code == 200
    later = int(time.time()) + bare.settings.session_max_age + 60
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)  # the cookie's age, as read
    assert c.get("/api/me").status_code == 401


def test_repeated_failed_logins_from_one_address_get_429(bare: Served) -> None:
    c = bare.client()
    for _ in range(10):
        assert c.post("/api/login", json={"username": "alice", "password": "wrong guess"}).status_code == 401
    r = c.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    form = c.post("/login", data={"username": "alice", "password": PASSWORD,
                                  "csrf_token": form_token(c, "/login")})
    assert form.status_code == 429 and "Too many failed logins" in form.text


def test_login_redirect_keeps_the_whole_target_query(bare: Served) -> None:
    c = bare.client()
    r = c.get("/?level=HIGH&kind=newsletter", follow_redirects=False)
    assert r.status_code == 303
    page = c.get(r.headers["location"])
    assert 'value="/?level=HIGH&amp;kind=newsletter"' in page.text
    done = c.post("/login", data={"username": "alice", "password": PASSWORD, "next": "/?level=HIGH&kind=newsletter",
                                  "csrf_token": form_token(c, "/login")}, follow_redirects=False)
    assert done.headers["location"] == "/?level=HIGH&kind=newsletter"


def test_ones_own_successful_login_does_not_reset_anothers_failures(bare: Served) -> None:
    from beacon.web.auth import create_user

    with bare.db.session() as s:
        create_user(s, "mallory", PASSWORD)
    c = bare.client()
    for i in range(10):
        assert c.post("/api/login", json={"username": "alice", "password": f"guess {i}"}).status_code == 401
        assert c.post("/api/login", json={"username": "mallory", "password": PASSWORD}).status_code == 200
    assert c.post("/api/login", json={"username": "alice", "password": PASSWORD}).status_code == 429
    # mallory's own logins go on: the limit is per (address, username).
    assert c.post("/api/login", json={"username": "mallory", "password": PASSWORD}).status_code == 200


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_forwarded_for_counts_only_behind_a_configured_proxy(tmp_path, trusted: str) -> None:
    import httpx

    from beacon.web.runtime import uvicorn_proxy_options
    from tests.helpers import make_served
    from tests.liveserver import live_server

    srv, _ = make_served(tmp_path, engine=False)
    srv.settings.trusted_proxies = trusted
    with live_server(srv.app, **uvicorn_proxy_options(srv.settings)) as port:
        url = f"http://127.0.0.1:{port}/api/login"
        for i in range(10):  # each failure claims another address
            r = httpx.post(url, json={"username": "alice", "password": "wrong"},
                           headers={"X-Forwarded-For": f"203.0.113.{i}"})
            assert r.status_code == 401
        again = httpx.post(url, json={"username": "alice", "password": PASSWORD},
                           headers={"X-Forwarded-For": "198.51.100.7"})
        # Untrusted: all ten came from 127.0.0.1, so it is blocked whatever the header says.
        # Behind the configured proxy: the header names the client, a new one may log in.
        assert again.status_code == (200 if trusted else 429), again.text
    srv.db.dispose()
