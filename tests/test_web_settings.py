"""Settings changed from the web: a bad stored value is skipped (not fatal), ``inprocess`` is
environment-only, and saving an engine setting answers at once while the engine restarts in
the background, the old engine stopped before the new one starts."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from beacon.engine.service import EngineService
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import AppSetting
from beacon.web.app import create_app
from beacon.web.auth import create_user
from tests.helpers import PASSWORD, Served, form_token


def _store(srv: Served, key: str, value: Any) -> None:
    with srv.db.session() as s:
        row = s.get(AppSetting, key)
        if row is None:
            s.add(AppSetting(key=key, value=value))
        else:
            row.value = value


def test_invalid_stored_setting_is_skipped_with_a_warning(bare: Served, caplog: pytest.LogCaptureFixture) -> None:
    c, _ = bare.login()
    _store(bare, "spacy_model", "xx_model_since_uninstalled")
    _store(bare, "batch_size", "many")
    _store(bare, "priority_high", 75)
    with caplog.at_level(logging.WARNING, logger="beacon.store.app_settings"):
        got = c.get("/api/settings")
        assert got.status_code == 200, got.text
        assert c.get("/settings").status_code == 200 and c.get("/").status_code == 200
    s = got.json()
    # A model no longer installed: the environment's applies (the engine could not start).
    assert s["spacy_model"] == bare.settings.spacy_model
    assert s["batch_size"] == bare.settings.batch_size  # a malformed value: skipped
    assert s["priority_high"] == 75  # the valid override still applies
    assert "batch_size='many'" in caplog.text


def test_inprocess_mode_cannot_be_set_from_the_web(bare: Served) -> None:
    c, h = bare.login()
    r = c.patch("/api/settings", json={"nlp_mode": "inprocess"}, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][1] == "nlp_mode" and "BEACON_NLP_MODE" in r.json()["detail"][0]["msg"]
    form = c.post("/settings", data={"nlp_mode": "inprocess", "csrf_token": form_token(c, "/settings")})
    assert form.status_code == 422 and "BEACON_NLP_MODE" in form.text
    assert 'value="inprocess"' not in c.get("/settings").text
    _store(bare, "nlp_mode", "inprocess")  # stored by an older version: ignored
    assert c.get("/api/settings").json()["nlp_mode"] == "pool"


class SlowToStop:
    """The real engine, whose stop() waits for ``release`` (as stopping mid-batch can take minutes)."""

    def __init__(self, settings: Settings, db: Database, release: threading.Event, log: list[str]) -> None:
        self.inner, self.release, self.log = EngineService(settings, db), release, log
        self.settings = settings

    def stop(self, grace: float | None = None) -> None:
        self.log.append(f"stopping batch={self.settings.batch_size}")
        self.release.wait(10)
        self.inner.stop(grace)
        self.log.append(f"stopped batch={self.settings.batch_size}")

    def start(self) -> None:
        self.log.append(f"starting batch={self.settings.batch_size}")
        self.inner.start()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_settings_form_returns_before_the_engine_restart_finishes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'b.db'}",
                        workers=1, sync_interval=0, nlp_mode="oneshot")
    db = Database(settings.database_url_resolved)
    db.migrate()
    with db.session() as s:
        create_user(s, "alice", PASSWORD)
    release, log = threading.Event(), []
    app = create_app(settings, db, engine_factory=lambda st, d: SlowToStop(st, d, release, log))
    host = app.state.beacon.engine
    srv = Served(app, db, settings)
    with TestClient(app) as lifespan:
        c, _ = srv.login(lifespan)
        first = host.service
        r = c.post("/settings", data={"batch_size": "7", "csrf_token": form_token(c, "/settings")})
        assert r.status_code == 200 and "Settings saved." in r.text
        assert not release.is_set() and "stopped batch=5" not in log  # answered while the old engine stops
        assert c.get("/healthz").status_code == 200
        release.set()
        host.settled(10)
        assert host.service is not first and host.service.settings.batch_size == 7
        assert log == ["starting batch=5", "stopping batch=5", "stopped batch=5", "starting batch=7"]
    assert log[-2:] == ["stopping batch=7", "stopped batch=7"]  # the lifespan's end stops the new one
    db.dispose()
