"""Two users side by side: each sees only their own accounts, mail, analyses, jobs and personal
settings, through the API, the UI and the command line; every attempt at the other's answers
404 (it does not exist for them) or 403 (an admin's task). The admin manages users."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from beacon.store.schema import Account, AnalysisRow, EmailRow, User
from beacon.web.auth import create_user
from tests.helpers import PASSWORD, Served, form_token, make_served, wait_job
from testkit.corpora import cpython_email_dir

BOB_MAIL = (cpython_email_dir() / "msg_01.txt").read_bytes()


@dataclass
class Two:
    srv: Served
    alice: TestClient
    ah: dict[str, str]
    bob: TestClient
    bh: dict[str, str]
    bob_email: int
    alice_email: int
    bob_import: int
    alice_import: int


def _login(srv: Served, name: str) -> tuple[TestClient, dict[str, str]]:
    c = srv.client()
    r = c.post("/api/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c, {"X-CSRF-Token": r.json()["csrf_token"]}


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Two]:
    """alice (admin, the demo mailbox) and bob (a user with one email), both analysed by the
    real engine."""
    srv, lifespan = make_served(tmp_path_factory.mktemp("tenancy"), engine=True)
    with srv.db.session() as s:
        create_user(s, "bob", PASSWORD)
    with lifespan:
        alice, ah = srv.login(lifespan)
        bob, bh = _login(srv, "bob")
        r = bob.post("/api/jobs/import/upload", params={"account": "demo"}, files={"file": ("m.eml", BOB_MAIL)},
                     headers=bh)
        bob_import = wait_job(bob, r.json()["run_id"])
        assert bob_import["summary"]["imported"] == 1
        r = alice.post("/api/jobs/import/upload", files={"file": ("a.eml", (cpython_email_dir() / "msg_02.txt").read_bytes())},
                       headers=ah)
        alice_import = wait_job(alice, r.json()["run_id"])
        run = alice.post("/api/jobs/analyze", headers=ah).json()["run_id"]
        assert wait_job(alice, run, timeout=300)["status"] == "done"
        bob_email = bob.get("/api/emails").json()["items"][0]["id"]
        alice_email = alice.get("/api/emails").json()["items"][0]["id"]
        yield Two(srv, alice, ah, bob, bh, bob_email, alice_email, bob_import["id"], alice_import["id"])
    srv.db.dispose()


def test_each_user_lists_only_their_own_mail(two: Two) -> None:
    bobs = two.bob.get("/api/emails").json()
    alices = two.alice.get("/api/emails").json()
    assert bobs["total"] == 1 and [m["id"] for m in bobs["items"]] == [two.bob_email]
    assert alices["total"] >= 41 - 4 and two.bob_email not in {m["id"] for m in alices["items"]}
    with two.srv.db.session() as s:
        owners = {s.get(EmailRow, m["id"]).account.user_id for m in alices["items"]}
        bob_id = s.query(User).filter_by(username="bob").one().id
        assert owners == {1} and s.get(EmailRow, two.bob_email).account.user_id == bob_id
    # The same account name is each user's own account.
    assert {a["name"]: a["emails"] for a in two.bob.get("/api/accounts").json()} == {"demo": 1}
    assert two.alice.get("/api/accounts").json()[0]["emails"] >= 41
    assert two.bob.get("/api/emails", params={"q": "the"}).json()["total"] <= 1
    assert bobs["pending_analysis"] == 0


def test_search_pages_counts_and_categories_are_each_users_own(two: Two) -> None:
    # Both have an account "demo" and mail with "message" in it.
    for q in ("message", "account:demo", "zzz.org", "is:unread OR is:read"):
        bob = two.bob.get("/api/emails", params={"q": q}).json()
        assert [m["id"] for m in bob["items"]] == [two.bob_email] and bob["total"] == 1 and bob["total_exact"], q
        alice = two.alice.get("/api/emails", params={"q": q}).json()
        assert alice["total"] >= 1 and two.bob_email not in {m["id"] for m in alice["items"]}, q
    # Alice's cursor pages, one email at a time, never reach bob's.
    seen: list[int] = []
    params: dict[str, object] = {"per_page": 1, "sort": "oldest"}
    while True:
        page = two.alice.get("/api/emails", params=params).json()
        seen += [m["id"] for m in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == two.alice.get("/api/emails").json()["total"] and two.bob_email not in seen
    # The inbox page: the search box, its count and the category list are bob's alone.
    html = two.bob.get("/", params={"q": "message"}).text
    assert f'data-id="{two.bob_email}"' in html and f'data-id="{two.alice_email}"' not in html
    with two.srv.db.session() as s:
        bob_categories = set(s.scalars(select(AnalysisRow.category).where(AnalysisRow.email_id == two.bob_email)))
    options = set(re.findall(r'<option value="([^"]*)"', html.split('name="category"')[1].split("</select>")[0]))
    assert options - {""} == bob_categories - {""}


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_the_other_users_email_is_404_everywhere(two: Two, who: str) -> None:
    c = two.bob if who == "bob" else two.alice
    theirs = two.alice_email if who == "bob" else two.bob_email
    assert c.get(f"/api/emails/{theirs}").status_code == 404
    assert c.get(f"/emails/{theirs}", headers={"Accept": "text/html"}).status_code == 404
    assert c.get(f"/emails/{theirs}/body").status_code == 404
    own = two.bob_email if who == "bob" else two.alice_email
    assert c.get(f"/api/emails/{own}").status_code == 200


def test_jobs_are_private_and_the_shared_analysis_run_names_only_ones_own_mail(two: Two) -> None:
    bob_jobs = {j["id"]: j for j in two.bob.get("/api/jobs").json()}
    assert two.bob_import in bob_jobs and two.alice_import not in bob_jobs
    assert two.bob.get(f"/api/jobs/{two.alice_import}").status_code == 404
    assert two.bob.get(f"/api/jobs/{two.alice_import}/events").status_code == 404
    assert two.bob.get(f"/jobs/{two.alice_import}", headers={"Accept": "text/html"}).status_code == 404
    assert two.alice.get(f"/api/jobs/{two.bob_import}").status_code == 404
    analyze = next(j for j in bob_jobs.values() if j["kind"] == "analyze")
    with two.bob.stream("GET", f"/api/jobs/{analyze['id']}/events") as r:
        named = [json.loads(line[5:])["email_id"] for line in r.iter_lines()
                 if line.startswith("data:") and '"email_id"' in line]
    assert named == [two.bob_email]


def test_personal_settings_are_per_user_and_engine_settings_are_the_admins(two: Two) -> None:
    r = two.bob.patch("/api/settings", json={"vip_senders": ["boss@example.com"], "priority_high": 70}, headers=two.bh)
    assert r.status_code == 200 and r.json()["vip_senders"] == ["boss@example.com"]
    alice = two.alice.get("/api/settings").json()
    assert "boss@example.com" not in alice["vip_senders"] and alice["priority_high"] != 70
    for engine_wide in ({"batch_size": 3}, {"memory_budget": "1G"}, {"nlp_mode": "oneshot"}, {"workers": 2},
                        {"imap_allow_private_hosts": True}):
        assert two.bob.patch("/api/settings", json=engine_wide, headers=two.bh).status_code == 403
    assert 'id="engine-settings"' not in two.bob.get("/settings").text
    assert 'id="engine-settings"' in two.alice.get("/settings").text
    form = two.bob.post("/settings", data={"batch_size": "3", "csrf_token": form_token(two.bob, "/settings")})
    assert form.status_code == 403
    assert two.alice.patch("/api/settings", json={"batch_size": 4}, headers=two.ah).status_code == 200
    assert two.bob.get("/api/settings").json()["batch_size"] == 4  # engine-wide: the same for all


def test_personal_weights_rescore_only_ones_own_mail(two: Two) -> None:
    alice_before = {m["id"]: m["score"] for m in two.alice.get("/api/emails", params={"per_page": 200}).json()["items"]}
    bob_before = two.bob.get(f"/api/emails/{two.bob_email}").json()["priority"]["score"]
    r = two.bob.patch("/api/settings", json={"priority_weights": {"base": -100}}, headers=two.bh)
    assert r.status_code == 200, r.text
    assert two.bob.get(f"/api/emails/{two.bob_email}").json()["priority"]["score"] < bob_before or bob_before == 0
    assert two.alice.get("/api/settings").json().get("priority_weights", {}) == {}
    alice_after = {m["id"]: m["score"] for m in two.alice.get("/api/emails", params={"per_page": 200}).json()["items"]}
    assert alice_after == alice_before


def test_admin_pages_and_disk_imports_are_the_admins(two: Two) -> None:
    assert two.bob.get("/api/admin/users").status_code == 403
    assert two.bob.get("/admin/users", headers={"Accept": "text/html"}).status_code == 403
    assert "Users</a>" not in two.bob.get("/").text
    names = [u["username"] for u in two.alice.get("/api/admin/users").json()]
    assert names == ["alice", "bob"]
    path = str(cpython_email_dir() / "msg_03.txt")
    assert two.bob.post("/api/jobs/import", json={"path": path}, headers=two.bh).status_code == 403
    add = two.bob.post("/admin/users", data={"username": "eve", "password": PASSWORD,
                                             "csrf_token": form_token(two.bob, "/jobs")})
    assert add.status_code == 403


def test_admin_disables_promotes_and_deletes_users(tmp_path: Path) -> None:
    srv, lifespan = make_served(tmp_path, engine=False)
    with lifespan:
        admin, _ = srv.login(lifespan)
        token = form_token(admin, "/admin/users")
        assert admin.post("/admin/users", data={"username": "carol", "password": PASSWORD, "csrf_token": token},
                          follow_redirects=False).status_code == 303
        carol, ch = _login(srv, "carol")
        r = carol.post("/api/jobs/import/upload", files={"file": ("c.eml", BOB_MAIL)}, headers=ch)
        wait_job(carol, r.json()["run_id"])
        assert admin.post("/admin/users/carol/disable", data={"csrf_token": token}).status_code == 200
        assert carol.get("/api/me").status_code == 401  # her session ended at once
        assert srv.client().post("/api/login", json={"username": "carol", "password": PASSWORD}).status_code == 401
        assert admin.post("/admin/users/carol/enable", data={"csrf_token": token}).status_code == 200
        carol, _ = _login(srv, "carol")
        assert admin.post("/admin/users/carol/promote", data={"csrf_token": token}).status_code == 200
        assert carol.get("/api/admin/users").status_code == 200
        # The last admin cannot be demoted, disabled or deleted away.
        assert admin.post("/admin/users/carol/demote", data={"csrf_token": token}).status_code == 200
        refused = admin.post("/admin/users/alice/demote", data={"csrf_token": token})
        assert refused.status_code == 400 and "last active admin" in refused.text
        with srv.db.session() as s:
            carol_id = s.query(User).filter_by(username="carol").one().id
            assert s.query(Account).filter_by(user_id=carol_id).count() == 1
        assert admin.post("/admin/users/carol/delete", data={"csrf_token": token}).status_code == 200
        with srv.db.session() as s:
            assert s.query(User).filter_by(username="carol").count() == 0
            assert s.query(Account).filter_by(user_id=carol_id).count() == 0
            assert s.query(EmailRow).join(Account).filter(Account.user_id == carol_id).count() == 0
    srv.db.dispose()


# -- the command line ------------------------------------------------------------------------------
def _cli(srv: Served, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BEACON_DATA_DIR": str(srv.settings.data_dir),
           "BEACON_DATABASE_URL": srv.settings.database_url_resolved}
    env.pop("BEACON_USER", None)
    return subprocess.run([sys.executable, "-m", "beacon.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_side_by_side(two: Two) -> None:
    bob = json.loads(_cli(two.srv, "--user", "bob", "inbox", "--json").stdout)
    assert [m["id"] for m in bob] == [two.bob_email]
    alice = json.loads(_cli(two.srv, "--user", "alice", "inbox", "--json").stdout)
    assert len(alice) >= 41 - 4 and two.bob_email not in {m["id"] for m in alice}
    ambiguous = _cli(two.srv, "inbox", "--json")
    assert ambiguous.returncode == 2 and "--user" in ambiguous.stderr
    other = _cli(two.srv, "--user", "bob", "show", str(two.alice_email))
    assert other.returncode == 2 and "no email" in other.stderr
    assert _cli(two.srv, "--user", "bob", "show", str(two.bob_email)).returncode == 0
    assert _cli(two.srv, "--user", "nobody", "inbox").returncode == 2
    listed = json.loads(_cli(two.srv, "user", "list", "--json").stdout)
    assert [(u["username"], u["admin"]) for u in listed] == [("alice", True), ("bob", False)]
    # Search, inbox -q, account: and reindex: --user's mail alone.
    for args in (("search", "message"), ("inbox", "-q", "message"), ("search", "account:demo")):
        bobs = json.loads(_cli(two.srv, "--user", "bob", *args, "--json").stdout)
        assert [m["id"] for m in bobs] == [two.bob_email], args
        alices = json.loads(_cli(two.srv, "--user", "alice", *args, "--json").stdout)
        assert alices and two.bob_email not in {m["id"] for m in alices}, args
    assert _cli(two.srv, "search", "message").returncode == 2  # whose? --user
    table = _cli(two.srv, "--user", "bob", "search", "message")
    assert table.returncode == 0 and "1 found" in table.stdout
    mine = _cli(two.srv, "--user", "bob", "reindex")
    assert mine.returncode == 0 and "Indexed 1 emails of bob's" in mine.stdout
    everyone = _cli(two.srv, "reindex")  # system work: no user needed
    assert everyone.returncode == 0 and re.search(r"Indexed (\d+) emails", everyone.stdout)
    assert json.loads(_cli(two.srv, "--user", "bob", "search", "message", "--json").stdout)[0]["id"] == two.bob_email


def test_cli_user_management(tmp_path: Path) -> None:
    srv, _ = make_served(tmp_path, engine=False)
    assert _cli(srv, "user", "add", "dave", "--password", PASSWORD).returncode == 0
    assert _cli(srv, "user", "promote", "dave").returncode == 0
    assert _cli(srv, "user", "disable", "dave").returncode == 0
    listed = {u["username"]: u for u in json.loads(_cli(srv, "user", "list", "--json").stdout)}
    assert listed["dave"]["admin"] and listed["dave"]["disabled"]
    assert _cli(srv, "user", "enable", "dave").returncode == 0
    assert _cli(srv, "user", "demote", "dave").returncode == 0
    last = _cli(srv, "user", "demote", "alice")
    assert last.returncode == 2 and "last active admin" in last.stderr
    assert _cli(srv, "user", "delete", "dave", "--yes").returncode == 0
    assert _cli(srv, "user", "delete", "dave", "--yes").returncode == 2
    assert [u["username"] for u in json.loads(_cli(srv, "user", "list", "--json").stdout)] == ["alice"]
    srv.db.dispose()
