"""Two users side by side in a real browser: each sees only their own mail and jobs, the other's
email page is a 404, and only the admin has the Users page and the engine settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from playwright.sync_api import Browser, Page, expect

from tests.browser.helpers import Server, login, shot
from testkit.corpora import cpython_email_dir

BOB_PASSWORD = "bob's long password"
BOB_MESSAGE = "msg_05.txt"  # not in the demo mailbox, nor among the other browser tests' extras


def _add_bob(server: Server) -> None:
    env = {**os.environ, "BEACON_DATA_DIR": str(server.data_dir), "BEACON_DATABASE_URL": ""}
    r = subprocess.run([sys.executable, "-m", "beacon.cli.main", "user", "add", "bob", "--password", BOB_PASSWORD],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def _login_bob(page: Page, server: Server) -> None:
    page.goto(server.url + "/login")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", BOB_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")


def test_two_users_see_only_their_own_mail(browser: Browser, server: Server, page: Page) -> None:
    _add_bob(server)
    login(page, server)  # the demo user, the admin
    demo_items = page.request.get(server.url + "/api/emails?per_page=200").json()["items"]
    demo_email = demo_items[0]["id"]

    bob_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    bob = bob_ctx.new_page()
    try:
        _login_bob(bob, server)
        expect(bob.locator("#inbox li")).to_have_count(0)  # nothing of the demo user's
        expect(bob.locator("nav a", has_text="Users")).to_have_count(0)
        bob.goto(server.url + "/jobs")
        expect(bob.locator("input[name=path]")).to_have_count(0)  # uploads only
        bob.set_input_files("#import-file", str(cpython_email_dir() / BOB_MESSAGE))
        bob.click("#start-import")
        expect(bob).to_have_url(re.compile(r"/jobs/\d+$"))
        expect(bob.locator("#job-status")).to_have_text("done", timeout=60_000)
        bob.goto(server.url + "/jobs")
        bob.click("#start-analysis")
        expect(bob).to_have_url(re.compile(r"/jobs/\d+$"))
        expect(bob.locator("#job-status")).to_have_text("done", timeout=120_000)
        bob.goto(server.url + "/")
        expect(bob.locator("#inbox li")).to_have_count(1)
        bob_email = int(bob.locator("#inbox li").first.get_attribute("data-id") or 0)
        shot(bob, "20-second-user-inbox")

        # Each other's email: a 404 page, in the page and through the API.
        response = bob.goto(server.url + f"/emails/{demo_email}")
        assert response is not None and response.status == 404
        expect(bob.locator("body")).to_contain_text("404")
        assert bob.request.get(server.url + f"/api/emails/{demo_email}").status == 404
        assert bob.goto(server.url + "/admin/users").status == 403
        bob.goto(server.url + "/settings")
        expect(bob.locator("#engine-settings")).to_have_count(0)
        response = page.goto(server.url + f"/emails/{bob_email}")
        assert response is not None and response.status == 404
        assert bob_email not in {m["id"] for m in page.request.get(server.url + "/api/emails?per_page=200").json()["items"]}

        # The admin's page lists both, and the admin alone sees the engine settings.
        page.goto(server.url + "/admin/users")
        expect(page.locator("#users tr[data-user=bob]")).to_contain_text("user")
        page.goto(server.url + "/settings")
        expect(page.locator("#engine-settings")).to_be_visible()
        shot(page, "21-admin-users")
    finally:
        bob_ctx.close()
