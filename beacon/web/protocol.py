"""uvicorn's HTTP protocol with a graceful stop that drops no request a client has already sent.

On shutdown, uvicorn closes at once every connection that is not in the middle of a request: a
new connection whose request bytes are still in the socket buffer, or a keep-alive one whose
next request is. The client then gets "Server disconnected without sending a response" for a
request the server never read. Here such a connection is given ``REQUEST_GRACE`` to begin a
request; one that does is answered (with ``Connection: close``), one that does not is closed.
Requests already in flight are untouched: uvicorn lets them finish.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["REQUEST_GRACE", "GracefulHttpProtocol"]

# A client writes its request as soon as its connection is accepted, so what is on the way
# arrives within milliseconds; a connection still silent after this is idle and is closed.
REQUEST_GRACE = 0.5


class GracefulHttpProtocol(HttpToolsProtocol):
    _draining = False

    def shutdown(self) -> None:
        if self._draining or self.transport.is_closing():
            return
        self._draining = True
        if self.cycle is not None and not self.cycle.response_complete:
            super().shutdown()  # in flight: answered, then closed
            return
        # Idle for all the server has read: its request may already be on the way.
        self.loop.call_later(REQUEST_GRACE, self._close_after_grace)

    def _close_after_grace(self) -> None:
        # A request begun in the grace period is answered before the connection closes.
        super().shutdown()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False
