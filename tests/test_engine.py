"""The engine with the real model and real processes: same results in every mode, spaCy stays
out of the main process, a run writes exactly one analysis per email, a run whose workers cannot
start fails, and a restarted executor watches its workers again."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import text

from beacon.engine.analyzer import make_analyzer
from beacon.engine.executor import ExecutorState
from beacon.engine.modes import make_executor
from beacon.engine.service import EngineService
from beacon.models import Email
from beacon.parse import parse_message
from beacon.store.db import Database
from beacon.store.schema import Run
from tests.helpers import engine_settings, import_corpus, outcome, spamassassin_files


def _emails(n: int) -> list[Email]:
    return [parse_message(p.read_bytes()).email for p in spamassassin_files(n, "hard-ham-1")]


def test_three_modes_give_identical_results(tmp_path: Path) -> None:
    emails = _emails(12)
    results = {}
    for mode in ("inprocess", "oneshot", "pool"):
        settings = engine_settings(tmp_path, Database(f"sqlite:///{tmp_path}/x.db"), nlp_mode=mode)
        with make_analyzer(settings) as analyzer:
            results[mode] = [a.model_dump(mode="json") for a in analyzer.analyze(emails)]
    assert len(results["pool"]) == 12
    assert any(a["entities"] for a in results["pool"])  # real NLP happened
    assert results["inprocess"] == results["oneshot"] == results["pool"]


_PROBE = textwrap.dedent(
    """
    import json, sys
    from beacon.settings import Settings
    from beacon.store.db import Database
    from beacon.engine.service import EngineService
    settings = Settings(**json.loads(sys.stdin.read()))
    with EngineService(settings, Database(settings.database_url)) as svc:
        queued = svc.enqueue_missing()
        summary = svc.run()
    print(json.dumps({"queued": queued, "done": summary.done, "spacy": "spacy" in sys.modules,
                      "thinc": any(m.startswith("thinc") for m in sys.modules)}))
    """
)


def _probe(tmp_path: Path, db: Database, mode: str) -> dict:
    settings = engine_settings(tmp_path, db, nlp_mode=mode)
    out = subprocess.run([sys.executable, "-c", _PROBE], input=settings.model_dump_json(),
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _forget_analyses(db: Database) -> None:
    with db.session() as s:
        s.execute(text("delete from analyses"))
        s.execute(text("delete from analysis_jobs"))


def test_main_process_never_imports_spacy_outside_inprocess(sqlite_db: Database, tmp_path: Path) -> None:
    import_corpus(sqlite_db, tmp_path, 9)
    pool = _probe(tmp_path, sqlite_db, "pool")
    assert pool == {"queued": 9, "done": 9, "spacy": False, "thinc": False}
    # The same probe sees spaCy when it really is loaded in-process, so the check can fail.
    _forget_analyses(sqlite_db)
    oneshot = _probe(tmp_path, sqlite_db, "oneshot")
    assert oneshot == {"queued": 9, "done": 9, "spacy": False, "thinc": False}
    _forget_analyses(sqlite_db)
    inproc = _probe(tmp_path, sqlite_db, "inprocess")
    assert inproc["spacy"] is True and inproc["done"] == 9


def test_run_analyses_each_email_once_and_emits_events(any_db: Database, tmp_path: Path) -> None:
    n = import_corpus(any_db, tmp_path, 14)
    events = []
    with EngineService(engine_settings(tmp_path, any_db, nlp_mode="pool"), any_db) as svc:
        assert svc.enqueue_missing() == n
        summary = svc.run(on_event=events.append)
        assert svc.enqueue_missing() == 0  # everything analysed at this version
        metrics = svc.metrics()
        status = svc.status()
    assert (summary.status, summary.done, summary.quarantined) == ("done", n, 0)
    assert outcome(any_db) == {"emails": n, "analyses": n, "analysed": n, "done": n,
                               "quarantined": 0, "pending": 0, "running": 0}
    done_events = [e for e in events if e.type == "email_done"]
    assert len(done_events) == n and done_events[-1].data["done"] == n
    assert [e.id for e in events] == sorted(e.id for e in events)  # SSE ids increase
    assert events[0].type == "run_start" and events[-1].type == "run_end"
    assert metrics.done == n and metrics.main_rss > 0 and metrics.history
    assert len(metrics.workers) == 2 and all(w.uss > 0 for w in metrics.workers)
    assert status.jobs["done"] == n and status.last_run["status"] == "done"


def test_a_run_whose_workers_cannot_start_ends_failed(sqlite_db: Database, tmp_path: Path) -> None:
    import_corpus(sqlite_db, tmp_path, 1)
    settings = engine_settings(tmp_path, sqlite_db, nlp_mode="oneshot", spacy_model="no_such_model_xyz")
    with EngineService(settings, sqlite_db) as svc:
        svc.enqueue_missing()
        run_id = svc.start_run_in_background()
        assert svc.wait(timeout=120)
    with sqlite_db.session() as s:
        run = s.get(Run, run_id)
        assert (run.status, run.done, run.failed) == ("failed", 0, 0)
        assert run.error is not None and "exited while starting" in run.error
    assert outcome(sqlite_db)["pending"] == 1  # handed back for the next run


def test_a_restarted_executor_watches_its_workers_again(sqlite_db: Database, tmp_path: Path) -> None:
    executor = make_executor(engine_settings(tmp_path, sqlite_db, nlp_mode="pool", workers=1))
    for _ in range(2):
        executor.start()
        assert executor.state is ExecutorState.RUNNING
        assert executor.monitor.running  # type: ignore[attr-defined]
        assert len(executor.metrics().workers) == 1
        executor.stop()
        assert executor.state is ExecutorState.STOPPED and not executor.monitor.running  # type: ignore[attr-defined]
        assert executor.metrics().workers == []
