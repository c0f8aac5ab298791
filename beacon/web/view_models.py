"""View models: store rows and engine state turned into the plain data that both the JSON API
and the templates show (no HTTP here, no templates)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from beacon.analysis.models import ScoredAnalysis
from beacon.engine.memory import rss
from beacon.engine.processes import process_table
from beacon.models import Email
from beacon.query.model import Text
from beacon.query.snippet import snippet
from beacon.store.analyses import load_scored
from beacon.store.runs import RunStatus
from beacon.store.schema import AnalysisRow, EmailRow, Run
from beacon.triage.models import EmailState, EmailStateOut

if TYPE_CHECKING:
    from beacon.engine.service import EngineService

__all__ = ["EmailView", "InboxItem", "RunView", "email_json", "engine_snapshot", "inbox_item", "run_view"]


class InboxItem(BaseModel):
    id: int
    subject: str
    from_name: str
    from_addr: str
    date: datetime
    score: int
    level: str
    kind: str
    category: str
    needs_reply: bool
    top_reason: str
    summary: str
    due: datetime | None
    action_items: int
    # Search results: a piece of the text around the words searched, and where they are in it.
    snippet: str | None = None
    highlights: list[tuple[int, int]] = []
    state: EmailStateOut  # what the reader made of it (done, snoozed, read, importance, replied)


def inbox_item(e: EmailRow, a: AnalysisRow, terms: list[Text] | None = None, state: EmailState = EmailState(),
               now: datetime | None = None) -> InboxItem:
    scored = load_scored(a)
    found = snippet((e.data or {}).get("text", ""), terms) if terms else None
    dues = [x.due for x in scored.analysis.action_items if x.due]
    return InboxItem(
        id=e.id, subject=e.subject, from_name=e.from_name, from_addr=e.from_addr, date=e.date,
        score=a.score, level=a.level, kind=a.kind, category=a.category, needs_reply=a.needs_reply,
        top_reason=scored.priority.top_reason,
        summary=scored.analysis.summary[0] if scored.analysis.summary else "",
        due=min(dues) if dues else None, action_items=len(scored.analysis.action_items),
        snippet=found.text if found else None, highlights=found.highlights if found else [],
        state=state.out(now or datetime.now(timezone.utc)),
    )


@dataclass(frozen=True)
class EmailView:
    row: EmailRow
    email: Email
    scored: ScoredAnalysis | None
    state: EmailState = EmailState()


def email_json(v: EmailView) -> dict[str, Any]:
    e = v.email
    return {
        "id": v.row.id,
        "message_id": e.message_id,
        "thread_id": e.thread_id,
        "subject": e.subject,
        "from": [a.model_dump() for a in e.from_],
        "to": [a.model_dump() for a in e.to],
        "cc": [a.model_dump() for a in e.cc],
        "date": e.date,
        "text": e.text,
        "new_text": e.new_text,
        "has_html": e.html is not None,
        "attachments": [a.model_dump() for a in e.attachments],
        "problems": [p.model_dump() for p in e.problems],
        "analysis": v.scored.analysis.model_dump(mode="json") if v.scored else None,
        "priority": v.scored.priority.model_dump(mode="json") if v.scored else None,
        "needs_reply": v.scored.needs_reply if v.scored else None,
        "state": v.state.out(datetime.now(timezone.utc)).model_dump(mode="json"),
    }


class RunView(BaseModel):
    """A run as the API calls it: a job (import, analysis or sync) with its progress."""

    id: int
    kind: str
    status: str
    total: int
    done: int
    failed: int
    percent: float
    rate: float  # items per second since the start
    params: dict[str, Any]
    summary: dict[str, Any]
    error: str | None
    started_at: datetime
    finished_at: datetime | None


def run_view(run: Run, now: datetime) -> RunView:
    end = run.finished_at or now
    started = run.started_at  # aware on every backend (store.schema.UTCDateTime)
    elapsed = max((end - started).total_seconds(), 1e-6)
    processed = run.done + run.failed
    if run.total:
        percent = min(100.0, 100.0 * processed / run.total)
    else:
        percent = 100.0 if run.status != RunStatus.RUNNING else 0.0
    return RunView(
        id=run.id, kind=run.kind, status=run.status, total=run.total, done=run.done,
        failed=run.failed, percent=round(percent, 1), rate=round(processed / elapsed, 2),
        params=run.params or {}, summary=run.summary or {}, error=run.error,
        started_at=run.started_at, finished_at=run.finished_at,
    )


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def engine_snapshot(service: EngineService | None, imports_running: int) -> dict[str, Any]:
    """Status and metrics of the engine (memory history included), or why there is none, and
    every process this server started (from the kernel's process tree: nothing hides)."""
    if service is None:
        return {"available": False, "main_rss": rss(), "imports_running": imports_running,
                "processes": [_plain(p) for p in process_table(set(), set())]}
    raw = service.metrics()
    processes = process_table({w.pid for w in raw.workers}, set(raw.zygotes))
    metrics = _plain(raw)
    # JSON object keys are strings; the plot wants the worker pids as keys anyway.
    for point in metrics.get("history", []):
        point["workers"] = {str(k): v for k, v in point.get("workers", {}).items()}
    return {
        "available": True,
        "status": _plain(service.status()),
        "metrics": metrics,
        "imports_running": imports_running,
        "processes": [_plain(p) for p in processes],
    }
