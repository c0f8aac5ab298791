"""A sync as a user-visible :class:`~beacon.store.schema.Run` with progress events.

Each write is its own short transaction so the web UI (SSE) sees progress while the sync
runs. The run records its owner process, so if the process dies mid-sync the next start marks
the run interrupted instead of leaving it "running".
"""

from __future__ import annotations

from typing import Any

from beacon.engine.owner import make_owner
from beacon.store.db import Database
from beacon.store.schema import Run, RunEvent, utcnow


class SyncRunLog:
    def __init__(self, db: Database, account: str) -> None:
        self._db = db
        with db.session() as s:
            run = Run(kind="sync", status="running", params={"account": account, "owner": make_owner()})
            s.add(run)
            s.flush()
            self.run_id = run.id

    def event(self, type_: str, **data: Any) -> None:
        with self._db.session() as s:
            s.add(RunEvent(run_id=self.run_id, type=type_, data=data))

    def progress(self, done: int, total: int, **data: Any) -> None:
        with self._db.session() as s:
            run = s.get(Run, self.run_id)
            if run is not None:
                run.done, run.total = done, total
            s.add(RunEvent(run_id=self.run_id, type="progress", data={"done": done, "total": total, **data}))

    def finish(self, status: str, summary: dict[str, Any], error: str | None = None) -> None:
        with self._db.session() as s:
            run = s.get(Run, self.run_id)
            if run is None:
                return
            run.status, run.summary, run.error = status, summary, error
            run.failed = int(summary.get("failed", 0))
            run.finished_at = utcnow()
            s.add(RunEvent(run_id=self.run_id, type=status, data={"error": error, **summary}))
