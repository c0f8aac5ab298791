"""Helpers shared by the test files (fixtures live in ``conftest.py``).

- real mail into a real store, and the exactly-once bookkeeping of a run (``outcome``);
- :class:`FakeExecutor`: the executor interface without processes or spaCy, answering each
  batch with a function of the test's choosing (like httpx's ``MockTransport``), so the job
  runner's rules run in milliseconds;
- the web app under a test client (:class:`Served`).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from beacon.analysis.models import Analysis, Sentiment
from beacon.analysis.version import pipeline_version
from beacon.engine.executor import Batch, BatchResult, ExecutorBase
from beacon.engine.metrics import EngineMetrics, MetricsRecorder
from beacon.errors import EngineUnavailable
from beacon.ingest.importer import import_items
from beacon.ingest.sources import RawItem, detect
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import AnalysisJob, AnalysisRow, EmailRow
from beacon.web.auth import create_user
from beacon.web.deps import CSRF_HEADER
from testkit import faults
from testkit.corpora import cpython_email_dir, iter_files, spamassassin_dir

# -- real mail in a real store -----------------------------------------------------------------


def spamassassin_files(n: int, folder: str = "easy-ham-1") -> list[Path]:
    files = list(iter_files(spamassassin_dir() / folder, "*.txt"))
    assert len(files) >= n
    return files[:n]


def poison_message(fault: str) -> bytes:
    return (
        f"From: Mallory <mallory@example.org>\nTo: reader@example.com\nSubject: poison {fault}\n"
        f"Message-ID: <poison-{fault}@example.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n"
        f"Hello, this one is special: {faults.MARKER}{fault} - please do not analyse it.\n"
    ).encode()


def import_corpus(db: Database, tmp: Path, n: int, faults: tuple[str, ...] = ()) -> int:
    """Import ``n`` SpamAssassin messages (plus one poison message per fault); return count."""
    mail = tmp / "mail"
    mail.mkdir()
    for i, path in enumerate(spamassassin_files(n)):
        shutil.copy(path, mail / f"{i:05d}.eml")
    for fault in faults:
        (mail / f"zz-poison-{fault}.eml").write_bytes(poison_message(fault))
    summary = import_items(db, detect(mail).iter_items(), account="test")
    assert summary.failed == 0
    return summary.imported


def synthetic_message(i: int, body: str = "", subject: str | None = None) -> bytes:
    """A plain message, distinct per ``i``; its text is ``body`` (default: a short sentence)."""
    return (
        f"From: Sender {i} <sender{i}@example.org>\nTo: reader@example.com\n"
        f"Subject: {subject or f'message {i}'}\nMessage-ID: <m{i}@example.org>\n"
        f"Date: Mon, 1 Jan 2024 10:{i % 60:02d}:00 +0000\n\n{body or f'Hello, this is message {i}.'}\n"
    ).encode()


def store_messages(db: Database, raws: list[bytes], account: str = "test", user_id: int | None = None) -> list[int]:
    """Import ``raws`` (in order) into ``user_id``'s account; the stored emails' ids, in order."""
    summary = import_items(db, [RawItem(f"m{i}", raw) for i, raw in enumerate(raws)], account=account,
                           user_id=user_id)
    assert summary.imported == len(raws)
    with db.session() as s:
        return list(s.scalars(select(EmailRow.id).order_by(EmailRow.id)))[-len(raws):]


def engine_settings(tmp: Path, db: Database, *, with_faults: bool = False, **kw: object) -> Settings:
    """Two workers over ``db``; ``with_faults``: workers act on the poison-mail markers."""
    base: dict[str, object] = dict(data_dir=tmp / "data", database_url=db.url, workers=2, batch_timeout=60.0)
    if with_faults:
        base["analysis_loader"] = faults.LOADER
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


def outcome(db: Database) -> dict[str, int]:
    """Exactly-once bookkeeping: emails, analyses, distinct analysed emails, job states."""
    with db.session() as s:
        emails = s.scalar(select(func.count(EmailRow.id)))
        analyses = s.scalar(select(func.count(AnalysisRow.id)))
        analysed = s.scalar(select(func.count(func.distinct(AnalysisRow.email_id))))
        by_status = dict(s.execute(select(AnalysisJob.status, func.count()).group_by(AnalysisJob.status)).all())
    return {"emails": emails, "analyses": analyses, "analysed": analysed,
            "done": by_status.get("done", 0), "quarantined": by_status.get("quarantined", 0),
            "pending": by_status.get("pending", 0), "running": by_status.get("running", 0)}


# -- the executor interface without processes --------------------------------------------------

Handler = Callable[[Batch], list[dict[str, Any]]]


def fake_analysis(email: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A valid Analysis JSON for one Email JSON, made without NLP."""
    text = email.get("new_text") or email.get("text") or email.get("subject") or ""
    return Analysis(
        pipeline_version=pipeline_version(settings), model="fake", text=text[: settings.max_text_chars],
        text_source="new_text", sentiment=Sentiment(compound=0.0, positive=0.0, neutral=1.0, negative=0.0,
                                                    label="neutral"),
        kind="personal", category="fake", summary=[f"fake analysis of {email.get('subject', '')}"],
    ).model_dump(mode="json")


