"""Imports from the server's disk: admins only, only below the import roots, never system
files, the data directory or symbolic links out of a root; uploads must be mail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from beacon.store.schema import EmailRow
from beacon.web.auth import create_user
from tests.helpers import PASSWORD, Served, form_token, make_served, wait_job
from testkit.corpora import cpython_email_dir
from sqlalchemy import func, select

MAIL = (cpython_email_dir() / "msg_02.txt").read_bytes()


def _login_as(srv: Served, username: str) -> tuple:
    c = srv.client()
    r = c.post("/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c, {"X-CSRF-Token": r.json()["csrf_token"]}


def _emails(srv: Served) -> int:
    with srv.db.session() as s:
        return s.scalar(select(func.count(EmailRow.id))) or 0


def test_only_admins_import_by_path(bare: Served, tmp_path: Path) -> None:
    (tmp_path / "mail" / "one.eml").write_bytes(MAIL)
    with bare.db.session() as s:
        create_user(s, "bob", PASSWORD)
    c, h = _login_as(bare, "bob")
    r = c.post("/api/jobs/import", json={"path": str(tmp_path / "mail" / "one.eml")}, headers=h)
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    assert 'name="path"' not in c.get("/jobs").text  # bob is offered uploads only
    form = c.post("/jobs/import", data={"path": str(tmp_path / "mail"), "csrf_token": form_token(c, "/jobs")})
    assert form.status_code == 403
    admin, ah = bare.login()
    assert 'name="path"' in admin.get("/jobs").text
    ok = admin.post("/api/jobs/import", json={"path": str(tmp_path / "mail" / "one.eml")}, headers=ah)
    assert ok.status_code == 202 and wait_job(admin, ok.json()["run_id"])["summary"]["imported"] == 1


def test_no_import_roots_means_upload_only(tmp_path: Path) -> None:
    srv, lifespan = make_served(tmp_path, engine=False)
    srv.app.state.beacon.roots = type(srv.app.state.beacon.roots)((), srv.app.state.beacon.roots.data_dir)
    (tmp_path / "mail" / "one.eml").write_bytes(MAIL)
    with lifespan:
        c, h = srv.login(lifespan)
        r = c.post("/api/jobs/import", json={"path": str(tmp_path / "mail" / "one.eml")}, headers=h)
        assert r.status_code == 403 and "BEACON_IMPORT_ROOTS" in r.json()["detail"]
        page = c.get("/jobs").text
        assert 'name="path"' not in page and 'id="import-file"' in page
    srv.db.dispose()


def test_roots_that_hold_system_trees_or_the_data_dir_are_ignored(tmp_path: Path) -> None:
    from beacon.ingest.roots import ImportRoots
    from beacon.settings import Settings

    data = tmp_path / "data"
    ok = tmp_path / "mail"
    ok.mkdir()
    roots = ImportRoots.from_settings(Settings(data_dir=data, import_roots=["/", "/proc", "/dev/shm", str(tmp_path),
                                                                           str(data / "x"), str(ok)]))
    assert roots.roots == (ok.resolve(),)
    assert Settings(data_dir=data, import_roots=f"{ok}:/srv/mail").import_roots == [ok, Path("/srv/mail")]


@pytest.mark.parametrize("target", ["/proc/self/environ", "/proc/self", "/sys/kernel", "/dev/zero", "DATA",
                                    "DATA/beacon.db", "OUTSIDE", "/etc/passwd"])
def test_paths_out_of_the_roots_are_refused_even_through_links(bare: Served, tmp_path: Path, target: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "one.eml").write_bytes(MAIL)
    target = target.replace("DATA", str(bare.settings.data_dir)).replace("OUTSIDE", str(outside))
    link = tmp_path / "mail" / "link"
    link.symlink_to(target)
    c, h = bare.login()
    for path in (target, str(link), str(tmp_path / "mail" / ".." / "outside")):
        r = c.post("/api/jobs/import", json={"path": path}, headers=h)
        assert r.status_code == 400, (path, r.text)
    assert c.get("/api/jobs").json() == []


def test_links_inside_a_folder_do_not_lead_out_of_the_root(bare: Served, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.eml").write_bytes(MAIL)
    tree = tmp_path / "mail" / "tree"
    tree.mkdir()
    (tree / "mine.eml").write_bytes((cpython_email_dir() / "msg_03.txt").read_bytes())
    (tree / "secret.eml").symlink_to(outside / "secret.eml")
    (tree / "env").symlink_to("/proc/self/environ")
    (tree / "inside.eml").symlink_to(tree / "mine.eml")  # a link within the root is fine
    c, h = bare.login()
    before = _emails(bare)
    r = c.post("/api/jobs/import", json={"path": str(tree), "account": "tree"}, headers=h)
    job = wait_job(c, r.json()["run_id"])
    assert job["status"] == "done", job
    assert job["summary"]["imported"] == 1 and job["summary"]["duplicates"] == 1 and job["summary"]["skipped"] == 2
    assert _emails(bare) == before + 1


def test_nul_in_a_path_is_422_never_500(bare: Served) -> None:
    c, h = bare.login()
    assert c.post("/api/jobs/import", json={"path": "/tmp/a\x00b"}, headers=h).status_code == 422
    form = c.post("/jobs/import", data={"path": "/tmp/a\x00b", "csrf_token": form_token(c, "/jobs")})
    assert form.status_code == 422


def test_an_upload_must_look_like_mail(bare: Served) -> None:
    c, h = bare.login()
    before = _emails(bare)
    environ = b"\0".join(f"{k}={v}".encode() for k, v in list(os.environ.items())[:20])
    for name, data in (("environ.eml", environ), ("passwd.eml", Path("/etc/passwd").read_bytes())):
        r = c.post("/api/jobs/import/upload", files={"file": (name, data)}, headers=h)
        job = wait_job(c, r.json()["run_id"])
        assert job["summary"]["imported"] == 0 and job["summary"]["skipped"] == 1, job
    assert _emails(bare) == before


def test_the_cli_stores_only_mail(tmp_path: Path) -> None:
    env = {**os.environ, "BEACON_DATA_DIR": str(tmp_path / "data"), "BEACON_DATABASE_URL": ""}
    r = subprocess.run([sys.executable, "-m", "beacon.cli.main", "import", "/etc/passwd"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert "not mail" in r.stdout + r.stderr
    from beacon.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'data' / 'beacon.db'}")
    with db.session() as s:
        assert s.scalar(select(func.count(EmailRow.id))) == 0
    db.dispose()
