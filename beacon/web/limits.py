"""Request body limits, applied before any route reads (or spools) a byte.

Every request body is capped at ``body_max_bytes`` (small: forms and JSON), so an anonymous
client cannot make the server buffer or spool a big body: a declared ``Content-Length`` over
the cap is answered 413 without reading, a streamed body is cut off as soon as it passes the
cap. Only the upload routes get the larger ``upload_max_bytes``, and only once the session is
known to be logged in. The middleware sits inside the session middleware (it needs the
session; that one reads only the cookie) and outside everything that reads a body.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from beacon.web.auth import SessionData
from beacon.web.state import WebState

__all__ = ["BodyLimit", "BodyTooLarge", "UPLOAD_ROUTES"]

UPLOAD_ROUTES = frozenset({("POST", "/api/jobs/import/upload"), ("POST", "/jobs/import")})


class BodyTooLarge(HTTPException):
    """413; raised from ``receive`` while a route reads the body (FastAPI lets it through to
    the app's error handler), or answered directly when nothing has been sent yet."""

    def __init__(self, limit: int, upload: bool) -> None:
        what = "an upload" if upload else "a request body (log in to upload files)"
        super().__init__(413, f"{what} may be at most {_size(limit)}")


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


class BodyLimit:
    def __init__(self, app: ASGIApp, state: WebState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = (scope["method"], scope["path"]) in UPLOAD_ROUTES and await run_in_threadpool(self._logged_in, scope)
        limit = int(self.state.settings.upload_max_bytes if upload else self.state.settings.body_max_bytes)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, BodyTooLarge(limit, upload))
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, upload)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:  # read outside a route (middleware): answer here
            if started:
                raise
            await self._refuse(scope, receive, send, exc)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: BodyTooLarge) -> None:
        # The app's own error handler: JSON for the API, the error page for a browser.
        handler = scope["app"].exception_handlers[HTTPException]
        response = await handler(Request(scope, receive), exc)
        response.headers["Connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)

    def _logged_in(self, scope: Scope) -> bool:
        from beacon.web.deps import session_user  # deps imports the app's state; avoid a cycle

        data = SessionData.from_dict(scope.get("session"))
        if data is None or data.uid is None:
            return False
        with self.state.db.session() as s:
            return session_user(s, self.state, data) is not None
