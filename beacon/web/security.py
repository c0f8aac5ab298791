"""Security headers on every response: a strict Content-Security-Policy and friends.

Pages load scripts, styles and images only from this server (no inline script, no CDN).
A route that needs a different policy (the sandboxed email body) sets its own header,
which is then left alone. Every answer but the static files is ``Cache-Control: no-store``:
pages and API answers carry mail, which must not stay in a shared or browser cache after
logout. A request whose path or query holds a NUL byte is refused (422) before any route
sees it: no file name, search or database text may contain one.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

APP_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# The email body document: nothing may load except inline styles and embedded (data:)
# images; remote images only once the reader allows them. ``sandbox`` repeats the iframe's
# sandbox in the response itself, so opening the URL directly is just as safe.
def email_body_csp(allow_remote_images: bool) -> str:
    img = "img-src data: https: http:" if allow_remote_images else "img-src data:"
    return "; ".join(
        [
            "default-src 'none'",
            "style-src 'unsafe-inline'",
            img,
            "font-src 'none'",
            "form-action 'none'",
            "base-uri 'none'",
            "frame-ancestors 'self'",
            "sandbox allow-popups allow-popups-to-escape-sandbox",
        ]
    )


_DEFAULTS = {
    "Content-Security-Policy": APP_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        cacheable = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _DEFAULTS.items():
                    if name not in headers:
                        headers[name] = value
                if not cacheable:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        if _has_nul(scope):
            response = JSONResponse({"detail": "the request's path or query contains a NUL character"}, 422)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def _has_nul(scope: Scope) -> bool:
    return "\0" in scope["path"] or b"%00" in scope.get("query_string", b"") or b"\0" in scope.get("query_string", b"")
