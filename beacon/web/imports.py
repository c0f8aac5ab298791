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

from sqlalchemy import select, update

from beacon.engine.memory import rss
from beacon.engine.owner import make_owner, owner_is_dead
from beacon.ingest.importer import ImportSummary, import_items
from beacon.ingest.sources import RawItem, Source, SourceError, detect
from beacon.store.db import Database
from beacon.store.schema import Run, RunEvent

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.5  # seconds between progress events


def record_event(db: Database, run_id: int, type_: str, data: dict[str, Any], **run_fields: Any) -> None:
    with db.session() as s:
        s.add(RunEvent(run_id=run_id, type=type_, data=data))
        if run_fields:
            s.execute(update(Run).where(Run.id == run_id).values(**run_fields))


def mark_interrupted_runs(db: Database) -> int:
    """Runs of any kind still 'running' whose owner process is gone will never finish: say so.

    Only runs that record an owner (``host:pid:start:nonce``) are judged; another live
    server's runs, and runs on other hosts, are left alone.
    """
    n = 0
    with db.session() as s:
        for run in s.scalars(select(Run).where(Run.status == "running")):
            owner = (run.params or {}).get("owner")
            # Imports from before owners were recorded ran in a web process that has ended.
            if (owner and owner_is_dead(owner)) or (not owner and run.kind == "import"):
                run.status = "interrupted"
                run.finished_at = datetime.now(timezone.utc)
                n += 1
    return n


class ImportJobs:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Recorded in each run's params, so a later start can tell which runs died with us.
        self.owner = make_owner()
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, path: Path, account: str, *, cleanup: Path | None = None) -> int:
        """Start importing ``path`` into ``account``; returns the run id at once.

        Working out what ``path`` is and counting its messages can mean walking a large
        directory, so that happens in the import thread; a path that turns out not to be
        importable makes a failed run. ``cleanup`` is a directory to delete afterwards (an
        uploaded file's temp dir).
        """
        params = {"path": str(path) if cleanup is None else path.name, "account": account, "owner": self.owner}
        with self.db.session() as s:
            run = Run(kind="import", status="running", total=0, params=params)
            s.add(run)
            s.flush()
            run_id = run.id
        t = threading.Thread(target=self._run, args=(run_id, path, params, cleanup),
                             name=f"import-{run_id}", daemon=True)
        with self._lock:
            self._threads = {k: v for k, v in self._threads.items() if v.is_alive()}
            self._threads[run_id] = t
        t.start()
        return run_id

    def running(self) -> int:
        with self._lock:
            return sum(1 for t in self._threads.values() if t.is_alive())

    def _run(self, run_id: int, path: Path, params: dict[str, Any], cleanup: Path | None) -> None:
        try:
            source = detect(str(path))
        except SourceError as exc:
            record_event(self.db, run_id, "finished", {"status": "failed", "error": str(exc)[:500]},
                         status="failed", error=str(exc)[:2000], finished_at=datetime.now(timezone.utc))
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)
            return
        total = source.total if source.unit != "bytes" else 0
        with self.db.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(total=total, params={**params, "source": source.kind}))
        self._import(run_id, source, params["account"], cleanup)

    def _import(self, run_id: int, source: Source, account: str, cleanup: Path | None) -> None:
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
