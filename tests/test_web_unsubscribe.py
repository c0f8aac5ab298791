"""One-click unsubscribe (RFC 8058) against a real local HTTPS server (a throwaway CA from
trustme): what is offered, what the server sends, and where it refuses to send."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from beacon.errors import InvalidInput, UnsubscribeFailed
from beacon.models import ListHeaders
from beacon.web.unsubscribe import ONE_CLICK_BODY, OneClick, one_click, unsubscribe


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ListServer:
    """A list's unsubscribe endpoint: answers ``status`` (and a Location when redirecting)."""

    port: int
    ca: trustme.CA
    requests: list[Seen] = field(default_factory=list)
    status: int = 200

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx

    def url(self, path: str = "/unsub?u=42") -> str:
        return f"https://localhost:{self.port}{path}"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def list_server(ca: trustme.CA) -> Iterator[ListServer]:
    box: list[ListServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            srv = box[0]
            srv.requests.append(Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(srv.status)
            if 300 <= srv.status < 400:
                self.send_header("Location", f"https://localhost:{srv.port}/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST  # noqa: N815  (a followed redirect would show up as a GET)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(ctx)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    box.append(ListServer(httpd.server_address[1], ca))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        httpd.shutdown()
        httpd.server_close()


def _headers(url: str, post: str | None = ONE_CLICK_BODY) -> ListHeaders:
    return ListHeaders(list_unsubscribe=url, list_unsubscribe_post=post)


def test_offered_only_with_the_post_header_and_an_https_url() -> None:
    both = "<mailto:leave@lists.example.org?subject=unsubscribe>, <https://lists.example.org/u/1?t=x#frag>"
    assert one_click(_headers(both)) == OneClick("https://lists.example.org/u/1?t=x", "lists.example.org")
    assert one_click(_headers(both, post=None)) is None  # RFC 2369 only: a web page, not one-click
    assert one_click(_headers(both, post="List-Unsubscribe=Maybe")) is None
    assert one_click(_headers("<http://lists.example.org/u/1>")) is None  # https only
    assert one_click(_headers("<mailto:leave@lists.example.org>")) is None
    assert one_click(_headers("<https://user:pw@lists.example.org/u>")) is None
    assert one_click(ListHeaders()) is None


def test_the_server_posts_the_one_click_body_and_nothing_of_the_reader(list_server: ListServer) -> None:
    done = unsubscribe(OneClick(list_server.url(), "localhost"), allow_private_hosts=True,
                       verify=list_server.client_context())
    assert (done.host, done.status) == ("localhost", 200)
    (seen,) = list_server.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/unsub?u=42", ONE_CLICK_BODY.encode())
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.headers["host"] == f"localhost:{list_server.port}"
    assert "cookie" not in seen.headers and "authorization" not in seen.headers


def test_private_hosts_are_refused_unless_allowed(list_server: ListServer) -> None:
    with pytest.raises(InvalidInput, match="loopback or private network"):
        unsubscribe(OneClick(list_server.url(), "localhost"), allow_private_hosts=False,
                    verify=list_server.client_context())
    with pytest.raises(InvalidInput, match="cannot be resolved"):
        unsubscribe(OneClick("https://no-such-host.invalid/u", "no-such-host.invalid"), allow_private_hosts=True)
    assert list_server.requests == []


def test_an_http_url_is_never_posted_to() -> None:
    with pytest.raises(InvalidInput, match="https"):
        unsubscribe(OneClick("http://localhost:1/u", "localhost"), allow_private_hosts=True)


def test_redirects_are_not_followed_and_errors_are_failures(list_server: ListServer) -> None:
    list_server.status = 302
    with pytest.raises(UnsubscribeFailed, match="answered 302"):
        unsubscribe(OneClick(list_server.url(), "localhost"), allow_private_hosts=True,
                    verify=list_server.client_context())
    assert [r.path for r in list_server.requests] == ["/unsub?u=42"]  # not /elsewhere
    list_server.status = 500
    with pytest.raises(UnsubscribeFailed, match="answered 500"):
        unsubscribe(OneClick(list_server.url(), "localhost"), allow_private_hosts=True,
                    verify=list_server.client_context())


def test_an_untrusted_certificate_is_a_failure(list_server: ListServer) -> None:
    # The system's CAs do not know the test CA: the TLS handshake must fail, no POST is made.
    with pytest.raises(UnsubscribeFailed, match="could not be reached"):
        unsubscribe(OneClick(list_server.url(), "localhost"), allow_private_hosts=True,
                    verify=ssl.create_default_context())
    assert list_server.requests == []


# -- through the API, as the page's button calls it ------------------------------------------
def _message(url: str, post: bool) -> bytes:
    lines = [
        "From: News <news@lists.example.org>", "To: alice@example.net", "Subject: Weekly digest",
        "Message-ID: <digest-1@lists.example.org>", "Date: Mon, 30 Nov 2026 09:00:00 +0000",
        f"List-Unsubscribe: <mailto:leave@lists.example.org>, <{url}>",
        *(["List-Unsubscribe-Post: List-Unsubscribe=One-Click"] if post else []),
        "", "This week's news.", "",
    ]
    return "\r\n".join(lines).encode()


def test_api_unsubscribes_through_the_server(list_server: ListServer, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from beacon.settings import Settings
    from beacon.store.db import Database
    from beacon.web.auth import create_user
    from beacon.web.app import create_app
    from fastapi.testclient import TestClient
    from tests.helpers import PASSWORD, store_messages
    from beacon.web.deps import CSRF_HEADER

    ca_file = tmp_path / "ca.pem"
    list_server.ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the server process trusts the list's CA
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'b.db'}",
                        sync_interval=0, imap_allow_private_hosts=True)
    db = Database(settings.database_url_resolved)
    db.migrate()
    with db.session() as s:
        alice = create_user(s, "alice", PASSWORD).id
        create_user(s, "bob", PASSWORD)
    one_click_id, plain_id = store_messages(
        db, [_message(list_server.url("/u/alice"), True), _message(list_server.url("/u/alice-2"), False)],
        user_id=alice)
    with TestClient(create_app(settings, db)) as c:
        token = c.post("/api/login", json={"username": "alice", "password": PASSWORD}).json()["csrf_token"]
        assert c.post(f"/api/emails/{one_click_id}/unsubscribe").status_code == 403  # no CSRF token
        r = c.post(f"/api/emails/{one_click_id}/unsubscribe", headers={CSRF_HEADER: token})
        assert r.status_code == 200, r.text
        assert r.json() == {"unsubscribed": True, "host": "localhost", "status": 200}
        assert [x.path for x in list_server.requests] == ["/u/alice"]
        r = c.post(f"/api/emails/{plain_id}/unsubscribe", headers={CSRF_HEADER: token})
        assert r.status_code == 400 and "no one-click" in r.json()["detail"]
        # The page offers the button only where the API would act.
        assert 'id="unsubscribe"' in c.get(f"/emails/{one_click_id}").text
        assert 'id="unsubscribe"' not in c.get(f"/emails/{plain_id}").text
        list_server.status = 503
        r = c.post(f"/api/emails/{one_click_id}/unsubscribe", headers={CSRF_HEADER: token})
        assert r.status_code == 502 and "answered 503" in r.json()["detail"]

        bob = c.post("/api/login", json={"username": "bob", "password": PASSWORD}).json()["csrf_token"]
        r = c.post(f"/api/emails/{one_click_id}/unsubscribe", headers={CSRF_HEADER: bob})
        assert r.status_code == 404  # not bob's mail
    assert len(list_server.requests) == 2
