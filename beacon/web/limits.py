"""Request body limits, applied before any route reads (or spools) a byte.

Every request body is capped at ``body_max_bytes`` (small: forms and JSON) by Starlette's
``RequestBodyLimitMiddleware``, outside everything else, so an anonymous client cannot make
the server buffer or spool a big body: a declared ``Content-Length`` over the cap is answered
413 before reading, a streamed body is cut off as soon as it passes the cap. Only the upload
routes get the larger ``upload_max_bytes``, and only once the session is known to be logged
in (:class:`UploadAllowance`, inside the session middleware).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from beacon.web.auth import SessionData
from beacon.web.state import WebState

__all__ = ["RequestBodyLimitMiddleware", "UPLOAD_ROUTES", "UploadAllowance"]

UPLOAD_ROUTES = frozenset({("POST", "/api/jobs/import/upload"), ("POST", "/jobs/import")})


class UploadAllowance:
    """Raises the body cap to ``upload_max_bytes`` on upload routes for logged-in sessions."""

    def __init__(self, app: ASGIApp, state: WebState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and (scope["method"], scope["path"]) in UPLOAD_ROUTES
                and await run_in_threadpool(self._logged_in, scope)):
            # Nested inside the outer cap: Starlette raises that responder's limit to this one.
            inner = RequestBodyLimitMiddleware(self.app, int(self.state.settings.upload_max_bytes))
            await inner(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _logged_in(self, scope: Scope) -> bool:
        from beacon.web.deps import session_user  # deps imports the app's state; avoid a cycle

        data = SessionData.from_dict(scope.get("session"))
        if data is None or data.uid is None:
            return False
        with self.state.db.session() as s:
            return session_user(s, self.state, data) is not None
