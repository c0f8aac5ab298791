"""The app factory: one FastAPI application from one Settings object.

``create_app`` wires the store, the session signer, templates, metrics and middleware.
The analysis engine and the IMAP scheduler are optional collaborators passed in as
factories, so tests can build an app without worker processes and ``beacon serve`` can
build the full one; they start and stop with the app's lifespan. Every
:class:`~beacon.errors.BeaconError` a route lets through becomes its HTTP status here, in
:func:`http_status`, and nowhere else.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Route

from beacon.crypto import derive_key, load_or_create_secret
from beacon.engine.host import EngineFactory, EngineHost
from beacon.engine.memory import limit_arenas
from beacon.errors import (
    AnalysisBusy,
    BeaconError,
    Conflict,
    EngineUnavailable,
    Forbidden,
    InvalidInput,
    InvalidSettings,
    LoginBusy,
    LoginRefused,
    NotFound,
    SearchIndexEmpty,
    TooManyFailures,
    UnsubscribeFailed,
    UploadTooLarge,
)
from beacon.ingest.roots import ImportRoots
from beacon.ingest.runner import ImportRunner
from beacon.settings import Settings
from beacon.store.app_settings import current_settings, stored_problems
from beacon.store import jobs, search_index
from beacon.store.db import Database
from beacon.store.owner import owner_is_dead
from beacon.store.private import PRIVATE_UMASK, private_dir
from beacon.store.runs import interrupt_dead_runs
from beacon.triage.deferred import DeferredHooks
from beacon.triage.scheduler import RescoreScheduler
from beacon.web import services, session, templating
from beacon.web.auth import SessionCodec
from beacon.web.auth_cache import AuthCache
from beacon.web.deps import LoginRequired
from beacon.web.limits import BodyLimit
from beacon.web.memtrace import AllocationTracer
from beacon.web.observability import RequestMemoryMiddleware
from beacon.web.prometheus import Exposition, register_metrics
from beacon.web.routers import admin, api, docs, events, learning, ops, triage, ui, unsubscribe
from beacon.web.security import SecurityHeadersMiddleware
from beacon.web.state import Scheduler, WebState

if TYPE_CHECKING:
    from beacon.engine.service import EngineService

__all__ = ["create_app", "create_app_from_env", "http_status"]

# (settings, db, on_new_mail) -> a started-on-demand IMAP sync scheduler
SchedulerFactory = Callable[[Settings, Database, Callable[[list[int]], None]], Scheduler]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_KEY_INFO = b"beacon/web-session/v1"

# Beacon's errors as HTTP statuses; the most specific class wins (see beacon.errors).
_STATUS: dict[type[BeaconError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    InvalidInput: 400,
    InvalidSettings: 422,
    UploadTooLarge: 413,
    TooManyFailures: 429,
    LoginBusy: 503,
    AnalysisBusy: 409,
    EngineUnavailable: 503,
    SearchIndexEmpty: 503,
    UnsubscribeFailed: 502,
}


def http_status(exc: BeaconError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def session_codec(settings: Settings) -> SessionCodec:
    key = derive_key(load_or_create_secret(settings), SESSION_KEY_INFO)
    return SessionCodec(base64.urlsafe_b64encode(key).decode(), settings.session_max_age)


def create_app(
    settings: Settings,
    db: Database | None = None,
    *,
    engine_factory: EngineFactory | None = None,
    scheduler_factory: SchedulerFactory | None = None,
    engine: EngineService | None = None,
) -> FastAPI:
    """``engine_factory`` builds the analysis engine for the settings in force (None: no
    analysis in this server); ``engine`` is one already started to adopt (``serve --demo``)."""
    private_dir(settings.data_dir)
    db = db or Database(settings.database_url_resolved)
    db.limit_page_cache(settings.web_sqlite_cache)
    codec = session_codec(settings)
    registry = CollectorRegistry()
    st = WebState(
        settings=settings,
        db=db,
        codec=codec,
        auth=AuthCache(codec),
        templates=Jinja2Templates(directory=str(HERE / "templates")),
        imports=ImportRunner(db, settings),
        roots=ImportRoots.from_settings(settings),
        registry=registry,
        exposition=Exposition(registry, settings.metrics_max_age),
        engine=EngineHost(db, engine_factory) if engine_factory is not None else None,
        tracer=AllocationTracer(settings.debug_tracemalloc) if settings.debug_tracemalloc else None,
        deferred=DeferredHooks(db),
    )
    templating.configure(st.templates.env)
    request_metrics = register_metrics(st)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Before any request thread exists. (The thread pool keeps anyio's 40: a request holds
        # its database connection while it waits for a thread, so fewer threads than the
        # connection pool's 15 deadlock under 20 concurrent requests until the pool times out.)
        limit_arenas(settings.web_malloc_arenas)
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(settings.web_switch_interval)
        if st.tracer is not None:
            st.tracer.start()
        await run_in_threadpool(_start, st, scheduler_factory, engine)
        try:
            yield
        finally:
            await run_in_threadpool(_stop, st)
            if st.tracer is not None:
                st.tracer.stop()
            sys.setswitchinterval(switch_interval)

    app = FastAPI(
        title="Beacon",
        summary="Self-hosted email triage: prioritised inbox, analysis and explanations.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # Beacon serves its own /docs (routers.docs): the CSP forbids the CDN
        redoc_url=None,
    )
    app.state.beacon = st
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    docs.install(app)
    for router in ROUTERS:
        app.include_router(router)
    _install_error_handlers(app, st)
    # Outermost last: memory/timing sees everything, headers apply to every response, the
    # body cap comes before any route reads a body (inside the session: uploads need a login).
    app.add_middleware(BodyLimit, state=st)
    session.install(app, st.codec.secret_key, settings.session_max_age, secure=settings.cookie_secure)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestMemoryMiddleware, metrics=request_metrics, warn_bytes=settings.request_rss_warn,
                       trim_bytes=settings.request_trim_bytes)
    return app


def _start(st: WebState, scheduler_factory: SchedulerFactory | None, adopt: EngineService | None) -> None:
    st.db.migrate()
    with st.db.session() as s:
        n = interrupt_dead_runs(s, owner_is_dead)
        # Jobs a dead process held go back at once (not when their lease runs out).
        recovered = jobs.recover_stale(s, owner_is_dead)
        for key, why in stored_problems(s).items():
            log.warning("stored setting %s is ignored (%s): the environment's value applies; "
                        "`beacon settings reset %s` removes it", key, why, key)
        if search_index.needs_reindex(s.connection()):
            log.warning("the search index is empty after the upgrade (a large mailbox is not reindexed while the "
                        "server starts): searching words answers so until `beacon reindex` has run")
        settings = current_settings(s, st.settings)
    if n or recovered:
        log.warning("%d run(s) were interrupted when their process ended; %d job(s) handed back", n, recovered)
    if st.engine is not None:
        st.engine.start(settings, adopt)
        st.engine.resume()  # whatever an interrupted run left pending goes on now
    if scheduler_factory is not None and settings.sync_interval > 0:
        st.scheduler = scheduler_factory(settings, st.db, lambda ids: services.analyse_new_mail(st, ids))
        st.scheduler.start()
    if settings.rescore_interval > 0:  # deadlines and snoozes move with the clock, not with new mail
        st.rescorer = RescoreScheduler(st.settings, st.db)
        st.rescorer.start()


def request_grace(settings: Settings) -> float:
    """Of ``shutdown_timeout``, the seconds requests in flight (and SSE streams) get."""
    return settings.shutdown_timeout * 0.45


def _stop(st: WebState) -> None:
    # What is left of the shutdown time after the requests' share; the workers' kill and
    # reaping take the last second or so.
    grace = max(0.0, st.settings.shutdown_timeout * 0.55 - 1.5)
    if st.scheduler is not None:
        st.scheduler.stop(timeout=1.0)
    if st.rescorer is not None:
        st.rescorer.stop(timeout=1.0)
    if st.deferred is not None:
        st.deferred.stop(timeout=2.0)  # the last actions' lessons are learned before the end
    if st.engine is not None:
        st.engine.stop(grace)  # lets a restart under way finish, then stops its engine


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get("accept", "")


ROUTERS = (ops.router, api.router, triage.router, learning.router, unsubscribe.router, events.router, admin.router,
           docs.router, ui.router)


def _allowed(request: Request) -> str:
    path = request.url.path
    methods = {m for router in ROUTERS for r in router.routes
               if isinstance(r, Route) and r.methods and r.path_regex.fullmatch(path) for m in r.methods}
    return ", ".join(sorted(methods))


def _install_error_handlers(app: FastAPI, st: WebState) -> None:
    @app.exception_handler(BeaconError)
    async def _beacon(request: Request, exc: BeaconError) -> Response:
        status = http_status(exc)
        if status == 500:
            log.error("unhandled %s on %s: %s", type(exc).__name__, request.url.path, exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, LoginRefused) else None
        return await _http(request, HTTPException(status, str(exc), headers=headers))

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        # Encoded, so the target's own query (``?level=HIGH&kind=newsletter``) survives whole.
        return RedirectResponse(f"/login?{urlencode({'next': target})}" if target != "/" else "/login",
                                status_code=303)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            # Starlette names the methods of the first route with this path only (GET of
            # /api/settings, not its PATCH): name every route's.
            exc = HTTPException(405, exc.detail, headers={**(exc.headers or {}), "Allow": _allowed(request)})
        if _wants_html(request):
            return st.templates.TemplateResponse(
                request, "error.html",
                {"status": exc.status_code, "detail": exc.detail, "user": None,
                 "csrf": st.codec.csrf_token(session.current(request))},
                status_code=exc.status_code,
            )
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _wants_html(request):
            detail = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors())
            return st.templates.TemplateResponse(
                request, "error.html",
                {"status": 422, "detail": detail, "user": None,
                 "csrf": st.codec.csrf_token(session.current(request))},
                status_code=422,
            )
        # The errors echo the input; an Infinity or NaN in it is not valid JSON to send back.
        return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, status_code=422)


def _json_safe(value: Any) -> Any:
    """``value`` with non-finite floats written as strings (JSON has no Infinity or NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def create_app_from_env() -> FastAPI:
    """For ``uvicorn --factory beacon.web.app:create_app_from_env`` (settings from BEACON_*)."""
    from beacon.web.runtime import engine_factory, scheduler_factory

    os.umask(PRIVATE_UMASK)  # before any file is made: mail and keys are the owner's alone
    return create_app(Settings(), engine_factory=engine_factory(), scheduler_factory=scheduler_factory())
