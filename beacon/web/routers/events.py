"""Live job progress as Server-Sent Events, resumable with ``Last-Event-ID``.

Every progress event is a ``run_events`` row, and its row id is the SSE id, so a client
that reconnects (the browser does so by itself, sending ``Last-Event-ID``) gets exactly the
events it missed, even across a server restart. Between those, an id-less ``status`` event
carries the run's counts, percentage and rate whenever they change. Every run's last numbered
event is ``run_end`` (:mod:`beacon.store.runs`); the stream then says ``end`` and closes. When the
server shuts down the stream also says ``end`` (with ``"shutdown": true``) before it closes, so
the client knows to reconnect later rather than that the job ended.

A stream may stay open for as long as a job runs, so it holds no database session: the login
is checked in a short one, and every poll opens and closes its own. The login is checked
again at every poll: a stream ends as soon as its session is revoked (logout, password
change, user disabled).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from sqlalchemy import select
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from beacon.errors import NotFound
from beacon.store.db import Database
from beacon.store.runs import RunStatus
from beacon.store.emails import visible_ids
from beacon.store.runs import get_run
from beacon.store.schema import RunEvent
from beacon.web import session
from beacon.web.deps import RowId, State, StreamUser, short_session_user
from beacon.web.errors_doc import errors
from beacon.web.view_models import RunView, run_view

router = APIRouter(prefix="/api", tags=["api"])

POLL_SECONDS = 0.4
# Seconds a stream has, once the server is shutting down, to send its last event.
SHUTDOWN_GRACE = 1.0
BATCH = 500  # events per database read; a long backlog streams in pieces
# What an event of a shared analysis run says about one email, left out for other users' mail.
_ABOUT_AN_EMAIL = {"email_id", "error", "reason", "subject"}


def _read(db: Database, run_id: int, after: int, user_id: int) -> tuple[list[RunEvent], RunView | None]:
    with db.session() as s:
        run = get_run(s, run_id, user_id)
        if run is None:
            return [], None
        events = list(
            s.scalars(
                select(RunEvent)
                .where(RunEvent.run_id == run_id, RunEvent.id > after)
                .order_by(RunEvent.id)
                .limit(BATCH)
            )
        )
        if run.user_id is None:  # an analysis run shared by all: only this user's emails are named
            about = {ev.data["email_id"] for ev in events if isinstance(ev.data.get("email_id"), int)}
            mine = visible_ids(s, about, user_id)
            for ev in events:
                if "email_id" in ev.data and ev.data["email_id"] not in mine:
                    s.expunge(ev)  # never written back
                    ev.data = {k: v for k, v in ev.data.items() if k not in _ABOUT_AN_EMAIL}
        return events, run_view(run, datetime.now(timezone.utc))


@router.get(
    "/jobs/{run_id:int}/events",
    summary="Live progress of a job (text/event-stream)",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"},
               **errors(400, 401, 404, 422, e400="Last-Event-ID is not an event number")},
)
async def job_events(
    run_id: RowId,
    request: Request,
    st: State,
    user: StreamUser,  # checked in a short session: the stream holds no connection
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0, description="resume after this event id")] = None,
) -> EventSourceResponse:
    start = _resume_point(last_event_id, after)
    login = session.current(request)
    events, snapshot = await run_in_threadpool(_read, st.db, run_id, start, user.id)
    if snapshot is None:
        raise NotFound(f"no job {run_id}")

    shutdown = anyio.Event()  # set by sse-starlette when the server begins to shut down

    async def stream() -> AsyncIterator[ServerSentEvent]:
        last_id, pending, current = start, events, snapshot
        sent_status = None
        # Tell the browser to retry quickly after a dropped connection.
        yield ServerSentEvent(retry=1000, comment="resume")
        while True:
            if shutdown.is_set():
                yield ServerSentEvent(event="end", data=json.dumps(
                    {**json.loads(current.model_dump_json()), "shutdown": True}))
                return
            for ev in pending:
                last_id = ev.id
                yield ServerSentEvent(id=str(ev.id), event=ev.type, data=json.dumps(ev.data, default=str))
            status_json = current.model_dump_json()
            if status_json != sent_status:
                sent_status = status_json
                yield ServerSentEvent(event="status", data=status_json)
            if current.status != RunStatus.RUNNING and not pending:
                yield ServerSentEvent(event="end", data=status_json)
                return
            if await request.is_disconnected():
                return
            if await run_in_threadpool(short_session_user, st, login) is None:
                yield ServerSentEvent(event="end", data=json.dumps({"reason": "logged out"}))
                return
            if len(pending) < BATCH:
                with anyio.move_on_after(POLL_SECONDS):
                    await shutdown.wait()
            if shutdown.is_set():
                continue
            pending, maybe = await run_in_threadpool(_read, st.db, run_id, last_id, user.id)
            current = maybe or current

    return EventSourceResponse(stream(), ping=15, shutdown_event=shutdown, shutdown_grace_period=SHUTDOWN_GRACE)


def _resume_point(header: str | None, query: int | None) -> int:
    if header:
        try:
            return max(0, int(header))
        except ValueError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "Last-Event-ID must be an event number") from exc
    return query or 0
