"""Small pure pieces of the web app: highlighting, sizes, sanitiser rules."""

from __future__ import annotations

import pytest

from beacon.web.highlight import Mark, segments
from beacon.web.login_guard import LoginBusy, LoginGuard, TooManyFailures
from beacon.settings import Settings, parse_size
from beacon.web.sanitize import sanitize_email_html


def test_overlapping_spans_become_marked_segments() -> None:
    text = "Please send the report to Priya by Friday."
    req, person, due = Mark("request", "request"), Mark("entity", "PERSON"), Mark("time", "deadline")
    segs = segments(text, [(0, len(text), req), (26, 31, person), (35, 41, due)])
    assert "".join(s.text for s in segs) == text
    assert [(s.text, s.marks) for s in segs] == [
        ("Please send the report to ", [req]), ("Priya", [req, person]), (" by ", [req]),
        ("Friday", [req, due]), (".", [req]),
    ]
    assert segs[1].css == "ent-person hl-entity hl-request"


def test_text_without_spans_is_one_plain_segment() -> None:
    (seg,) = segments("hello", [])
    assert seg.text == "hello" and seg.marks == [] and seg.css == ""


@pytest.mark.parametrize(("value", "expected"), [
    (0, 0), ("0", 0), ("512", 512), ("2G", 2 * 2**30), ("1.5GiB", int(1.5 * 2**30)), ("800MiB", 800 * 2**20),
    ("64 kb", 64 * 1024),
])
def test_parse_size(value: object, expected: int) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["lots", "2X", "", True, "-1G", -5])
def test_parse_size_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_size(value)


def test_sizes_in_the_environment_read_like_the_web_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEACON_MEMORY_BUDGET", "1.5G")
    monkeypatch.setenv("BEACON_UPLOAD_MAX_BYTES", "64MiB")
    monkeypatch.setenv("BEACON_WORKER_HARD_LIMIT", "300000000")
    s = Settings()
    assert (s.memory_budget, s.upload_max_bytes, s.worker_hard_limit) == (int(1.5 * 2**30), 64 * 2**20, 300_000_000)
    # Workers get their settings as JSON: plain numbers, read back the same.
    assert Settings(**s.model_dump(mode="json")).memory_budget == int(1.5 * 2**30)


def test_remote_images_are_counted_and_blocked_until_allowed() -> None:
    html = '<p>hi</p><img src="https://t.example/p.gif"><img src="//t.example/q.gif"><img src="data:image/png;base64,AAAA">'
    blocked = sanitize_email_html(html)
    assert blocked.remote_images == 2 and "t.example" not in blocked.html and "data:image/png" in blocked.html
    allowed = sanitize_email_html(html, allow_remote_images=True)
    assert "https://t.example/p.gif" in allowed.html


def test_cid_images_are_inlined_from_attachments() -> None:
    html = '<img src="cid:logo@x" alt="logo"><img src="cid:other@x">'
    safe = sanitize_email_html(html, cid=lambda c: ("image/png", b"\x89PNG") if c == "logo@x" else None)
    assert 'src="data:image/png;base64,iVBORw=="' in safe.html
    assert safe.html.count("src=") == 1


@pytest.mark.parametrize("attack", [
    '<a href="javascript:alert(1)">x</a>', '<a href=" JaVaScRiPt:alert(1)">x</a>', '<img src=x onerror=alert(1)>',
    '<svg onload=alert(1)></svg>', '<div style="background:url(https://t.example/x)">x</div>',
    '<p style="width: expression(alert(1))">x</p>', '<iframe src="https://t.example"></iframe>',
    '<object data="https://t.example/x.swf"></object>', '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<form action="https://t.example"><input></form>', '<math><mtext><script>alert(1)</script></mtext></math>',
    '<table background="https://t.example/bg.png"><tr><td>x</td></tr></table>',
    '<link rel=stylesheet href="https://t.example/s.css">', '<meta http-equiv=refresh content="0;url=https://t.example">',
])
def test_attacks_are_neutralised(attack: str) -> None:
    out = sanitize_email_html(attack).html.lower()
    for bad in ("javascript:", "onerror", "onload", "<script", "url(", "expression(", "<iframe", "<object",
                "data:text", "<form", "<input", "t.example", "<svg", "<link", "<meta"):
        assert bad not in out, (attack, out)


def test_login_guard_limits_concurrent_password_checks() -> None:
    guard = LoginGuard(concurrent=2, wait=0.05)
    with guard.slot(), guard.slot():
        with pytest.raises(LoginBusy):
            with guard.slot():
                pass
    with guard.slot():  # released again
        pass


def test_login_guard_window_slides() -> None:
    now = [1000.0]
    guard = LoginGuard(max_failures=3, max_user_failures=5, window=60, clock=lambda: now[0])
    for _ in range(3):
        guard.check("10.0.0.1", "alice")
        guard.failed("10.0.0.1", "alice")
    with pytest.raises(TooManyFailures) as exc:
        guard.check("10.0.0.1", "alice")
    assert 0 < exc.value.retry_after <= 61
    guard.check("10.0.0.2", "alice")  # other addresses are unaffected, below the user's limit
    guard.check("10.0.0.1", "bob")  # and so are other users from this address
    guard.succeeded("10.0.0.1", "bob")  # a success for bob does not clear alice's failures
    with pytest.raises(TooManyFailures):
        guard.check("10.0.0.1", "alice")
    for address in ("10.0.0.2", "10.0.0.3"):  # alice from many addresses: the per-user limit
        guard.failed(address, "alice")
    with pytest.raises(TooManyFailures):
        guard.check("10.0.0.9", "alice")
    now[0] += 61
    guard.check("10.0.0.1", "alice")


def test_each_beacon_error_has_one_http_status() -> None:
    from beacon import errors
    from beacon.web.app import http_status

    expected = {
        errors.NotFound("x"): 404, errors.InvalidInput("x"): 400, errors.SourceError("x"): 400,
        errors.UserError("x"): 400, errors.InvalidSettings("x"): 422, errors.UploadTooLarge("x"): 413,
        errors.TooManyFailures(30): 429, errors.LoginBusy("x"): 503, errors.AnalysisBusy(7): 409,
        errors.EngineUnavailable("x"): 503,
        # Not meant to reach a route: a server error if one does.
        errors.WorkerStartFailed("x"): 500, errors.ImapNetworkError("x"): 500, errors.SecretError("x"): 500,
    }
    assert {type(e).__name__: http_status(e) for e in expected} == {type(e).__name__: s for e, s in expected.items()}
