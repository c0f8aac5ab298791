"""The web UI in a real browser (Debian's chromium, headless) against a real ``beacon serve``.

Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import mailbox
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.helpers import Server, Watch, login, shot
from testkit.corpora import cpython_email_dir

# CPython's own test messages: real, varied mail that the demo mailbox does not contain.
EXTRA_MESSAGES = ("msg_01.txt", "msg_02.txt", "msg_03.txt", "msg_04.txt", "msg_06.txt", "msg_10.txt", "msg_16.txt")


def api(page: Page, path: str) -> dict:
    r = page.request.get(_base(page) + path)
    assert r.ok, f"{path}: {r.status} {r.text()[:200]}"
    return r.json()


def _base(page: Page) -> str:
    m = re.match(r"https?://[^/]+", page.url)
    assert m
    return m.group(0)


def test_login_is_required_and_works(page: Page, server: Server) -> None:
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".alert.error")).to_contain_text("Wrong username or password")
    shot(page, "01-login-failed")
    login(page, server)
    expect(page.locator("h1")).to_contain_text("Inbox")
    cookie = next(c for c in page.context.cookies() if c["name"] == "beacon_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_inbox_in_priority_order(logged_in: Page, server: Server) -> None:
    page = logged_in
    items = page.locator("#inbox li")
    expect(items.first).to_be_visible()
    scores = [int(s) for s in items.evaluate_all("els => els.map(e => e.dataset.score)")]
    # The inbox lists conversations: the API's threads=1 view.
    listed = api(page, "/api/emails?per_page=200&threads=1")
    assert len(scores) == min(listed["total"], 50) and listed["total"] >= 30
    assert scores == sorted(scores, reverse=True)
    assert [int(i) for i in items.evaluate_all("els => els.map(e => e.dataset.id)")] == [
        m["id"] for m in listed["items"][: len(scores)]
    ]
    assert items.first.get_attribute("data-level") == "HIGH"
    shot(page, "02-inbox")


def test_filter_by_level_and_kind(logged_in: Page) -> None:
    page = logged_in
    page.select_option("select[name=level]", "HIGH")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"level=HIGH"))
    levels = page.locator("#inbox li").evaluate_all("els => els.map(e => e.dataset.level)")
    assert levels and set(levels) == {"HIGH"}
    assert len(levels) == api(page, "/api/emails?level=HIGH&threads=1")["total"]
    shot(page, "03-filter-high")

    # A kind that some but not all demo mail has: the filter must narrow the list to it.
    everything = api(page, "/api/emails?threads=1")["total"]
    totals = {k: api(page, f"/api/emails?kind={k}&threads=1")["total"]
              for k in ("notification", "newsletter", "marketing", "spam")}
    kind = max(totals, key=totals.get)
    assert 0 < totals[kind] < everything
    page.goto(_base(page) + "/")
    page.select_option("select[name=kind]", kind)
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(rf"kind={kind}"))
    expect(page.locator("#inbox li")).to_have_count(totals[kind])
    expect(page.locator("#inbox li .tags")).to_contain_text([kind] * totals[kind])


def test_search(logged_in: Page) -> None:
    page = logged_in
    top = api(page, "/api/emails?per_page=1")["items"][0]
    word = max(re.findall(r"[A-Za-z]{5,}", top["subject"]), key=len)
    page.fill("input[name=q]", word)
    page.press("input[name=q]", "Enter")
    expect(page).to_have_url(re.compile(rf"q={word}"))
    ids = [int(i) for i in page.locator("#inbox li").evaluate_all("els => els.map(e => e.dataset.id)")]
    assert top["id"] in ids
    total = api(page, "/api/emails")["total"]
    assert 0 < len(ids) < total
    for email_id in ids:
        e = api(page, f"/api/emails/{email_id}")
        haystack = " ".join([e["subject"], e["text"], *(a["name"] + " " + a["address"] for a in e["from"])])
        assert word.lower() in haystack.lower()
    shot(page, "04-search")


def test_search_with_operators_shows_marked_snippets(logged_in: Page) -> None:
    page = logged_in
    everything = api(page, "/api/emails?per_page=200")["items"]
    top = next(m for m in everything if m["from_addr"] and re.search(r"[A-Za-z]{5,}", m["summary"] or ""))
    word = max(re.findall(r"[A-Za-z]{5,}", top["summary"]), key=len)
    query = f'from:{top["from_addr"]} {word} -zzqxnotaword'
    page.fill("input[name=q]", query)
    page.press("input[name=q]", "Enter")
    expect(page.locator("h1")).to_contain_text("by relevance")
    ids = [int(i) for i in page.locator("#inbox li").evaluate_all("els => els.map(e => e.dataset.id)")]
    assert top["id"] in ids
    assert all(m["from_addr"] == top["from_addr"] for m in everything if m["id"] in ids)
    marks = page.locator("#inbox li .snippet mark").all_inner_texts()
    assert marks and {m.lower() for m in marks} == {word.lower()}
    shot(page, "04b-search-operators")
    # The help lists the operators; a malformed query says what is wrong and keeps the form.
    page.locator("#search-help summary").click()
    expect(page.locator("#search-help pre")).to_contain_text("has:attachment")
    page.fill("input[name=q]", 'subject:"unclosed')
    page.press("input[name=q]", "Enter")
    expect(page.locator("#search-error")).to_contain_text("unclosed quote")
    expect(page.locator("input[name=q]")).to_have_value('subject:"unclosed')
    shot(page, "04c-search-error")


def test_email_shows_explanation_and_action_items(logged_in: Page) -> None:
    page = logged_in
    listed = api(page, "/api/emails?per_page=200&threads=1")["items"]  # the rows the inbox shows
    target = next(m for m in listed if m["action_items"] > 0 and m["due"])
    detail = api(page, f"/api/emails/{target['id']}")
    page.click(f"#inbox li[data-id='{target['id']}'] a")
    expect(page.locator("h1")).to_have_text(detail["subject"])
    expect(page.locator(".sender")).to_contain_text(detail["from"][0]["address"])
    expect(page.locator("#action-items li")).to_have_count(len(detail["analysis"]["action_items"]))
    expect(page.locator("#action-items .due").first).to_contain_text("due")
    factors = detail["priority"]["factors"]
    expect(page.locator("#explanation tbody tr")).to_have_count(len(factors))
    expect(page.locator("#explanation h2")).to_contain_text(str(detail["priority"]["score"]))
    # Requests and entities are highlighted in the analysed text.
    assert page.locator("#analysed-text mark.hl-action").count() >= 1
    assert page.locator("#analysed-text mark.hl-entity").count() >= 1
    shot(page, "05-email")


def _mbox_of_real_mail(path: Path) -> Path:
    box = mailbox.mbox(str(path), create=True)
    for name in EXTRA_MESSAGES:
        box.add((cpython_email_dir() / name).read_bytes())
    box.flush()
    box.close()
    return path


def test_import_then_analysis_progress_reaches_100(logged_in: Page, tmp_path: Path) -> None:
    page = logged_in
    page.goto(_base(page) + "/jobs")
    page.set_input_files("#import-file", str(_mbox_of_real_mail(tmp_path / "extra.mbox")))
    page.fill("input[name=account]", "extra")
    page.click("#start-import")
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator("#job-status")).to_have_text("done", timeout=60_000)
    assert api(page, "/api/emails")["pending_analysis"] == len(EXTRA_MESSAGES)

    page.goto(_base(page) + "/jobs")
    page.click("#start-analysis")
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator("#job-percent")).to_have_text("100 %", timeout=120_000)
    expect(page.locator("#job-status")).to_have_text("done")
    expect(page.locator("#job-done")).to_have_text(str(len(EXTRA_MESSAGES)))
    expect(page.locator("#job-events li.ev-email_done")).to_have_count(len(EXTRA_MESSAGES))
    shot(page, "06-analysis-progress")
    assert api(page, "/api/emails")["pending_analysis"] == 0


def test_system_page_plots_memory(logged_in: Page) -> None:
    page = logged_in
    page.goto(_base(page) + "/system")
    legend = page.locator("#memory-legend li")
    # Each process under its own name: the engine runs in a process of its own by default,
    # and the plot's main line is the web process (not the engine process, as it once was).
    expect(legend.filter(has_text="web process")).to_have_count(1)
    expect(legend.filter(has_text="engine process")).to_have_count(1)
    expect(legend.filter(has_text="zygote")).to_have_count(1)
    expect(legend.filter(has_text="budget")).to_have_count(1)
    expect(legend.filter(has_text="worker")).not_to_have_count(0)
    # The canvas has really been drawn on: count non-transparent pixels.
    painted = page.evaluate(
        """() => { const c = document.getElementById('memory-plot');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
    )
    assert painted > 1000
    expect(page.locator("#sys-workers tbody tr")).not_to_have_count(0)
    shot(page, "07-system")


