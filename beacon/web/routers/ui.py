"""The server-rendered UI: inbox, email, accounts & imports, job progress, settings, system."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from beacon.analysis.models import MAIL_KINDS
from beacon.analysis.version import pipeline_version
from beacon.errors import EngineError, Forbidden, InvalidInput, InvalidSettings, LoginBusy, NothingToAnalyse, TooManyFailures
from beacon.store import emails as store
from beacon.query.parser import HELP as QUERY_HELP
from beacon.query.parser import MAX_QUERY_CHARS
from beacon.store.inbox import SORTS, InboxFilter
from beacon.store.inbox import categories as store_categories
from beacon.web import services, session
from beacon.web.deps import DB, CsrfForm, CurrentSettings, RowId, State, UiUser, client_address, ends_session
from beacon.web.display import clean_piece
from beacon.web.highlight import highlight
from beacon.web.reply import reply_links
from beacon.store.app_settings import SettingsUpdate, public_view
from beacon.web.sanitize import email_document, sanitize_email_html
from beacon.web.security import email_body_csp
from beacon.web.unsubscribe import one_click

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

LEVELS = ("HIGH", "MEDIUM", "LOW")
KINDS = MAIL_KINDS
PER_PAGE = 50


def render(request: Request, st: Any, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    ctx.setdefault("user", None)
    ctx["csrf"] = st.codec.csrf_token(session.current(request))
    return st.templates.TemplateResponse(request, name, ctx, status_code=status_code)


def _safe_next(target: str | None) -> str:
    # Only local paths: a login link must not bounce the user to another site.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


# -- login -----------------------------------------------------------------------------------
@router.get("/login")
def login_page(request: Request, st: State, next: str | None = None) -> Response:
    return render(request, st, "login.html", next=_safe_next(next), error=None)


@router.post("/login", dependencies=[CsrfForm])
def login_submit(
    request: Request, st: State, s: DB,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        user = st.login_guard.authenticate(s, client_address(request), username, password)
    except TooManyFailures as exc:
        return render(request, st, "login.html", status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                      next=_safe_next(next), error=f"Too many failed logins; try again in {exc.retry_after} seconds.")
    except LoginBusy as exc:
        return render(request, st, "login.html", status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                      next=_safe_next(next), error=str(exc).capitalize() + ".")
    if user is None:
        log.warning("failed login")
        return render(request, st, "login.html", status_code=401, next=_safe_next(next),
                      error="Wrong username or password.")
    session.replace(request, st.codec.new(user))
    return RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)


@router.post("/logout", dependencies=[CsrfForm])
def logout(request: Request, st: State, s: DB) -> Response:
    session.replace(request, services.end_session(st, s, session.current(request)))
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)


# -- inbox -----------------------------------------------------------------------------------
@router.get("/")
@ends_session
def inbox_page(
    request: Request, st: State, s: DB, settings: CurrentSettings, user: UiUser,
    level: str | None = None, kind: str | None = None, category: str | None = None,
    needs_reply: str | None = None, q: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)] = None,
    sort: str | None = None, page: Annotated[int, Query(ge=1)] = 1,
    cursor: Annotated[str | None, Query(max_length=500)] = None, messages: str | None = None,
) -> Response:
    version = pipeline_version(settings)
    # Unknown values from a hand-edited URL are ignored rather than failing the page.
    level = level if level in LEVELS else None
    kind = kind if kind in KINDS else None
    sort = sort if sort in SORTS else None
    categories = sorted(store_categories(s, user.id))
    category = category if category in categories else None
    params = {k: v for k, v in dict(level=level, kind=kind, category=category, needs_reply=needs_reply,
                                     q=q, sort=sort, messages=messages).items() if v}
    ctx: dict[str, Any] = dict(
        user=user, levels=LEVELS, kinds=KINDS, categories=categories, sorts=SORTS, q=q or "",
        needs_reply=bool(needs_reply), pending=services.pending_count(s, settings, user), query=urlencode(params),
        query_help=QUERY_HELP, level=level, kind=kind, category=category, sort=sort, error=None,
        messages=bool(messages),
    )
    try:
        f = InboxFilter(pipeline_version=version, level=level, kind=kind, category=category,
                        needs_reply=True if needs_reply else None, search=(q or "").strip() or None, sort=sort,
                        scope=user.id, own_addresses=tuple(settings.own_addresses),
                        threads=not messages and not (q or "").strip())
        result = services.inbox_page(s, f, page, PER_PAGE, cursor, settings)
    except InvalidInput as exc:  # a query that cannot be read: the page says why, the form stays
        return render(request, st, "inbox.html", status_code=400, result=None, marked={}, f=None,
                      **{**ctx, "error": str(exc)})
    marked = {m.id: _segments(m.snippet, m.highlights) for m in result.items if m.snippet is not None}
    return render(request, st, "inbox.html", result=result, marked=marked, f=f, **ctx)


def _segments(text: str, highlights: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """The snippet cut into (text, is a searched word) pieces for <mark> (escaped by Jinja),
    without the bidi and control characters the sender put in (the page isolates it too)."""
    out: list[tuple[str, bool]] = []
    at = 0
    for start, end in highlights:
        if start > at:
            out.append((clean_piece(text[at:start]), False))
        out.append((clean_piece(text[start:end]), True))
        at = end
    if at < len(text):
        out.append((clean_piece(text[at:]), False))
    return out


# -- one email -------------------------------------------------------------------------------
@router.get("/emails/{email_id:int}")
@ends_session
def email_page(
    email_id: RowId, request: Request, st: State, s: DB, settings: CurrentSettings, user: UiUser,
    images: bool = False,
) -> Response:
    view = services.load_email_view(s, settings, email_id, user)
    remote_images = 0
    if view.email.html:
        remote_images = sanitize_email_html(view.email.html).remote_images
    analysis = view.scored.analysis if view.scored else None
    return render(
        request, st, "email.html", user=user, view=view, e=view.email, scored=view.scored,
        analysis=analysis, segments=highlight(analysis) if analysis else [],
        entities=_entities_by_label(analysis) if analysis else {},
        images=images, remote_images=remote_images,
        reply=reply_links(view.email, settings.own_addresses), unsubscribe=one_click(view.email.list_headers),
        state=view.state.out(datetime.now(timezone.utc)),
    )


def _entities_by_label(analysis: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ent in analysis.entities:
        out.setdefault(ent.label, []).append(ent.text)
    return out


@router.get("/emails/{email_id:int}/body")
def email_body(
    email_id: RowId, st: State, s: DB, user: UiUser, images: bool = False,
) -> Response:
    """The sanitised original HTML as its own locked-down document, for the sandboxed iframe."""
    row = store.get_email_row(s, email_id, user.id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such email.")
    email = store.load_email(row)
    if not email.html:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This email has no HTML part.")
    safe = sanitize_email_html(email.html, allow_remote_images=images, cid=services.cid_images(s, row.id, email))
    return HTMLResponse(
        email_document(safe),
        headers={
            "Content-Security-Policy": email_body_csp(images),
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )


# -- accounts, imports, jobs -----------------------------------------------------------------
@router.get("/jobs")
def jobs_page(request: Request, st: State, s: DB, settings: CurrentSettings, user: UiUser) -> Response:
    return _jobs(request, st, s, settings, user)


def _jobs(request: Request, st: State, s: DB, settings: Any, user: Any, error: str | None = None,
          status_code: int = 200) -> Response:
    return render(
        request, st, "jobs.html", status_code=status_code, user=user, accounts=services.account_rows(s, user),
        jobs=services.recent_jobs(s, user, 30), pending=services.pending_count(s, settings, user),
        default_account=settings.default_account, engine=st.engine is not None,
        server_imports=user.is_admin and st.roots.enabled, error=error,
    )


def _jobs_error(request: Request, st: State, s: DB, settings: Any, user: Any, error: str,
                status_code: int = 400) -> Response:
    return _jobs(request, st, s, settings, user, error, status_code)


def _to_job(run_id: int) -> Response:
    return RedirectResponse(f"/jobs/{run_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/jobs/import", dependencies=[CsrfForm])
def import_submit(
    request: Request, st: State, s: DB, settings: CurrentSettings, user: UiUser,
    path: Annotated[str, Form(max_length=4096)] = "",
    account: Annotated[str, Form(max_length=200)] = "",
    file: UploadFile | None = None,
) -> Response:
    account = account.strip() or settings.default_account
    try:
        if file is not None and file.filename:
            return _to_job(services.import_upload(st, user, file, account))
        if not path.strip():
            ask = "Give a path on the server or choose a file." if user.is_admin and st.roots.enabled \
                else "Choose a file to upload."
            return _jobs_error(request, st, s, settings, user, ask)
        return _to_job(services.start_path_import(st, user, path, account))
    except InvalidInput as exc:
        return _jobs_error(request, st, s, settings, user, str(exc), 422 if "\0" in path else 400)
    except Forbidden as exc:
        return _jobs_error(request, st, s, settings, user, str(exc), 403)


@router.post("/jobs/analyze", dependencies=[CsrfForm])
def analyze_submit(request: Request, st: State, s: DB, settings: CurrentSettings, user: UiUser) -> Response:
    try:
        return _to_job(services.start_analysis(st))
    except NothingToAnalyse:
        return RedirectResponse("/jobs", status_code=status.HTTP_303_SEE_OTHER)  # it shows 0 pending
    except EngineError as exc:
        return _jobs_error(request, st, s, settings, user, str(exc))


@router.post("/accounts/imap", dependencies=[CsrfForm])
def imap_account_submit(
    request: Request, st: State, s: DB, settings: CurrentSettings, user: UiUser,
    name: Annotated[str, Form(max_length=200)], host: Annotated[str, Form(max_length=255)],
    user_name: Annotated[str, Form(alias="user", max_length=255)],
    password: Annotated[str, Form(max_length=1000)],
    security: Annotated[str, Form()] = "tls", port: Annotated[str, Form()] = "",
    folders: Annotated[str, Form(max_length=2000)] = "INBOX",
    archive_folder: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Save an IMAP account (password encrypted at rest); the sync scheduler picks it up."""
    from beacon.crypto import PasswordCipher
    from beacon.imap.accounts import ImapAccountInput, save_imap_account
    from beacon.imap.hosts import check_public_host

    port = port.strip()
    if port and not port.isdigit():
        return _jobs_error(request, st, s, settings, user, "Cannot save the account: the port must be a number")
    try:
        if not settings.imap_allow_private_hosts:
            check_public_host(host)
        data = ImapAccountInput(
            name=name.strip(), host=host.strip(), user=user_name.strip(), password=password,
            security=security,  # type: ignore[arg-type]  # validate() checks it
            port=int(port) if port else None,
            folders=tuple(_lines(folders)) or ("INBOX",),
            archive_folder=archive_folder,  # empty: the server's \\Archive folder, else a keyword
            restricted=True,
        )
        save_imap_account(s, PasswordCipher.from_settings(st.settings), data, user_id=user.id)
    except InvalidInput as exc:
        return _jobs_error(request, st, s, settings, user, f"Cannot save the account: {exc}")
    return RedirectResponse("/jobs", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/jobs/{run_id:int}")
def job_page(run_id: RowId, request: Request, st: State, s: DB, user: UiUser) -> Response:
    return render(request, st, "job.html", user=user, job=services.get_job(s, run_id, user))


# -- settings --------------------------------------------------------------------------------
def _lines(value: str) -> list[str]:
    return [p.strip() for chunk in value.splitlines() for p in chunk.split(",") if p.strip()]


@router.get("/settings")
def settings_page(request: Request, st: State, settings: CurrentSettings, user: UiUser) -> Response:
    return render(request, st, "settings.html", user=user, values=public_view(settings), errors={}, saved=False)


@router.post("/settings", dependencies=[CsrfForm])
async def settings_submit(request: Request, st: State, s: DB, settings: CurrentSettings, user: UiUser) -> Response:
    form = await request.form()
    raw = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    data: dict[str, Any] = {
        "own_addresses": _lines(raw.get("own_addresses", "")),
        "vip_senders": _lines(raw.get("vip_senders", "")),
    }
    for key in ("priority_high", "priority_medium", "batch_size", "workers", "memory_budget", "spacy_model", "nlp_mode"):
        if raw.get(key, "").strip():
            data[key] = raw[key].strip()
    if "engine_form" in raw:  # the checkbox sends nothing when off
        data["imap_allow_private_hosts"] = raw.get("imap_allow_private_hosts") == "on"
    errors: dict[str, str] = {}
    try:
        update = SettingsUpdate.model_validate(data)
        # Re-scoring every analysis takes a while: off the event loop. Engine restarts
        # happen in the background (see services.restart_engine_soon).
        new = await run_in_threadpool(services.save_settings, st, s, update, user)
    except ValidationError as exc:
        for err in exc.errors():
            errors[str(err["loc"][0]) if err["loc"] else "form"] = err["msg"].removeprefix("Value error, ")
    except InvalidSettings as exc:
        errors["priority_high"] = str(exc)
    if errors:
        values = {**public_view(settings), **raw}
        return render(request, st, "settings.html", status_code=422, user=user, values=values,
                      errors=errors, saved=False)
    return render(request, st, "settings.html", user=user, values=public_view(new), errors={}, saved=True)


# -- system ----------------------------------------------------------------------------------
@router.get("/system")
def system_page(request: Request, st: State, user: UiUser) -> Response:
    return render(request, st, "system.html", user=user, engine=st.engine is not None)
