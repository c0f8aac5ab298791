"""The app factory: one FastAPI application from one Settings object.

``create_app`` wires the store, the session signer, templates, metrics and middleware.
The analysis engine and the IMAP scheduler are optional collaborators passed in as
factories, so tests can build an app without worker processes and ``beacon serve`` can
build the full one; they start and stop with the app's lifespan.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException
from starlette.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler

from beacon.crypto import derive_key, load_or_create_secret
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.web import services, templating
from beacon.web.auth import SessionCodec
from beacon.web.deps import LoginRequired
from beacon.web.imports import ImportJobs, mark_interrupted_runs
from beacon.web.metrics import register_metrics
from beacon.web.observability import RequestMemoryMiddleware
from beacon.web.routers import api, events, ops, ui
from beacon.store.app_settings import current_settings
from beacon.web.security import SecurityHeadersMiddleware
from beacon.web.session import SessionMiddleware
from beacon.web.state import Engine, Scheduler, WebState, new_engine_control

# (settings, db, on_new_mail) -> a started-on-demand IMAP sync scheduler
SchedulerFactory = Callable[[Settings, Database, Callable[[list[int]], None]], Scheduler]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_KEY_INFO = b"beacon/web-session/v1"


def session_codec(settings: Settings) -> SessionCodec:
    key = derive_key(load_or_create_secret(settings), SESSION_KEY_INFO)
    return SessionCodec(base64.urlsafe_b64encode(key).decode(), settings.session_max_age)


def create_app(
    settings: Settings,
    db: Database | None = None,
    *,
    engine_factory: Callable[[Settings, Database], Engine] | None = None,
    scheduler_factory: SchedulerFactory | None = None,
    engine: Engine | None = None,
) -> FastAPI:
    db = db or Database(settings.database_url_resolved)
    st = WebState(
        settings=settings,
        db=db,
        codec=session_codec(settings),
        templates=Jinja2Templates(directory=str(HERE / "templates")),
        imports=ImportJobs(db),
        registry=CollectorRegistry(),
        engine_factory=engine_factory,
        engine=engine,
    )
    templating.configure(st.templates.env)
    request_histogram = register_metrics(st)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(_start, st, scheduler_factory)
        try:
            yield
        finally:
            await run_in_threadpool(_stop, st)

    app = FastAPI(
        title="Beacon",
        summary="Self-hosted email triage: prioritised inbox, analysis and explanations.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.beacon = st
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(ops.router)
    app.include_router(api.router)
    app.include_router(events.router)
    app.include_router(ui.router)
    _install_error_handlers(app, st)
    # Outermost last: memory/timing sees everything, headers apply to every response.
    app.add_middleware(SessionMiddleware, codec=st.codec, secure=settings.cookie_secure)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestMemoryMiddleware, histogram=request_histogram, warn_bytes=settings.request_rss_warn)
    return app


def _start(st: WebState, scheduler_factory: SchedulerFactory | None) -> None:
    st.engine_control = new_engine_control()  # fresh: a previous lifespan shut the last one down
    st.db.migrate()
    n = mark_interrupted_runs(st.db)
    if n:
        log.warning("%d job(s) were interrupted when their process ended", n)
    with st.db.session() as s:
        effective = current_settings(s, st.settings)
    if st.engine is None and st.engine_factory is not None:
        st.engine = st.engine_factory(effective, st.db)
    if st.engine is not None:
        st.engine.start()
    if scheduler_factory is not None and effective.sync_interval > 0:
        st.scheduler = scheduler_factory(effective, st.db, lambda ids: services.analyse_new_mail(st, ids))
        st.scheduler.start()


def _stop(st: WebState) -> None:
    if st.scheduler is not None:
        st.scheduler.stop()
    st.engine_control.shutdown(wait=True)  # let a restart in progress finish, then stop its engine
    if st.engine is not None:
        st.engine.stop()
        st.engine = None


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get("accept", "")


def _install_error_handlers(app: FastAPI, st: WebState) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        # Encoded, so the target's own query (``?level=HIGH&kind=newsletter``) survives whole.
        return RedirectResponse(f"/login?{urlencode({'next': target})}" if target != "/" else "/login",
                                status_code=303)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if _wants_html(request):
            return st.templates.TemplateResponse(
                request, "error.html",
                {"status": exc.status_code, "detail": exc.detail, "user": None,
                 "csrf": st.codec.csrf_token(request.state.session)},
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
                 "csrf": st.codec.csrf_token(request.state.session)},
                status_code=422,
            )
        return await request_validation_exception_handler(request, exc)


def create_app_from_env() -> FastAPI:
    """For ``uvicorn --factory beacon.web.app:create_app_from_env`` (settings from BEACON_*)."""
    from beacon.web.runtime import engine_factory, scheduler_factory

    return create_app(Settings(), engine_factory=engine_factory(), scheduler_factory=scheduler_factory())