def test_hostile_html_cannot_run_script_or_load_remote(logged_in: Page, watch: Watch) -> None:
    page = logged_in
    hostile = api(page, "/api/emails?q=statement&per_page=200")["items"]
    target = next(m for m in hostile if m["subject"] == "Your account statement")
    page.goto(_base(page) + f"/emails/{target['id']}")
    frame_el = page.locator("iframe.mail-html")
    expect(frame_el).to_be_visible()
    sandbox = (frame_el.get_attribute("sandbox") or "").split()
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    frame = page.frame_locator("iframe.mail-html")
    expect(frame.locator("body")).to_contain_text("Your account statement for the period")
    # Links that were javascript:/data: lost their targets; clicking them does nothing.
    frame.get_by_text("View your statement", exact=True).click()
    frame.get_by_text("Secure message centre", exact=True).click()
    page.wait_for_timeout(1500)
    expect(page.locator("#images-blocked")).to_be_visible()
    shot(page, "08-hostile-blocked")
    assert watch.dialogs == []
    assert watch.remote_requests == []
    assert page.url.endswith(f"/emails/{target['id']}")
    body = page.request.get(_base(page) + f"/emails/{target['id']}/body")
    assert "default-src 'none'" in body.headers["content-security-policy"]
    html = body.text().lower().split("<body>", 1)[1]  # the email's part, after our own head
    for bad in ("<script", "onerror", "onload", "javascript:", "<form", "<style", "position:fixed", "tracker.example.net"):
        assert bad not in html, bad

    # Once the reader allows images, only images load remotely: still no script, CSS or forms.
    page.click("#images-blocked a")
    expect(page.locator("iframe.mail-html")).to_have_attribute("src", re.compile(r"images=1"))
    page.wait_for_timeout(1500)
    shot(page, "09-hostile-images-allowed")
    assert watch.dialogs == []
    assert watch.remote_requests, "allowing images should have requested the remote image"
    assert all(re.search(r"\.(gif|png|jpe?g)(\?|$)", u) for u in watch.remote_requests), watch.remote_requests


