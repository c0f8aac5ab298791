"""View models: store rows and engine state turned into the plain data that both the JSON API
and the templates show (no HTTP here, no templates)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field, TypeAdapter

from beacon.analysis.models import ActionItem, ScoredAnalysis
from beacon.analysis.models import top_reason as reason_of
from beacon.engine.memory import rss
from beacon.engine.processes import ProcessTree, process_table
from beacon.models import Email
from beacon.query.model import Text
from beacon.query.snippet import snippet
from beacon.store.list_rows import ListRow
from beacon.store.runs import RunStatus
from beacon.store.schema import EmailRow, Run
from beacon.triage.models import EmailState, EmailStateOut
from beacon.triage.due import Due, DueStatus, due_at, due_of
from beacon.triage.threads import ThreadMessage

if TYPE_CHECKING:
    from beacon.engine.service import EngineService

__all__ = ["EmailView", "InboxItem", "RunView", "email_json", "engine_json", "inbox_item", "run_view",
           "thread_json"]


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
    due: datetime | None = Field(description="the deadline that matters now: the nearest one not yet past, "
                                             "else the latest past one")
    due_status: DueStatus | None = Field(None, description="the deadline judged at the time of the request")
    due_label: str | None = Field(None, description='e.g. "overdue 3 days (12 Nov)", "due today 17:00"')
    action_items: int
    thread_id: str
    thread_count: int | None = Field(None, description="messages in the conversation (with threads=1)")
    # Search results: a piece of the text around the words searched, and where they are in it.
    snippet: str | None = None
    highlights: list[tuple[int, int]] = []
    state: EmailStateOut  # what the reader made of it (done, snoozed, read, importance, replied)


def inbox_item(r: ListRow, terms: list[Text] | None = None, state: EmailState = EmailState(), *,
               now: datetime, thread_count: int | None = None) -> InboxItem:
    # Only the parts a list shows are read (beacon.store.list_rows) and validated: the whole
    # ScoredAnalysis (entities, spans, phrases) cost ~0.5 ms per row.
    # The factors as stored, unvalidated: validating a Priority per row was half the row's cost.
    top_reason = reason_of((f["name"], f["points"], f["detail"]) for f in r.factors or ())
    items = r.action_items or []
    due = due_of([_DUE.validate_python(x.get("due")) for x in items], r.date, now) \
        if any(x.get("due") for x in items) else None
    found = snippet(r.text or "", terms) if terms else None
    # Not validated again: every value is already of its field's type (typed columns, the
    # models above); validating 50 rows cost ~1.5 ms of a page's ~12.
    return InboxItem.model_construct(
        id=r.id, subject=r.subject, from_name=r.from_name, from_addr=r.from_addr, date=r.date,
        score=r.score, level=r.level, kind=r.kind, category=r.category, needs_reply=r.needs_reply,
        top_reason=top_reason, summary=r.summary or "",
        due=due.at if due else None, due_status=due.status if due else None, due_label=due.label if due else None,
        action_items=len(items), thread_id=r.thread_id, thread_count=thread_count,
        snippet=found.text if found else None, highlights=found.highlights if found else [],
        state=state.out(now),
    )


# An action item's due date as its model reads it (beacon.analysis.models.ActionItem.due).
_DUE: TypeAdapter[datetime | None] = TypeAdapter(ActionItem.model_fields["due"].annotation)


@dataclass(frozen=True)
class EmailView:
    row: EmailRow
    email: Email
    scored: ScoredAnalysis | None
    thread: list[ThreadMessage]  # the whole conversation, oldest first (this email included)
    now: datetime  # what deadlines are judged against
    state: EmailState = EmailState()

    @property
    def due(self) -> Due | None:
        return due_at(self.scored.analysis, self.row.date, self.now) if self.scored else None


def thread_json(v: EmailView) -> list[dict[str, Any]]:
    """The conversation of ``v`` as the API gives it: one entry per message, oldest first."""
    return [{
        "id": m.email.id, "subject": m.email.subject, "from_name": m.email.from_name, "from_addr": m.email.from_addr,
        "date": m.email.date, "score": m.analysis.score if m.analysis else None,
        "level": m.analysis.level if m.analysis else None,
        "needs_reply": m.analysis.needs_reply if m.analysis else None,
        "thread_head": bool(m.analysis.thread_head) if m.analysis else False,
        "done": bool(m.state and m.state.done_at), "current": m.email.id == v.row.id,
    } for m in v.thread]


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
        "state": v.state.out(v.now).model_dump(mode="json"),
        "due": _due_json(v.due),
        "thread": thread_json(v),
    }


def _due_json(due: Due | None) -> dict[str, Any] | None:
    return {"at": due.at, "status": due.status.value, "days": due.days, "label": due.label} if due else None


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


def engine_json(service: EngineService | None, imports_running: int, tree: ProcessTree | None = None) -> bytes:
    """Status and metrics of the engine (memory history included), or why there is none, and
    every process this server started (from the kernel's process tree: nothing hides), as the
    route's JSON body."""
    if service is None:
        return orjson.dumps(jsonable_encoder({"available": False, "main_rss": rss(), "imports_running": imports_running,
                                              "processes": [_plain(p) for p in process_table(set(), set(), tree)]}))
    raw = service.metrics()
    processes = process_table({w.pid for w in raw.workers}, set(raw.zygotes), tree)
    metrics = jsonable_encoder(_plain(dataclasses.replace(raw, history=[])))
    # The plot's history (up to HISTORY_LEN points) is most of the answer: orjson writes its
    # MemoryPoints as they are, fields in order and the worker pids as string keys (JSON's
    # keys are strings; the plot wants them anyway): converted to dicts and written by the
    # json module, 900 points cost the web process ~5 ms a call (asdict + jsonable_encoder: ~90).
    metrics["history"] = raw.history
    return orjson.dumps({
        "available": True,
        "status": jsonable_encoder(_plain(service.status())),
        "metrics": metrics,
        "imports_running": imports_running,
        "processes": [_plain(p) for p in processes],
    }, option=orjson.OPT_NON_STR_KEYS)
