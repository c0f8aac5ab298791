"""Imports started from the web: dangerous paths refused before any run starts, unimportable
paths fail the run (not the request), uploads are size-limited and leave nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from beacon.store.schema import Run
from tests.helpers import Served, form_token, make_served, wait_job


@pytest.mark.parametrize("path", ["-", "relative/inbox.mbox", "/", "DATA", "DATA/secret.key", "DATA/../data"])
def test_import_refuses_dangerous_paths(bare: Served, path: str) -> None:
    c, h = bare.login()
    path = path.replace("DATA", str(bare.settings.data_dir))
    r = c.post("/api/jobs/import", json={"path": path}, headers=h)
    assert r.status_code == 400, r.text
    assert c.get("/api/jobs").json() == []  # no run was even started
    form = c.post("/jobs/import", data={"path": path, "csrf_token": form_token(c, "/jobs")})
    assert form.status_code == 400


def test_unimportable_path_fails_the_job_not_the_request(bare: Served, tmp_path: Path) -> None:
    fifo = tmp_path / "mail" / "a-fifo"
    os.mkfifo(fifo)
    c, h = bare.login()
    r = c.post("/api/jobs/import", json={"path": str(fifo)}, headers=h)
    assert r.status_code == 202  # examined in the import thread, not in the request
    job = wait_job(c, r.json()["run_id"])
    assert job["status"] == "failed" and "not a regular file" in job["error"]
    with bare.db.session() as s:
        assert s.get(Run, job["id"]).params["owner"]


def test_upload_too_large_is_413_and_leaves_nothing_behind(tmp_path: Path) -> None:
    srv, lifespan = make_served(tmp_path, engine=False)
    srv.settings.upload_max_bytes = 1000
    with lifespan:
        c, h = srv.login(lifespan)
        r = c.post("/api/jobs/import/upload", files={"file": ("big.mbox", b"From x\n" + b"a" * 2000)}, headers=h)
        assert r.status_code == 413 and "an upload may be at most" in r.json()["detail"]  # refused unread
        assert c.post("/api/jobs/import/upload", files={"file": ("empty.eml", b"")}, headers=h).status_code == 400
        assert not list((srv.settings.data_dir / "uploads").iterdir())
    srv.db.dispose()
