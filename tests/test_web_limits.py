"""Limits before work: no route reads more than a small body before a login, uploads get their
larger limit only after one, and an over-limit body is cut off early, over real sockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import PASSWORD, make_served
from tests.liveserver import live_server, push_body

MiB = 1024 * 1024
# A multipart body that opens a file part, so the parser keeps reading the filler as its content.
FILE_PART = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.mbox"\r\n'
             b"Content-Type: application/octet-stream\r\n\r\nFrom x\n")
BIG = 300 * MiB
# What sockets may have buffered beyond the limit when the server hangs up.
SLACK = 16 * MiB


def _login_cookie(port: int) -> tuple[str, str]:
    import httpx

    r = httpx.post(f"http://127.0.0.1:{port}/api/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie = "; ".join(f"{k}={v}" for k, v in r.cookies.items())
    return cookie, r.json()["csrf_token"]


@pytest.mark.parametrize("chunked", [False, True])
def test_big_bodies_are_cut_off_before_and_after_login(tmp_path: Path, chunked: bool) -> None:
    srv, _ = make_served(tmp_path, engine=False)
    srv.settings.upload_max_bytes = 8 * MiB
    uploads = srv.settings.data_dir / "uploads"
    multipart = {"Content-Type": "multipart/form-data; boundary=xyz"}
    with live_server(srv.app) as port:
        # Anonymous: every route, the upload route included, takes at most body_max_bytes (1 MiB).
        for path, headers in (("/api/login", {"Content-Type": "application/json"}),
                              ("/api/jobs/import/upload", multipart), ("/jobs/import", multipart),
                              ("/api/jobs/analyze", {"Content-Type": "application/json"})):
            pushed = push_body(port, path, BIG, headers=headers, chunked=chunked, prefix=FILE_PART)
            assert pushed.sent <= 1 * MiB + SLACK, (path, pushed.sent)
            # A route that reads no body answers without reading it (401 here); one that does: 413.
            assert pushed.status in (401, 413, None), (path, pushed.status)
            if not chunked and path != "/api/jobs/analyze":
                assert pushed.status == 413  # the declared length alone is refused
        cookie, csrf = _login_cookie(port)
        authed = {**multipart, "Cookie": cookie, "X-CSRF-Token": csrf}
        # Logged in: the upload route takes up to upload_max_bytes and no more.
        pushed = push_body(port, "/api/jobs/import/upload", BIG, headers=authed, chunked=chunked, prefix=FILE_PART)
        assert pushed.sent <= 8 * MiB + SLACK, pushed.sent
        assert pushed.status in (413, None)
        # Other routes keep the small limit after login too.
        pushed = push_body(port, "/api/jobs/analyze", BIG, chunked=chunked,
                           headers={"Content-Type": "application/json", "Cookie": cookie, "X-CSRF-Token": csrf})
        assert pushed.sent <= 1 * MiB + SLACK
    assert not uploads.exists() or not list(uploads.iterdir())
    srv.db.dispose()


def test_a_body_under_the_upload_limit_still_goes_through(tmp_path: Path) -> None:
    srv, lifespan = make_served(tmp_path, engine=False)
    srv.settings.upload_max_bytes = 8 * MiB
    with lifespan:
        c, h = srv.login(lifespan)
        raw = b"From: a@example.com\nSubject: big\n\n" + b"word " * (600 * 1024)  # 3 MiB: over the 1 MiB cap
        r = c.post("/api/jobs/import/upload", files={"file": ("big.eml", raw)}, headers=h)
        assert r.status_code == 202, r.text
        anonymous = srv.client().post("/api/jobs/import/upload", files={"file": ("big.eml", raw)})
        assert anonymous.status_code == 413 and "log in to upload" in anonymous.json()["detail"]
        page = srv.client().post("/jobs/import", files={"file": ("big.eml", raw)}, headers={"Accept": "text/html"})
        assert page.status_code == 413 and "<html" in page.text.lower()  # the error page, for a browser
        huge_login = srv.client().post("/api/login", content=b'{"username": "' + b"a" * (2 * MiB) + b'"}',
                                       headers={"Content-Type": "application/json"})
        assert huge_login.status_code == 413
    srv.db.dispose()