class FakeExecutor(ExecutorBase):
    """Runs every batch through ``handler``: its return value is the batch's analyses, and
    what it raises (``BatchFailed``, ``EngineError``) the batch's failure. ``batches`` records
    what was submitted. With ``gate`` set, batches are answered on threads of their own once
    the test sets the gate (to act while batches are in flight); otherwise at once."""

    mode = "fake"

    def __init__(self, handler: Handler, recorder: MetricsRecorder | None = None, *, slots: int = 2,
                 max_chars: int = 1_000_000, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.handler = handler
        self.recorder = recorder or MetricsRecorder()
        self.slots = slots
        self.max_chars = max_chars
        self.gate = gate
        self.batches: list[Batch] = []
        self.starts = 0

    def _start(self) -> None:
        self.starts += 1

    def _stop(self) -> None:
        pass

    def submit(self, batch: Batch) -> Future[BatchResult]:
        fut: Future[BatchResult] = Future()
        with self._cond:
            accepting = self._accepting()
        if not accepting:
            fut.set_exception(EngineUnavailable(f"the engine is {self.state}"))
            return fut
        self.batches.append(batch)
        if self.gate is not None:
            threading.Thread(target=self._answer, args=(batch, fut), daemon=True).start()
        else:
            self._answer(batch, fut)
        return fut

    def _answer(self, batch: Batch, fut: Future[BatchResult]) -> None:
        if self.gate is not None:
            self.gate.wait(30)
        try:
            fut.set_result(BatchResult(self.handler(batch), worker=4242, elapsed=0.001))
        except BaseException as exc:  # noqa: BLE001 - the batch's failure, as a real executor reports it
            fut.set_exception(exc)

    def capacity(self) -> int:
        return self.slots * 2

    def max_batch_chars(self) -> int:
        return self.max_chars

    def metrics(self) -> EngineMetrics:
        recycles, kills, done, quarantined, retried, peak, history = self.recorder.counters()
        return EngineMetrics(
            mode=self.mode, start_method="none", budget=0, budget_source="none", worker_hard_limit=0,
            worker_soft_limit=0, main_rss=0, main_uss=0, helper_pss=0, total_pss=0, peak_total_pss=peak,
            workers=[], recycles=recycles, kills=kills, queue_depth=0, in_flight=0, done=done,
            quarantined=quarantined, retried=retried, throughput=0.0, bytes_per_char=0.0, history=history,
        )


# -- the web app -----------------------------------------------------------------------------

PASSWORD = "correct horse battery"


@dataclass
class Served:
    app: Any
    db: Database
    settings: Settings

    def client(self) -> TestClient:
        return TestClient(self.app)

    def login(self, client: TestClient | None = None, username: str = "alice") -> tuple[TestClient, dict[str, str]]:
        c = client or self.client()
        r = c.post("/api/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return c, {CSRF_HEADER: r.json()["csrf_token"]}


def make_served(tmp: Path, *, engine: bool, **settings_kw: Any) -> tuple[Served, TestClient]:
    """The demo mailbox imported, user ``alice``; the app (with the real engine factory when
    ``engine``, and ``settings_kw`` as settings) and a client whose ``with`` block runs the
    app's lifespan."""
    from beacon.engine.service import EngineService
    from beacon.web.app import create_app
    from beacon.web.runtime import setup_demo

    # Admins may import by path from the stdlib's test mail and the test's own "mail" folder.
    (tmp / "mail").mkdir(exist_ok=True)
    settings = Settings(data_dir=tmp / "data", database_url=f"sqlite:///{tmp / 'beacon.db'}",
                        workers=1, sync_interval=0, import_roots=[cpython_email_dir(), tmp / "mail"],
                        **settings_kw)
    db = Database(settings.database_url_resolved)
    db.migrate()
    setup_demo(db, settings)
    with db.session() as s:
        create_user(s, "alice", PASSWORD)
    app = create_app(settings, db, engine_factory=EngineService if engine else None)
    return Served(app, db, settings), TestClient(app)


def wait_job(c: TestClient, run_id: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{run_id}").json()
        if job["status"] != "running":
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {run_id} still running after {timeout}s")


def form_token(c: TestClient, path: str) -> str:
    return c.get(path).text.split('name="csrf_token" value="')[1].split('"')[0]


def assert_table_migrates(db: Database, table: str, down_to: str) -> None:
    """The migrated ``table`` is what the schema declares; downgrading to ``down_to`` drops it."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect as sa_inspect

    from beacon.store.schema import Base

    with db.sql_engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if table in repr(d)] == []
    command.downgrade(db.alembic_config(), down_to)
    assert table not in sa_inspect(db.sql_engine).get_table_names()


@contextmanager
def statements_sent(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The (statement, parameters) ``db`` sends within the block, in order."""
    sent: list[tuple[str, Any]] = []

    def keep(conn: object, cursor: object, statement: str, params: Any, context: object, many: bool) -> None:
        sent.append((statement, params))

    event.listen(db.sql_engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        event.remove(db.sql_engine, "before_cursor_execute", keep)
