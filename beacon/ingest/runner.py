"""Imports in the background (the web app's): a thread per import, recorded as a run.

Progress goes to the run's events (throttled), so the SSE stream, the job-status API and a
client that reconnects later all read the same durable record (:mod:`beacon.store.runs`).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from beacon.engine.memory import rss
from beacon.errors import SourceError
from beacon.ingest.importer import ImportSummary, import_items
from beacon.ingest.sources import RawItem, Source, detect
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.owner import make_owner
from beacon.store.runs import RunKind, RunRecorder, RunStatus

__all__ = ["ImportRunner"]

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.5  # seconds between progress events


class ImportRunner:
    def __init__(self, db: Database, settings: Settings | None = None) -> None:
        self.db = db
        self.settings = settings  # the environment's (own addresses for reply detection)
        # Recorded in each run, so a later start can tell which runs died with this process.
        self.owner = make_owner()
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, path: Path, account: str, *, cleanup: Path | None = None, within: Path | None = None,
              user_id: int | None = None) -> int:
        """Start importing ``path`` into ``account``; returns the run id at once.

        Working out what ``path`` is and counting its messages can mean walking a large
        directory, so that happens in the import thread; a path that turns out not to be
        importable makes a failed run. ``cleanup`` is a directory to delete afterwards (an
        uploaded file's temp dir); ``within`` the import root symbolic links must stay in;
        ``user_id`` the user whose account receives the mail (and who sees the run).
        """
        params = {"path": str(path) if cleanup is None else path.name, "account": account}
        run = RunRecorder.start(self.db, RunKind.IMPORT, self.owner, params=params, user_id=user_id)
        t = threading.Thread(target=self._run, args=(run, path, account, cleanup, within, user_id),
                             name=f"import-{run.run_id}", daemon=True)
        with self._lock:
            self._threads = {k: v for k, v in self._threads.items() if v.is_alive()}
            self._threads[run.run_id] = t
        t.start()
        return run.run_id

    def running(self) -> int:
        with self._lock:
            return sum(1 for t in self._threads.values() if t.is_alive())

    def _run(self, run: RunRecorder, path: Path, account: str, cleanup: Path | None, within: Path | None,
             user_id: int | None) -> None:
        try:
            try:
                source = detect(str(path), str(within) if within is not None else None)
            except SourceError as exc:
                run.finish(RunStatus.FAILED, error=str(exc))
                return
            with self.db.session() as s:
                run.update(s, total=source.total if source.unit != "bytes" else 0, params={"source": source.kind})
            self._import(run, source, account, user_id)
        finally:
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)

    def _import(self, run: RunRecorder, source: Source, account: str, user_id: int | None) -> None:
        started = time.monotonic()
        last = 0.0
        rss_before = rss()
        log.info("import run %s started: %s, rss=%.1f MiB", run.run_id, source.kind, rss_before / 2**20)

        def on_item(item: RawItem, summary: ImportSummary) -> None:
            nonlocal last
            if item.raw is None and not item.skipped:
                run.event("message_failed", {"ref": item.ref, "reason": item.error or "unreadable"})
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY:
                last = now
                run.progress(done=summary.seen - summary.failed, failed=summary.failed,
                             data=_counts(summary, started))

        try:
            summary = import_items(self.db, source.iter_items(), account=account, on_item=on_item, user_id=user_id,
                                   settings=self.settings)
        except Exception as exc:  # noqa: BLE001 - the run records it; the server goes on
            log.exception("import run %s failed", run.run_id)
            run.finish(RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
            return
        counts = _counts(summary, started)
        run.finish(RunStatus.DONE, summary=counts, done=summary.seen - summary.failed, failed=summary.failed,
                   total=summary.seen)
        log.info("import run %s done: %s, rss %.1f -> %.1f MiB", run.run_id,
                 {k: counts[k] for k in ("seen", "imported", "duplicates", "failed")},
                 rss_before / 2**20, rss() / 2**20)


def _counts(s: ImportSummary, started: float) -> dict[str, Any]:
    elapsed = max(time.monotonic() - started, 1e-6)
    return {
        "seen": s.seen, "imported": s.imported, "duplicates": s.duplicates,
        "with_problems": s.with_problems, "skipped": s.skipped, "failed": s.failed,
        "rate": round(s.seen / elapsed, 1),
    }