def test_settings_form_validates_and_saves(logged_in: Page) -> None:
    page = logged_in
    page.goto(_base(page) + "/settings")
    vip = page.locator("textarea[name=vip_senders]")
    expect(vip).to_have_value("priya.shah@example.com")
    vip.fill("priya.shah@example.com\nnot-an-address")
    page.fill("input[name=memory_budget]", "10M")
    page.click("#settings-form button[type=submit]")
    expect(page.locator(".field-error")).to_have_count(2)
    expect(page.locator(".field-error").first).to_contain_text("not-an-address")
    shot(page, "10-settings-errors")
    assert api(page, "/api/settings")["vip_senders"] == ["priya.shah@example.com"]

    vip.fill("priya.shah@example.com\nsam.whitfield@example.com")
    page.fill("input[name=memory_budget]", "1.5G")
    page.click("#settings-form button[type=submit]")
    expect(page.locator(".alert.ok")).to_contain_text("saved")
    saved = api(page, "/api/settings")
    assert saved["vip_senders"] == ["priya.shah@example.com", "sam.whitfield@example.com"]
    assert saved["memory_budget"] == int(1.5 * 2**30)
    shot(page, "11-settings-saved")
    page.goto(_base(page) + "/jobs")
    expect(page.locator("#accounts")).to_contain_text("demo")
    shot(page, "12-accounts-imports")
