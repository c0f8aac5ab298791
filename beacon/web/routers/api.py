"""The JSON API (``/api``), documented in the app's OpenAPI schema at ``/docs``.

Every route except ``/api/login`` needs a logged-in session; every state-changing route also
needs the session's CSRF token in the ``X-CSRF-Token`` header (``/api/login`` returns it,
``/api/me`` repeats it). Routes let Beacon's errors through; ``beacon.web.app`` turns them into
their HTTP status.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from beacon.analysis.models import MailKind
from beacon.analysis.version import pipeline_version
from beacon.errors import NothingToAnalyse
from beacon.store.app_settings import SettingsUpdate, public_view
from beacon.query.parser import HELP as QUERY_HELP
from beacon.query.parser import MAX_QUERY_CHARS
from beacon.store.inbox import SORTS, InboxFilter
from beacon.web import services, session
from beacon.web.deps import DB, ApiUser, CsrfChecked, CurrentSettings, RowId, State, client_address, ends_session
from beacon.web.errors_doc import errors
from beacon.web.view_models import InboxItem, RunView, email_json, engine_json

log = logging.getLogger(__name__)
# Every route may answer 401 (login) and 422 (parameters); each adds its own below.
router = APIRouter(prefix="/api", tags=["api"], responses=errors(401, 422))

Level = Literal["HIGH", "MEDIUM", "LOW"]
Sort = Literal[tuple(SORTS)]  # type: ignore[valid-type]


# -- session ---------------------------------------------------------------------------------
class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class Me(BaseModel):
    username: str
    csrf_token: str


@router.post("/login", response_model=Me, summary="Log in; sets the session cookie",
             responses=errors(400, 429, 503, e400="the body is not JSON",
                              e503="too many logins being checked at once"))
def login(body: LoginIn, request: Request, st: State, s: DB) -> Me:
    user = st.login_guard.authenticate(s, client_address(request), body.username, body.password)
    if user is None:
        log.warning("failed API login")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    fresh = st.codec.new(user)  # a new session id: no fixation
    session.replace(request, fresh)
    return Me(username=user.username, csrf_token=st.codec.csrf_token(fresh))


@router.post("/logout", status_code=204, dependencies=[CsrfChecked], summary="Log out (revokes the session)",
             responses=errors(403))
def logout(request: Request, st: State, s: DB, _user: ApiUser) -> None:
    session.replace(request, services.end_session(st, s, session.current(request)))


@router.get("/me", response_model=Me, summary="Who is logged in, and the CSRF token")
def me(request: Request, st: State, user: ApiUser) -> Me:
    return Me(username=user.username, csrf_token=st.codec.csrf_token(session.current(request)))


# -- emails ----------------------------------------------------------------------------------
class EmailPage(BaseModel):
    total: int = Field(description="matching emails, exact when total_exact; else at least this many")
    total_exact: bool
    page: int
    per_page: int
    pages: int
    pending_analysis: int
    next_cursor: str | None = Field(description="pass as cursor= for the next page (None: last page)")
    items: list[InboxItem]


@router.get("/emails", response_model=EmailPage, summary="List analysed emails, or conversations (threads=1)",
            responses=errors(400, e400="the query is malformed, or the page cursor is not valid for this order "
                                       "(the message says why)"))
@ends_session
def list_emails(
    s: DB,
    settings: CurrentSettings,
    user: ApiUser,
    level: Level | None = None,
    kind: MailKind | None = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
    needs_reply: bool | None = None,
    q: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS, description=QUERY_HELP)] = None,
    account: Annotated[str | None, Query(max_length=200)] = None,
    sort: Annotated[Sort | None, Query(description="default: relevance when q has words, else priority")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
    threads: Annotated[bool, Query(description="conversations: one item per thread, its most important open "
                                               "message, with thread_count")] = False,
) -> Response:
    f = InboxFilter(
        pipeline_version=pipeline_version(settings), level=level, kind=kind, category=category,
        needs_reply=needs_reply, search=q or None, account=account, sort=sort, scope=user.id, threads=threads,
        own_addresses=tuple(settings.own_addresses),
    )
    p = services.inbox_page(s, f, page, per_page, cursor, settings)
    out = EmailPage(total=p.total.n, total_exact=p.total.exact, page=p.page, per_page=p.per_page,
                    pages=p.pages, pending_analysis=services.pending_count(s, settings, user).n,
                    next_cursor=p.next_cursor, items=p.items)
    # Serialised here, as FastAPI would (response_model documents it): FastAPI would first
    # validate the page again, on one more trip to the thread pool.
    return Response(out.model_dump_json(by_alias=True), media_type="application/json")


@router.get("/emails/{email_id:int}", summary="One email with its analysis, score explanation, deadline and thread",
            responses=errors(404, e404="no such email among yours"))
@ends_session
def get_email(email_id: RowId, s: DB, settings: CurrentSettings, user: ApiUser) -> dict[str, Any]:
    return email_json(services.load_email_view(s, settings, email_id, user, thread_texts=False))


# -- jobs ------------------------------------------------------------------------------------
class ImportIn(BaseModel):
    path: str = Field(min_length=1, max_length=4096, pattern=r"^[^\x00]*$",
                      description="a file or directory on the server, below an import root")
    account: str | None = Field(default=None, min_length=1, max_length=200)


class Started(BaseModel):
    run_id: int
    status_url: str
    events_url: str


def _started(run_id: int) -> Started:
    return Started(run_id=run_id, status_url=f"/api/jobs/{run_id}", events_url=f"/api/jobs/{run_id}/events")


@router.post("/jobs/import", status_code=202, response_model=Started, dependencies=[CsrfChecked],
             summary="Start importing a path on the server (eml, directory, mbox, Maildir); admins only",
             description="The path must be absolute and inside one of the import roots "
                         "(BEACON_IMPORT_ROOTS; none by default: 403). What it holds is examined by "
                         "the job, which fails if it is not importable.",
             responses=errors(400, 403, e400="the path cannot be imported (the message says why), "
                                             "or the body is not JSON",
                              e403="not an admin, no import roots configured, or a wrong CSRF token"))
def start_import(body: ImportIn, st: State, settings: CurrentSettings, user: ApiUser) -> Started:
    return _started(services.start_path_import(st, user, body.path, body.account or settings.default_account))


@router.post("/jobs/import/upload", status_code=202, response_model=Started, dependencies=[CsrfChecked],
             summary="Upload a mail file (eml or mbox) and import it", responses=errors(400, 403, 413))
def upload_import(file: UploadFile, st: State, settings: CurrentSettings, user: ApiUser,
                  account: Annotated[str | None, Query(min_length=1, max_length=200)] = None) -> Started:
    return _started(services.import_upload(st, user, file, account or settings.default_account))


class NothingToDo(BaseModel):
    status: Literal["nothing_to_do"] = "nothing_to_do"
    detail: str


@router.post("/jobs/analyze", status_code=202, response_model=Started, dependencies=[CsrfChecked],
             summary="Analyse every email that has no analysis at the current pipeline version",
             responses={200: {"model": NothingToDo, "description": "every email has its analysis: no run started"},
                        **errors(403, 409, 503, e503="no analysis engine in this server, or it is restarting")})
def start_analyze(st: State, _user: ApiUser) -> Started | JSONResponse:
    try:
        return _started(services.start_analysis(st))
    except NothingToAnalyse as exc:
        return JSONResponse(NothingToDo(detail=str(exc)).model_dump(), status_code=200)


@router.get("/jobs", response_model=list[RunView], summary="Recent jobs, newest first")
def list_jobs(s: DB, user: ApiUser, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[RunView]:
    return services.recent_jobs(s, user, limit)


@router.get("/jobs/{run_id:int}", response_model=RunView, summary="One job's status and counts",
            responses=errors(404, e404="no such job among yours"))
def job(run_id: RowId, s: DB, user: ApiUser) -> RunView:
    return services.get_job(s, run_id, user)


# -- settings, accounts, engine --------------------------------------------------------------
@router.get("/settings", summary="Effective settings: the environment's, the engine-wide changes and yours")
def get_settings(settings: CurrentSettings, _user: ApiUser) -> dict[str, Any]:
    return public_view(settings)


@router.patch("/settings", dependencies=[CsrfChecked], summary="Change settings (partial update)",
              description="Personal settings (own addresses, VIPs, thresholds) are the caller's own; "
                          "engine-wide ones (model, mode, batch size, memory budget, private IMAP "
                          "hosts) are an admin's (403 otherwise).",
              responses=errors(400, 403, e400="the body is not JSON",
                               e403="an engine-wide setting and the caller is no admin, or a wrong CSRF token"))
def patch_settings(body: SettingsUpdate, st: State, s: DB, user: ApiUser) -> dict[str, Any]:
    return public_view(services.save_settings(st, s, body, user))


class AccountOut(BaseModel):
    id: int
    name: str
    kind: str
    imap_host: str | None
    imap_user: str | None
    last_sync_at: Any
    last_error: str | None
    emails: int


@router.get("/accounts", response_model=list[AccountOut], summary="Mail accounts and their last sync")
def accounts(s: DB, user: ApiUser) -> list[AccountOut]:
    return [AccountOut(**a) for a in services.account_rows(s, user)]


@router.get("/engine", response_model=dict[str, Any],
            summary="Analysis engine status: workers, memory, recycles, queue, history")
def engine(st: State, _user: ApiUser) -> Response:
    # JSON already: FastAPI's encoder would walk the memory history again.
    return Response(engine_json(st.engine.service if st.engine is not None else None, st.imports.running(),
                                st.processes), media_type="application/json")
