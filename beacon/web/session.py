"""ASGI middleware that gives every request a signed session (``request.state.session``).

A route logs in or out by assigning a new :class:`~beacon.web.auth.SessionData` to
``request.state.session``; the middleware then writes the cookie. An unchanged, already
stored session is not re-sent, so most responses carry no Set-Cookie at all.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from beacon.web.auth import COOKIE_NAME, SessionCodec


class SessionMiddleware:
    def __init__(self, app: ASGIApp, codec: SessionCodec, *, secure: bool) -> None:
        self.app = app
        self.codec = codec
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        data = self.codec.loads(_cookie(scope, COOKIE_NAME))
        fresh = data is None
        original = data or self.codec.new()
        state = scope.setdefault("state", {})
        state["session"] = original

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                current = state.get("session", original)
                if fresh or current is not original:
                    headers = MutableHeaders(scope=message)
                    headers.append("Set-Cookie", self._cookie_header(self.codec.dumps(current)))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie_header(self, value: str) -> str:
        parts = [
            f"{COOKIE_NAME}={value}",
            "Path=/",
            f"Max-Age={self.codec.max_age}",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed Cookie header means "no session"
                continue
            if name in jar:
                return jar[name].value
    return None
