"""Engine behaviours found in review: live scoring settings, failed runs, restartable watchdog."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from beacon.engine.service import EngineService
from beacon.store.analyses import load_scored
from beacon.store.app_settings import SettingsUpdate, apply_update
from beacon.store.db import Database
from beacon.store.schema import AnalysisRow, EmailRow, Run
from test_engine_support import engine_settings, import_corpus


def test_runs_score_with_the_settings_in_force_now(sqlite_db: Database, tmp_path: Path) -> None:
    import_corpus(sqlite_db, tmp_path, 3)
    settings = engine_settings(tmp_path, sqlite_db, nlp_mode="inprocess")
    with sqlite_db.session() as s:
        senders = [r.from_addr for r in s.scalars(select(EmailRow).order_by(EmailRow.id))]
        # Changed in the web UI after the engine was built from the environment's settings.
        apply_update(s, settings, SettingsUpdate(vip_senders=[senders[0]]))
    with EngineService(settings, sqlite_db) as svc:
        svc.enqueue_missing()
        summary = svc.run()
    assert summary.done == 3
    with sqlite_db.session() as s:
        rows = {e.from_addr: load_scored(a) for a, e in s.execute(
            select(AnalysisRow, EmailRow).join(EmailRow, EmailRow.id == AnalysisRow.email_id))}
    vip = [name for name in (f.name for f in rows[senders[0]].priority.factors)]
    assert "vip" in vip


def test_a_run_whose_engine_cannot_start_ends_failed(sqlite_db: Database, tmp_path: Path) -> None:
    import_corpus(sqlite_db, tmp_path, 1)
    settings = engine_settings(tmp_path, sqlite_db, nlp_mode="oneshot", spacy_model="no_such_model_xyz")
    with EngineService(settings, sqlite_db) as svc:
        svc.enqueue_missing()
        run_id = svc.start_run_in_background()
        assert svc.wait(timeout=120)
    with sqlite_db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None and run.status != "running"


def test_watchdog_runs_again_after_a_restart(sqlite_db: Database, tmp_path: Path) -> None:
    settings = engine_settings(tmp_path, sqlite_db, nlp_mode="pool", workers=1)
    svc = EngineService(settings, sqlite_db)
    svc.start()
    svc.stop()
    svc.start()
    try:
        monitor = svc.engine.monitor  # type: ignore[attr-defined]
        assert monitor._thread is not None and monitor._thread.is_alive()
    finally:
        svc.stop()
