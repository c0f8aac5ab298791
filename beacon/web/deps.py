"""FastAPI dependencies: app state, DB session, the settings in force, login and CSRF checks."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, HTTPException, Path, Request, status
from sqlalchemy.orm import Session

from beacon.settings import Settings
from beacon.store.schema import User
from beacon.web import session
from beacon.web.auth import SessionData
from beacon.web.state import WebState

__all__ = [
    "AdminUser", "UiAdmin", "admin_user", "short_session_user", "ui_admin",
    "ApiUser", "CSRF_HEADER", "CsrfChecked", "CsrfForm", "CurrentSettings", "DB", "LoginRequired",
    "State", "StreamUser", "UiUser", "api_user", "client_address", "csrf_header", "db_session", "ends_session",
    "optional_user", "session_user", "settings", "state", "stream_user", "ui_user",
]

CSRF_HEADER = "X-CSRF-Token"


# The dependencies that only look at what others resolved are ``async``: FastAPI runs a plain
# ``def`` one in the thread pool, a hop of the request between threads for nothing.
async def state(request: Request) -> WebState:
    return request.app.state.beacon


State = Annotated[WebState, Depends(state)]


async def db_session(st: State) -> AsyncIterator[Session]:
    """The request's session, in a transaction: committed when the request succeeded, rolled
    back when it failed. Making it does no I/O (its connection is taken at its first query), so
    it is made here without a trip to the thread pool; ending it (commit, the connection handed
    back) is I/O, done in a thread as FastAPI ends a plain ``def`` one: shielded from the
    request's cancellation, and not waiting for the pool's capacity (a request waiting for a
    thread while it holds a connection others wait for would deadlock). A route marked
    :func:`ends_session` has ended it already, in its own thread."""
    scope = st.db.session()
    s = scope.__enter__()
    s.info[_SCOPE] = scope
    own = anyio.CapacityLimiter(1)
    try:
        yield s
    except BaseException as exc:
        if s.info.get(_SCOPE) is None:  # ended by the route, then the response failed
            raise
        with anyio.CancelScope(shield=True):
            ok = await anyio.to_thread.run_sync(scope.__exit__, type(exc), exc, exc.__traceback__, limiter=own)
        if not ok:
            raise
    else:
        if s.info.get(_SCOPE) is None:
            return
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(scope.__exit__, None, None, None, limiter=own)


_SCOPE = "beacon.deps.session_scope"  # Session.info key: the request session's context manager
_R = TypeVar("_R")


def ends_session(route: Callable[..., _R]) -> Callable[..., _R]:
    """For a plain ``def`` route taking the request's session as ``s``: the session is
    committed and closed in the route's own thread when it returns, one trip to the thread
    pool fewer than ending it afterwards (the route must not need it once it returned: it
    returns a rendered response or plain data). When the route raises, ``db_session`` rolls
    it back as for any route."""

    # FastAPI passes dependencies by name: a route whose session is not ``s`` would fail on
    # every request, so it fails here, when the module is imported.
    if "s" not in inspect.signature(route).parameters:
        raise TypeError(f"ends_session: {route.__qualname__} takes no request session named 's'")

    @functools.wraps(route)
    def run(*args: Any, **kwargs: Any) -> _R:
        result = route(*args, **kwargs)
        s: Session = kwargs["s"]
        scope = s.info.pop(_SCOPE)
        scope.__exit__(None, None, None)
        return result

    return run


DB = Annotated[Session, Depends(db_session)]


def client_address(request: Request) -> str:
    """The peer address (behind a reverse proxy: the proxy's, unless uvicorn trusts its headers)."""
    return request.client.host if request.client else "unknown"


def session_user(s: Session, st: WebState, data: SessionData) -> User | None:
    """The session's user, unless the password changed since login or the session was revoked
    (a detached copy: read it, do not change it)."""
    return st.auth.user(s, data)


def optional_user(request: Request, st: State, s: DB) -> User | None:
    user = session_user(s, st, session.current(request))
    # The settings in force too, on the same trip to the thread pool (a trip costs more than
    # the cached lookup): ``settings`` below only hands them over.
    request.state.beacon_settings = st.auth.settings(s, st.settings, user.id if user is not None else None)
    return user


def short_session_user(st: WebState, data: SessionData) -> User | None:
    """``session_user`` in its own short database session (for long-lived responses, which
    re-check their login while they run: a stream ends when its session is revoked)."""
    with st.db.session() as s:
        return session_user(s, st, data)


def _short_session_user(request: Request, st: State) -> User | None:
    # Own short session, closed before the handler runs: nothing stays checked out for a
    # long-lived response (an SSE stream), unlike the request-scoped ``DB`` dependency,
    # which FastAPI closes only after the whole response has been sent.
    return short_session_user(st, session.current(request))


async def settings(request: Request, _user: Annotated[User | None, Depends(optional_user)]) -> Settings:
    """The settings in force for this request: with the logged-in user's personal ones."""
    found: Settings = request.state.beacon_settings
    return found


CurrentSettings = Annotated[Settings, Depends(settings)]


class LoginRequired(Exception):
    """Raised by UI routes without a logged-in user; the app redirects to the login page."""


def _login_required() -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "login required", headers={"WWW-Authenticate": "Cookie"})


async def api_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise _login_required()
    return user


async def stream_user(user: Annotated[User | None, Depends(_short_session_user)]) -> User:
    """Like ``api_user`` but holds no database session: for streaming responses."""
    if user is None:
        raise _login_required()
    return user


async def ui_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise LoginRequired()
    return user


ApiUser = Annotated[User, Depends(api_user)]
StreamUser = Annotated[User, Depends(stream_user)]
UiUser = Annotated[User, Depends(ui_user)]


async def admin_user(user: ApiUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin may do this")
    return user


async def ui_admin(user: UiUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin may see this page")
    return user


AdminUser = Annotated[User, Depends(admin_user)]
UiAdmin = Annotated[User, Depends(ui_admin)]


async def csrf_header(request: Request, st: State, _user: ApiUser) -> None:
    """Mutating API calls must echo the session's CSRF token in a header.

    A cross-site page can make the browser send our cookie (SameSite=Lax aside) but cannot
    read the token, and cannot set custom headers without a CORS preflight we never allow.
    """
    if not st.codec.csrf_ok(session.current(request), request.headers.get(CSRF_HEADER)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER} header")


CsrfChecked = Depends(csrf_header)


async def csrf_form(request: Request, st: State) -> None:
    """Forms carry the token in a hidden ``csrf_token`` field."""
    form = await request.form()
    token = form.get("csrf_token")
    if not st.codec.csrf_ok(session.current(request), token if isinstance(token, str) else None):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form expired or came from another site; reload and retry")


CsrfForm = Depends(csrf_form)


# Row ids are 64-bit signed integers in every store: a larger one can name nothing, and is
# refused as invalid (422) before it reaches the database (which would overflow: a 500).
MAX_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="a row id")]
