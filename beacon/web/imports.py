"""Import jobs started from the web: a background thread per import, recorded as a Run.

Progress goes to ``run_events`` (throttled), so the SSE stream, the job-status API and a
client that reconnects later all read the same durable record.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import update

from beacon.engine.memory import rss
from beacon.ingest.importer import ImportSummary, import_items
from beacon.ingest.sources import RawItem, Source, detect
from beacon.store.db import Database
from beacon.store.schema import Run, RunEvent

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.5  # seconds between progress events


def record_event(db: Database, run_id: int, type_: str, data: dict[str, Any], **run_fields: Any) -> None:
    with db.session() as s:
        s.add(RunEvent(run_id=run_id, type=type_, data=data))
        if run_fields:
            s.execute(update(Run).where(Run.id == run_id).values(**run_fields))


def mark_interrupted_imports(db: Database) -> int:
    """Imports that were running when the process stopped will never finish: say so."""
    with db.session() as s:
        res = s.execute(
            update(Run)
            .where(Run.kind == "import", Run.status == "running")
            .values(status="interrupted", finished_at=datetime.now(timezone.utc))
        )
        return res.rowcount or 0


class ImportJobs:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, path: Path, account: str, *, cleanup: Path | None = None) -> int:
        """Start importing ``path`` into ``account``; returns the run id.

        Raises ``SourceError`` (before any run exists) when the path is not importable.
        ``cleanup`` is a directory to delete afterwards (an uploaded file's temp dir).
        """
        source = detect(str(path))
        total = source.total if source.unit != "bytes" else 0
        with self.db.session() as s:
            run = Run(kind="import", status="running", total=total,
                      params={"path": str(path) if cleanup is None else path.name, "account": account,
                              "source": source.kind})
            s.add(run)
            s.flush()
            run_id = run.id
        t = threading.Thread(target=self._run, args=(run_id, source, account, cleanup),
                             name=f"import-{run_id}", daemon=True)
        with self._lock:
            self._threads = {k: v for k, v in self._threads.items() if v.is_alive()}
            self._threads[run_id] = t
        t.start()
        return run_id

    def running(self) -> int:
        with self._lock:
            return sum(1 for t in self._threads.values() if t.is_alive())

    def _run(self, run_id: int, source: Source, account: str, cleanup: Path | None) -> None:
        started = time.monotonic()
        last = 0.0
        rss_before = rss()
        log.info("import run %s started: %s, rss=%.1f MiB", run_id, source.kind, rss_before / 2**20)

        def on_item(item: RawItem, summary: ImportSummary) -> None:
            nonlocal last
            if item.raw is None and not item.skipped:
                record_event(self.db, run_id, "failed", {"ref": item.ref, "reason": item.error or "unreadable"})
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY:
                last = now
                record_event(self.db, run_id, "progress", _counts(summary, started),
                             done=summary.seen - summary.failed, failed=summary.failed)

        try:
            summary = import_items(self.db, source.iter_items(), account=account, on_item=on_item)
        except Exception as exc:  # noqa: BLE001 - the run records it; the server goes on
            log.exception("import run %s failed", run_id)
            record_event(self.db, run_id, "finished", {"status": "failed", "error": str(exc)[:500]},
                         status="failed", error=str(exc)[:2000], finished_at=datetime.now(timezone.utc))
        else:
            counts = _counts(summary, started)
            record_event(
                self.db, run_id, "finished", {"status": "done", **counts},
                status="done", done=summary.seen - summary.failed, failed=summary.failed,
                total=summary.seen, summary=counts, finished_at=datetime.now(timezone.utc),
            )
            log.info("import run %s done: %s, rss %.1f -> %.1f MiB", run_id,
                     {k: counts[k] for k in ("seen", "imported", "duplicates", "failed")},
                     rss_before / 2**20, rss() / 2**20)
        finally:
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)


def _counts(s: ImportSummary, started: float) -> dict[str, Any]:
    elapsed = max(time.monotonic() - started, 1e-6)
    return {
        "seen": s.seen, "imported": s.imported, "duplicates": s.duplicates,
        "with_problems": s.with_problems, "skipped": s.skipped, "failed": s.failed,
        "rate": round(s.seen / elapsed, 1),
    }
