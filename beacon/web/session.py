"""The request's session, kept by Starlette's ``SessionMiddleware`` in a signed cookie.

The cookie holds a :class:`~beacon.web.auth.SessionData` (a random session id, the user id and
a short HMAC of the user's password hash; nothing secret), signed with a key derived for
sessions alone and checked for age (``session_max_age``) on every request. What makes a
session valid beyond its signature is checked on every request as well, in
``beacon.web.deps``: it must still match the user's current password (a password change logs
out every session), and its id must not have been revoked at logout (``beacon.web.revoked``).
The cookie is only sent when the session changes (the first visit, login, logout).

Routes read the session with :func:`current` and replace it with :func:`replace` (a login
gets a new session id: no fixation).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.middleware.sessions import SessionMiddleware

from beacon.web.auth import COOKIE_NAME, SessionData, new_session

__all__ = ["current", "install", "replace"]


def install(app: FastAPI, secret_key: str, max_age: int, *, secure: bool) -> None:
    app.add_middleware(SessionMiddleware, secret_key=secret_key, session_cookie=COOKIE_NAME,
                       max_age=max_age, same_site="lax", https_only=secure)


def current(request: Request) -> SessionData:
    """This request's session; a fresh anonymous one (stored) when the cookie is missing,
    expired, tampered with or not one of ours."""
    data = SessionData.from_dict(request.session)
    if data is None:
        data = new_session()
        replace(request, data)
    return data


def replace(request: Request, data: SessionData) -> None:
    request.session.clear()
    request.session.update(data.as_dict())
