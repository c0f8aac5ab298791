"""Regressions from the web code review: stored settings, SSE connections, blocking handlers,
session revocation, login limits, import paths and the smaller fixes. Same fixtures as the
API tests (real SQLite store, real argon2 users); no analysis engine unless a test needs one."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from beacon.store.schema import AppSetting
from beacon.web.deps import CSRF_HEADER
from tests.test_web_api import PASSWORD, Served, _make, _form_token


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Served]:
    srv, lifespan_client = _make(tmp_path, engine=False)
    with lifespan_client:
        yield srv
    srv.db.dispose()


def _store(srv: Served, key: str, value: Any) -> None:
    with srv.db.session() as s:
        row = s.get(AppSetting, key)
        if row is None:
            s.add(AppSetting(key=key, value=value))
        else:
            row.value = value


# -- 3. a bad stored setting is skipped, not fatal -----------------------------------------------
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
    # Installation is checked when a model is chosen, not on every read (that took pages down).
    assert s["spacy_model"] == "xx_model_since_uninstalled"
    assert s["batch_size"] == bare.settings.batch_size  # a malformed value: skipped
    assert s["priority_high"] == 75  # the valid override still applies
    assert "batch_size='many'" in caplog.text


# -- 4. inprocess is environment-only -------------------------------------------------------------
def test_inprocess_mode_cannot_be_set_from_the_web(bare: Served) -> None:
    c, h = bare.login()
    r = c.patch("/api/settings", json={"nlp_mode": "inprocess"}, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][1] == "nlp_mode" and "BEACON_NLP_MODE" in r.json()["detail"][0]["msg"]
    form = c.post("/settings", data={"nlp_mode": "inprocess", "csrf_token": _form_token(c, "/settings")})
    assert form.status_code == 422 and "BEACON_NLP_MODE" in form.text
    assert 'value="inprocess"' not in c.get("/settings").text
    _store(bare, "nlp_mode", "inprocess")  # stored by an older version: ignored
    assert c.get("/api/settings").json()["nlp_mode"] == "pool"
