"""Private files, sender-chosen text shown safely, no caching of mail, streams that end with
their session, NUL bytes refused, and IMAP servers kept off the server's own networks."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from beacon.store.runs import RunKind, RunRecorder
from beacon.store.schema import Account
from beacon.web.sanitize import sanitize_email_html
from tests.helpers import Served, form_token, store_messages

RLO = "\u202e"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BEACON_DATA_DIR": str(data), "BEACON_DATABASE_URL": ""}
    return subprocess.run([sys.executable, "-m", "beacon.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_data_dir_and_database_are_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    assert _cli(data, "settings", "set", "batch_size", "4").returncode == 0
    assert _mode(data) == 0o700
    files = [p for p in data.iterdir() if p.name.startswith("beacon.db")]
    assert files and all(_mode(p) == 0o600 for p in files), {p.name: oct(_mode(p)) for p in files}


def test_existing_wide_modes_are_tightened_with_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "old"
    assert _cli(data, "settings", "show").returncode == 0
    os.chmod(data, 0o755)
    os.chmod(data / "beacon.db", 0o644)
    r = _cli(data, "settings", "show")
    assert r.returncode == 0
    assert _mode(data) == 0o700 and _mode(data / "beacon.db") == 0o600
    assert "tightened" in r.stderr and "beacon.db" in r.stderr


def _b64(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


def _hostile_mail() -> bytes:
    name, subject = _b64(f"Bank{RLO}KNAB Security"), _b64(f"Pay now{RLO}fdp.exe\x07")
    return (
        f"From: {name} <alerts@example.org>\nTo: reader@example.com\nSubject: {subject}\n"
        "Message-ID: <bidi@example.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nSee attached.\n'
        "--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; "
        "filename*=utf-8''invoice%E2%80%AEfdp.exe\nContent-Transfer-Encoding: base64\n\nAAAA\n--b--\n"
    ).encode()


def test_names_subjects_and_file_names_are_isolated_without_bidi_controls(bare: Served) -> None:
    (email_id,) = store_messages(bare.db, [_hostile_mail()], account="demo", user_id=1)
    c, _ = bare.login()
    page = c.get(f"/emails/{email_id}").text
    assert RLO not in page and "\x07" not in page
    assert "<bdi>invoicefdp.exe</bdi>" in page
    assert "<bdi>BankKNAB Security</bdi>" in page
    assert "<bdi>Pay nowfdp.exe</bdi>" in page


def test_search_snippets_are_isolated_without_bidi_controls(bare: Served) -> None:
    from beacon.analysis.version import pipeline_version
    from beacon.store.analyses import save_analysis
    from tests.test_priority import analysis

    raw = (f"From: a@example.org\nTo: reader@example.com\nSubject: Invoice\nMessage-ID: <snip@example.org>\n"
           f"Date: Mon, 1 Jan 2024 10:00:00 +0000\n\nPlease pay the invoice{RLO}fdp.exe\x07 today.\n").encode()
    (email_id,) = store_messages(bare.db, [raw], account="demo", user_id=1)
    found = analysis()
    found.pipeline_version = pipeline_version(bare.settings)
    with bare.db.session() as s:
        save_analysis(s, email_id, found, bare.settings)
    c, _ = bare.login()
    page = c.get("/", params={"q": "invoice"}).text
    assert RLO not in page and "\x07" not in page
    assert '<span class="snippet"><bdi>Please pay the <mark>invoice</mark>fdp.exe  today.</bdi></span>' in page


@pytest.mark.parametrize("href", ["da\nta:text/html,<b>x</b>", "data\t:text/html,x", " DATA:text/html,x",
                                  "java\nscript:alert(1)", "\x01javascript:alert(1)", "vbscript:x", "cid:abc",
                                  "file:///etc/passwd"])
def test_links_are_judged_after_control_characters_are_stripped(href: str) -> None:
    safe = sanitize_email_html(f'<a href="{href}">x</a>').html
    assert "href" not in safe, safe


@pytest.mark.parametrize("href", ["https://example.com/a?b=c", "mailto:a@example.com", "tel:+441234", "/relative"])
def test_ordinary_links_stay(href: str) -> None:
    assert f'href="{href}"' in sanitize_email_html(f'<a href="{href}">x</a>').html


def test_pages_and_api_answers_with_mail_are_not_stored(bare: Served) -> None:
    (email_id,) = store_messages(bare.db, [_hostile_mail()], account="demo", user_id=1)
    c, _ = bare.login()
    for url in ("/", f"/emails/{email_id}", "/api/emails", f"/api/emails/{email_id}", "/api/jobs", "/jobs",
                "/api/me", "/login"):
        r = c.get(url)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store", url
    assert c.get("/static/app.css").headers.get("cache-control") != "no-store"


def test_nul_in_a_path_or_query_is_422(bare: Served) -> None:
    c, _ = bare.login()
    for url in ("/api/emails?q=a%00b", "/?q=%00", "/emails/1%00", "/api/jobs/1%00/events"):
        assert c.get(url).status_code == 422, url


def test_an_event_stream_ends_when_its_session_is_revoked(bare: Served) -> None:
    run = RunRecorder.start(bare.db, RunKind.IMPORT, "someone-else", params={}, user_id=1)  # alice's, until the test ends
    c, h = bare.login()
    events: list[str] = []

    def listen() -> None:
        with c.stream("GET", f"/api/jobs/{run.run_id}/events") as r:
            for line in r.iter_lines():
                events.append(line)

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    t.join(2)
    assert t.is_alive() and any(e.startswith("event: status") for e in events)  # streaming, run going on
    other = bare.client()
    other.cookies.update(c.cookies)
    assert other.post("/api/logout", headers=h).status_code == 204
    t.join(10)
    assert not t.is_alive(), "the stream went on after logout"
    assert any("logged out" in e for e in events)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.1.1", "169.254.169.254", "::1",
                                  "0.0.0.0", "100.64.0.1"])
def test_imap_hosts_on_private_networks_need_an_admin(bare: Served, host: str) -> None:
    c, h = bare.login()
    form = {"name": "probe", "host": host, "user": "u", "password": "p", "security": "tls", "port": "6379",
            "csrf_token": form_token(c, "/jobs")}
    r = c.post("/accounts/imap", data=form)
    assert r.status_code == 400 and "private" in r.text
    with bare.db.session() as s:
        assert s.query(Account).filter_by(name="probe").count() == 0
    assert c.patch("/api/settings", json={"imap_allow_private_hosts": True}, headers=h).status_code == 200
    assert c.post("/accounts/imap", data=form, follow_redirects=False).status_code == 303
    with bare.db.session() as s:
        saved = s.query(Account).filter_by(name="probe").one()
        # Checked again at every connection (tests/test_imap_host_pinning.py) if the admin
        # withdraws the permission.
        assert saved.imap_host_restricted
