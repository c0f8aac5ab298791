"""The JSON API against a real app: real SQLite store, real importer, real analysis engine
(pool mode, one worker), real argon2 users. Every endpoint, bad input and unauthenticated calls."""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from beacon.demo import DEMO_MBOX, DEMO_OWN_ADDRESSES
from beacon.web.auth import COOKIE_NAME
from beacon.web.deps import CSRF_HEADER
from tests.helpers import PASSWORD, Served, form_token, wait_job
from testkit.corpora import cpython_email_dir

# -- authentication ----------------------------------------------------------------------------
PROTECTED = [
    ("GET", "/api/me"), ("POST", "/api/logout"), ("GET", "/api/emails"), ("GET", "/api/emails/1"),
    ("POST", "/api/jobs/import"), ("POST", "/api/jobs/import/upload"), ("POST", "/api/jobs/analyze"),
    ("GET", "/api/jobs"), ("GET", "/api/jobs/1"), ("GET", "/api/jobs/1/events"), ("GET", "/api/settings"),
    ("PATCH", "/api/settings"), ("GET", "/api/accounts"), ("GET", "/api/engine"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_api_route_needs_login(served: Served, method: str, path: str) -> None:
    r = served.client().request(method, path)
    assert r.status_code == 401
    assert r.json() == {"detail": "login required"}


def test_the_openapi_schema_documents_every_api_route(served: Served) -> None:
    paths = served.client().get("/openapi.json").json()["paths"]
    for method, path in PROTECTED:
        templated = path.replace("/1", "/{email_id}" if "emails" in path else "/{run_id}")
        assert method.lower() in paths[templated], (method, templated)


@pytest.mark.parametrize("path", ["/", "/emails/1", "/jobs", "/jobs/1", "/settings", "/system", "/emails/1/body"])
def test_ui_pages_redirect_to_login(served: Served, path: str) -> None:
    r = served.client().get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")


def test_wrong_password_and_unknown_user_are_refused(served: Served) -> None:
    c = served.client()
    assert c.post("/api/login", json={"username": "alice", "password": "nope"}).status_code == 401
    assert c.post("/api/login", json={"username": "mallory", "password": PASSWORD}).status_code == 401
    assert c.post("/api/login", json={"username": "alice"}).status_code == 422
    assert c.get("/api/emails").status_code == 401


def test_session_cookie_is_httponly_samesite_and_holds_no_secret(served: Served) -> None:
    c = served.client()
    r = c.post("/api/login", json={"username": "alice", "password": PASSWORD})
    set_cookie = r.headers["set-cookie"]
    attributes = {a.strip().lower() for a in set_cookie.split(";")[1:]}  # names are case-insensitive
    assert set_cookie.startswith(f"{COOKIE_NAME}=") and {"httponly", "samesite=lax", "path=/"} <= attributes
    assert f"max-age={served.settings.session_max_age}" in attributes and "secure" not in attributes
    value = c.cookies[COOKIE_NAME]
    assert PASSWORD not in value and "argon2" not in value
    payload = json.loads(base64.b64decode(value.split(".")[0]))
    assert set(payload) == {"sid", "uid", "pv"}  # pv: an HMAC of the hash, not the hash
    with served.db.session() as s:
        from beacon.store.schema import User
        stored_hash = s.query(User).filter_by(username="alice").one().password_hash
    assert payload["pv"] not in stored_hash


def test_tampered_cookie_is_rejected(served: Served) -> None:
    c, _ = served.login()
    value = c.cookies[COOKIE_NAME]
    c.cookies.clear()
    c.cookies.set(COOKIE_NAME, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert c.get("/api/me").status_code == 401


def test_logout_ends_the_session(served: Served) -> None:
    c, h = served.login()
    assert c.get("/api/me").json()["username"] == "alice"
    assert c.post("/api/logout", headers=h).status_code == 204
    assert c.get("/api/me").status_code == 401


def test_state_changes_need_the_csrf_token(served: Served) -> None:
    c, _ = served.login()
    for method, path in [("POST", "/api/jobs/analyze"), ("PATCH", "/api/settings"), ("POST", "/api/logout"),
                         ("POST", "/api/jobs/import")]:
        r = c.request(method, path, json={}, headers={CSRF_HEADER: "forged"})
        assert r.status_code == 403, (method, path, r.text)
        assert c.request(method, path, json={}).status_code == 403


def test_forms_need_the_csrf_token(served: Served) -> None:
    c, _ = served.login()
    assert c.post("/settings", data={"priority_high": "70"}).status_code == 403
    assert c.post("/jobs/analyze", data={"csrf_token": "forged"}).status_code == 403
    anon = served.client()
    assert anon.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 403


def test_login_form_with_csrf_rotates_the_session(served: Served) -> None:
    c = served.client()
    page = c.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    before = c.cookies[COOKIE_NAME]
    r = c.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token,
                               "next": "//evil.example/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    assert c.cookies[COOKIE_NAME] != before
    assert c.get("/").status_code == 200


# -- emails --------------------------------------------------------------------------------------
def test_list_is_in_priority_order_with_explanations(served: Served) -> None:
    c, _ = served.login()
    page = c.get("/api/emails", params={"per_page": 200}).json()
    demo_count = sum(1 for line in DEMO_MBOX.read_bytes().splitlines() if line.startswith(b"From "))
    # Alex's own messages are no inbox items.
    demo_count -= sum(1 for line in DEMO_MBOX.read_bytes().splitlines()
                      if line.startswith(b"From: ") and any(a.encode() in line for a in DEMO_OWN_ADDRESSES))
    assert page["total"] == demo_count and page["pending_analysis"] == 0
    scores = [m["score"] for m in page["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(m["top_reason"] for m in page["items"])


def test_pagination(served: Served) -> None:
    c, _ = served.login()
    everything = [m["id"] for m in c.get("/api/emails", params={"per_page": 200}).json()["items"]]
    p1 = c.get("/api/emails", params={"per_page": 10}).json()
    p2 = c.get("/api/emails", params={"per_page": 10, "page": 2}).json()
    assert [m["id"] for m in p1["items"] + p2["items"]] == everything[:20]
    assert p1["pages"] == -(-len(everything) // 10)


@pytest.mark.parametrize("field", ["level", "kind", "category", "needs_reply"])
def test_filters(served: Served, field: str) -> None:
    c, _ = served.login()
    everything = c.get("/api/emails", params={"per_page": 200}).json()["items"]
    for value in {m[field] for m in everything}:
        got = c.get("/api/emails", params={field: str(value).lower() if isinstance(value, bool) else value,
                                           "per_page": 200}).json()
        assert got["total"] == sum(1 for m in everything if m[field] == value)
        assert all(m[field] == value for m in got["items"])


def test_sort_by_date(served: Served) -> None:
    c, _ = served.login()
    items = c.get("/api/emails", params={"sort": "date", "per_page": 200}).json()["items"]
    dates = [m["date"] for m in items]
    assert dates == sorted(dates, reverse=True)


def test_search_finds_words_in_subject_and_text(served: Served) -> None:
    c, _ = served.login()
    found = c.get("/api/emails", params={"q": "migration"}).json()["items"]
    assert found and all("migration" in (m["subject"] + c.get(f"/api/emails/{m['id']}").json()["text"]).lower()
                          for m in found)
    assert c.get("/api/emails", params={"q": "zzqxnotaword"}).json()["total"] == 0


def test_search_language_operators_through_the_api(served: Served) -> None:
    c, _ = served.login()
    everything = c.get("/api/emails", params={"per_page": 200}).json()["items"]
    top = next(m for m in everything if len(m["subject"].split()) >= 2 and m["from_addr"])
    sender = c.get("/api/emails", params={"q": f"from:{top['from_addr']}", "per_page": 200}).json()
    assert top["id"] in [m["id"] for m in sender["items"]]
    assert all(m["from_addr"] == top["from_addr"] for m in sender["items"]) and sender["total_exact"]
    two = " ".join(top["subject"].split()[:2])
    phrase = c.get("/api/emails", params={"q": f'subject:"{two}" -zzqxnotaword'}).json()["items"]
    assert top["id"] in [m["id"] for m in phrase]
    level = c.get("/api/emails", params={"q": f"level:{top['level'].lower()}", "per_page": 200}).json()
    assert level["total"] == sum(1 for m in everything if m["level"] == top["level"])
    # Search results carry a snippet with the searched word marked in it.
    word = max(re.findall(r"[A-Za-z]{5,}", top["summary"] or top["subject"]), key=len)
    hit = next(m for m in c.get("/api/emails", params={"q": word}).json()["items"] if m["highlights"])
    assert all(hit["snippet"][a:b].lower() == word.lower() for a, b in hit["highlights"])


@pytest.mark.parametrize(("q", "message"), [
    ('"board deck', "unclosed quote"), ("from:", "needs a value"), ("colour:red", "unknown operator"),
    ("is:finished", "unknown state"), ("before:2024-13-01", "YYYY-MM-DD"), ("(a b", "missing ')'"),
])
def test_a_malformed_query_is_400_saying_why(served: Served, q: str, message: str) -> None:
    c, _ = served.login()
    r = c.get("/api/emails", params={"q": q})
    assert r.status_code == 400 and message in r.json()["detail"]
    page = c.get("/", params={"q": q})
    assert page.status_code == 400 and str(escape(message)) in page.text and 'id="search-error"' in page.text


def test_keyset_pages_through_the_api(served: Served) -> None:
    c, _ = served.login()
    for sort in ("priority", "date", "oldest"):
        everything = [m["id"] for m in c.get("/api/emails", params={"per_page": 200, "sort": sort}).json()["items"]]
        seen: list[int] = []
        params: dict[str, Any] = {"per_page": 7, "sort": sort}
        while True:
            page = c.get("/api/emails", params=params).json()
            seen.extend(m["id"] for m in page["items"])
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert seen == everything
    assert c.get("/api/emails", params={"cursor": "bm90IGEgY3Vyc29y"}).status_code == 400


@pytest.mark.parametrize("params", [
    {"level": "URGENT"}, {"kind": "bulk"}, {"sort": "random"}, {"page": 0}, {"per_page": 0},
    {"per_page": 1000}, {"needs_reply": "maybe"}, {"q": "x" * 600}, {"cursor": "c" * 600},
])
def test_bad_list_parameters_are_422(served: Served, params: dict[str, Any]) -> None:
    c, _ = served.login()
    r = c.get("/api/emails", params=params)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == next(iter(params))


def test_one_email_with_analysis_and_explanation(served: Served) -> None:
    c, _ = served.login()
    top = c.get("/api/emails", params={"per_page": 1}).json()["items"][0]
    e = c.get(f"/api/emails/{top['id']}").json()
    assert e["subject"] == top["subject"]
    assert e["priority"]["score"] == top["score"] and e["priority"]["level"] == top["level"]
    total = sum(f["points"] for f in e["priority"]["factors"])
    assert min(100, max(0, total)) == pytest.approx(top["score"], abs=1)  # the score is clamped 0..100
    assert e["analysis"]["text"] and isinstance(e["analysis"]["entities"], list)
    assert c.get("/api/emails/999999").status_code == 404
    assert c.get("/api/emails/abc").status_code == 404  # no such path: ids are numbers


def test_hostile_html_body_is_sanitised_and_locked_down(served: Served) -> None:
    c, _ = served.login()
    hostile = c.get("/api/emails", params={"q": "statement", "per_page": 200}).json()["items"]
    email_id = next(m["id"] for m in hostile if m["subject"] == "Your account statement")
    r = c.get(f"/emails/{email_id}/body")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "img-src data:" in csp and "https:" not in csp
    body = r.text.lower().split("<body>", 1)[1]
    for bad in ("<script", "onerror", "onload", "javascript:", "data:text/html", "<form", "<style", "<link",
                "<meta", "<base", "position:fixed", "url(", "tracker.example.net"):
        assert bad not in body, bad
    page = c.get(f"/emails/{email_id}").text
    sandbox = page.split('sandbox="')[1].split('"')[0].split()
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    allowed = c.get(f"/emails/{email_id}/body", params={"images": 1})
    assert "img-src data: https: http:" in allowed.headers["content-security-policy"]
    assert "tracker.example.net/pixel.gif" in allowed.text
    assert "<script" not in allowed.text.lower().split("<body>", 1)[1]


# -- jobs and SSE --------------------------------------------------------------------------------
def test_import_by_path_and_job_status(served: Served) -> None:
    c, h = served.login()
    source = cpython_email_dir() / "msg_02.txt"
    r = c.post("/api/jobs/import", json={"path": str(source), "account": "api-path"}, headers=h)
    assert r.status_code == 202
    job = wait_job(c, r.json()["run_id"])
    assert job["kind"] == "import" and job["status"] == "done"
    assert job["summary"]["imported"] == 1 and job["percent"] == 100.0
    assert any(j["id"] == job["id"] for j in c.get("/api/jobs").json())
    accounts = {a["name"]: a for a in c.get("/api/accounts").json()}
    assert accounts["api-path"]["emails"] == 1 and accounts["demo"]["emails"] >= 41


def test_import_bad_input(served: Served, tmp_path: Path) -> None:
    c, h = served.login()
    assert c.post("/api/jobs/import", json={"path": str(tmp_path / "missing.mbox")}, headers=h).status_code == 400
    assert c.post("/api/jobs/import", json={"account": "x"}, headers=h).status_code == 422
    assert c.post("/api/jobs/import", json={"path": ""}, headers=h).status_code == 422
    empty = c.post("/api/jobs/import/upload", files={"file": ("empty.eml", b"")}, headers=h)
    assert empty.status_code == 400
    assert c.post("/api/jobs/import/upload", headers=h).status_code == 422
    assert c.get("/api/jobs/999999").status_code == 404
    assert c.get("/api/jobs", params={"limit": 0}).status_code == 422


def test_upload_import_then_analyse_it(served: Served) -> None:
    c, h = served.login()
    raw = (cpython_email_dir() / "msg_01.txt").read_bytes()
    r = c.post("/api/jobs/import/upload", params={"account": "uploads"}, files={"file": ("m.eml", raw)}, headers=h)
    assert r.status_code == 202
    assert wait_job(c, r.json()["run_id"])["summary"]["imported"] == 1
    assert c.get("/api/emails").json()["pending_analysis"] >= 1
    r = c.post("/api/jobs/analyze", headers=h)
    assert r.status_code == 202
    job = wait_job(c, r.json()["run_id"], timeout=240)
    assert job["kind"] == "analyze" and job["status"] == "done" and job["done"] >= 1
    assert c.get("/api/emails").json()["pending_analysis"] == 0
    assert not list((served.settings.data_dir / "uploads").iterdir())  # temp upload removed


def _sse(c: TestClient, url: str, headers: dict[str, str] | None = None) -> list[dict[str, str]]:
    events, current = [], {}
    with c.stream("GET", url, headers=headers or {}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if "event" in current or "data" in current:
                    events.append(current)
                current = {}
                continue
            key, _, value = line.partition(":")
            current[key] = value.strip()
    return events


def test_sse_streams_progress_and_resumes_after_last_event_id(served: Served) -> None:
    c, h = served.login()
    idle = c.post("/api/jobs/analyze", headers=h)  # everything analysed: no run, nothing recorded
    assert (idle.status_code, idle.json()) == (200, {"status": "nothing_to_do",
                                                     "detail": "nothing to analyse: every email has its analysis"})
    r = c.post("/api/jobs/import", json={"path": str(cpython_email_dir() / "msg_03.txt"), "account": "sse"},
               headers=h)
    run_id = r.json()["run_id"]
    wait_job(c, run_id)
    first = _sse(c, f"/api/jobs/{run_id}/events")
    with_ids = [e for e in first if "id" in e]
    assert with_ids and with_ids[0]["event"] == "run_start" and with_ids[-1]["event"] == "run_end"
    status = json.loads(next(e for e in first if e["event"] == "status")["data"])
    assert status["status"] == "done" and status["percent"] == 100.0
    assert first[-1]["event"] == "end"
    # Resume after the first event: only later events come again.
    resumed = _sse(c, f"/api/jobs/{run_id}/events", {"Last-Event-ID": with_ids[0]["id"]})
    assert [e["id"] for e in resumed if "id" in e] == [e["id"] for e in with_ids[1:]]
    everything_seen = _sse(c, f"/api/jobs/{run_id}/events", {"Last-Event-ID": with_ids[-1]["id"]})
    assert [e for e in everything_seen if "id" in e] == []
    assert c.get(f"/api/jobs/{run_id}/events", headers={"Last-Event-ID": "abc"}).status_code == 400
    assert c.get("/api/jobs/999999/events").status_code == 404


def test_analysis_run_events_are_per_email(served: Served) -> None:
    c, h = served.login()
    c.post("/api/jobs/import", json={"path": str(cpython_email_dir() / "msg_04.txt"), "account": "sse2"}, headers=h)
    time.sleep(0.5)
    run_id = c.post("/api/jobs/analyze", headers=h).json()["run_id"]
    events = _sse(c, f"/api/jobs/{run_id}/events")
    types = [e["event"] for e in events if "id" in e]
    assert types[0] == "run_start" and types[-1] == "run_end"
    done = [json.loads(e["data"]) for e in events if e.get("event") == "email_done"]
    assert len(done) == json.loads(events[-1]["data"])["done"] >= 1
    assert all({"email_id", "done", "total", "rate"} <= set(d) for d in done)


# -- settings ------------------------------------------------------------------------------------
def test_settings_read_and_change(bare: Served) -> None:
    c, h = bare.login()
    s = c.get("/api/settings").json()
    assert s["vip_senders"] == ["priya.shah@example.com"] and s["nlp_mode"] == "pool"
    r = c.patch("/api/settings", json={"priority_high": 70, "batch_size": 8, "memory_budget": "1.5G",
                                       "vip_senders": ["Boss@Example.com"]}, headers=h)
    assert r.status_code == 200, r.text
    got = c.get("/api/settings").json()
    assert got["priority_high"] == 70 and got["batch_size"] == 8
    assert got["memory_budget"] == int(1.5 * 2**30) and got["vip_senders"] == ["boss@example.com"]


@pytest.mark.parametrize(("body", "field"), [
    ({"own_addresses": ["not an address"]}, "own_addresses"),
    ({"vip_senders": "a@b.com"}, "vip_senders"),
    ({"priority_high": 101}, "priority_high"),
    ({"priority_medium": -1}, "priority_medium"),
    ({"batch_size": 0}, "batch_size"),
    ({"nlp_mode": "gpu"}, "nlp_mode"),
    ({"memory_budget": "10M"}, "memory_budget"),
    ({"memory_budget": "lots"}, "memory_budget"),
    ({"spacy_model": "xx_not_installed"}, "spacy_model"),
    ({"workers": 10_000}, "workers"),  # editable by an admin, within bounds
    ({"sync_interval": 1}, "sync_interval"),  # not editable here at all
])
def test_bad_settings_are_422_with_the_field(bare: Served, body: dict[str, Any], field: str) -> None:
    c, h = bare.login()
    r = c.patch("/api/settings", json=body, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][1] == field
    assert c.get("/api/settings").json()["batch_size"] == 5  # nothing stored


def test_thresholds_must_stay_ordered(bare: Served) -> None:
    c, h = bare.login()
    r = c.patch("/api/settings", json={"priority_high": 25}, headers=h)
    assert r.status_code == 422 and "above MEDIUM" in r.json()["detail"]


def test_engine_endpoint_without_engine(bare: Served) -> None:
    c, h = bare.login()
    assert c.get("/api/engine").json()["available"] is False
    assert c.post("/api/jobs/analyze", headers=h).status_code == 503


def test_engine_status_and_metrics(served: Served) -> None:
    c, _ = served.login()
    e = c.get("/api/engine").json()
    assert e["available"] and e["status"]["mode"] == "pool"
    m = e["metrics"]
    assert m["budget"] > 0 and m["main_rss"] > 0 and m["history"]
    point = m["history"][-1]
    assert list(point) == ["timestamp", "main_rss", "workers", "total_pss", "engine_rss", "zygote_rss"]
    # The plot's worker lines are keyed by pid, as a string (JSON's keys are strings).
    assert point["workers"] and all(k.isdigit() and isinstance(v, int) for k, v in point["workers"].items())
    assert isinstance(point["timestamp"], float) and all(isinstance(point[k], int) for k in list(point)[3:])


# -- operations, headers, logs -------------------------------------------------------------------
def test_health_ready_and_metrics_without_login(served: Served) -> None:
    c = served.client()
    assert c.get("/healthz").json() == {"status": "ok"}
    ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "engine": "ok"}
    c2, _ = served.login()
    c2.get("/api/emails")
    text = c.get("/metrics").text
    for name in ("beacon_main_rss_bytes", "beacon_worker_rss_bytes{", "beacon_memory_budget_bytes",
                 'beacon_analyses{level="HIGH"}', "beacon_analysis_jobs{", 'beacon_runs{kind="analyze"',
                 "beacon_engine_queue_depth", "beacon_worker_recycles", "beacon_worker_kills",
                 "process_resident_memory_bytes", 'beacon_http_request_duration_seconds_count{method="GET",route="/api/emails"'):
        assert name in text, name


def test_security_headers(served: Served) -> None:
    r = served.client().get("/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert "http://" not in r.text and "https://" not in r.text  # no CDN


def test_requests_are_logged_with_memory_but_without_email_text(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    c, _ = served.login()
    top = c.get("/api/emails", params={"per_page": 1}).json()["items"][0]
    detail = c.get(f"/api/emails/{top['id']}").json()
    with caplog.at_level(logging.INFO):
        c.get("/api/emails", params={"q": "migration"})
        c.get(f"/api/emails/{top['id']}")
        c.get(f"/emails/{top['id']}")
    records = [r for r in caplog.records if r.name == "beacon.web.requests"]
    assert len(records) == 3
    assert all(r.rss_before > 0 and r.rss_after > 0 and r.duration_ms >= 0 for r in records)
    # Everything the server logged (the test client's own httpx log lines are not the server's).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("beacon", "uvicorn")))
    assert "migration" not in logged
    assert detail["subject"] not in logged
    for sentence in detail["analysis"]["summary"]:
        assert sentence not in logged


def test_add_imap_account_from_the_ui(bare: Served) -> None:
    from beacon.store.schema import Account

    c, _ = bare.login()
    form = {"name": "work", "host": "93.184.216.34", "security": "tls", "port": "", "user": "alex",
            "password": "s3cret-imap-pass", "folders": "INBOX\nLists", "archive_folder": " Old mail ",
            "csrf_token": form_token(c, "/jobs")}
    assert 'name="archive_folder"' in c.get("/jobs").text
    r = c.post("/accounts/imap", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    with bare.db.session() as s:
        acc = s.query(Account).filter_by(name="work").one()
        assert (acc.kind, acc.imap_host, acc.imap_port, acc.folders) == ("imap", "93.184.216.34", 993, ["INBOX", "Lists"])
        assert acc.imap_archive_folder == "Old mail"
        assert b"s3cret-imap-pass" not in (acc.password_encrypted or b"")
    listed = {a["name"]: a for a in c.get("/api/accounts").json()}
    assert listed["work"]["imap_host"] == "93.184.216.34" and "password" not in str(listed["work"])
    # Saved again with the field left empty: no configured folder (the server's \Archive, or a keyword).
    again = c.post("/accounts/imap", data={**form, "archive_folder": "", "csrf_token": form_token(c, "/jobs")},
                   follow_redirects=False)
    assert again.status_code == 303
    with bare.db.session() as s:
        assert s.query(Account).filter_by(name="work").one().imap_archive_folder is None
    missing = c.post("/accounts/imap", data={**form, "name": "w2", "host": "", "csrf_token": form_token(c, "/jobs")})
    assert missing.status_code == 422  # a required field left empty: refused by the form's schema
    bad = c.post("/accounts/imap", data={**form, "name": "w2", "security": "ssl3", "csrf_token": form_token(c, "/jobs")})
    assert bad.status_code == 400 and "security must be one of tls, starttls, none" in bad.text
