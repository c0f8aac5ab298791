"""One folder watched with IMAP IDLE (RFC 2177) on a connection of its own, in a thread.

The idler does not sync: it tells its owner "something changed in this folder" (new mail,
expunges, flag changes, or a reconnect after which anything may have changed) and the owner
syncs. It reconnects after a dropped connection with backoff, for as long as it runs; a
server without IDLE ends it in :attr:`IdlerState.UNSUPPORTED` (the owner polls instead).
"""

from __future__ import annotations

import imaplib
import logging
import select
import threading
import time
from collections.abc import Callable
from enum import StrEnum

from imapclient import IMAPClient

from beacon.errors import ImapAuthError, ImapConfigError, ImapNetworkError
from beacon.imap.connection import NETWORK_ERRORS, ImapEndpoint, session

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
CHECK_EVERY = 1.0  # seconds between looks at the stop flag while idling
# Untagged responses that mean the folder changed ("OK Still here" keep-alives do not).
CHANGES = {b"EXISTS", b"EXPUNGE", b"FETCH", b"VANISHED"}
# A socket that keeps polling readable with no line to read has been closed by the peer
# (imapclient's idle_check hides the EOF); TLS records without data can do it once or twice.
EMPTY_READS_CLOSED = 3


class IdlerState(StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    IDLING = "idling"
    BACKOFF = "backoff"  # waiting to reconnect after a fault
    UNSUPPORTED = "unsupported"  # the server has no IDLE: ended, the owner polls
    STOPPED = "stopped"


class FolderIdler:
    def __init__(
        self,
        endpoint: ImapEndpoint,
        folder: str,
        on_change: Callable[[], None],
        *,
        backoff: float = 2.0,
        renew: float = 25 * 60.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.folder = folder
        self.on_change = on_change
        self.backoff = backoff
        self.renew = renew
        self._stop = stop or threading.Event()
        self._own_stop = stop is None
        self.state = IdlerState.NEW
        self.connects = 0  # successful IDLE sessions started (reconnects = connects - 1)
        self.faults = 0
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._client: IMAPClient | None = None

    # -- life cycle ------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"beacon-imap-idle-{self.folder}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end; a blocked read ends within CHECK_EVERY seconds."""
        if self._own_stop:
            self._stop.set()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        attempt = 0
        try:
            while not self._stop.is_set():
                self.state = IdlerState.CONNECTING
                try:
                    if self._session():
                        return  # UNSUPPORTED
                    attempt = 0
                except (ImapNetworkError, *NETWORK_ERRORS) as exc:
                    self._fault(exc)
                except (ImapAuthError, ImapConfigError, imaplib.IMAP4.error) as exc:
                    # The user can fix these (password, certificate, a folder gone): retry, slowly.
                    attempt = max(attempt, 5)
                    self._fault(exc)
                attempt += 1
                delay = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF)
                if self._stop.is_set():
                    break
                self.state = IdlerState.BACKOFF
                log.info("imap idle reconnecting", extra={"folder": self.folder, "delay": delay,
                                                          "error": self.last_error})
                self._stop.wait(delay)
        except Exception:  # a bug must not leave the state "idling" for ever
            log.exception("imap idler crashed", extra={"folder": self.folder})
        finally:
            if self.state != IdlerState.UNSUPPORTED:
                self.state = IdlerState.STOPPED

    def _fault(self, exc: BaseException) -> None:
        self.faults += 1
        self.last_error = str(exc) or exc.__class__.__name__

    # -- one connection ----------------------------------------------------------
    def _session(self) -> bool:
        """Idle until stopped or the connection fails; True when the server lacks IDLE."""
        with session(self.endpoint) as client:
            if not client.has_capability("IDLE"):
                self.state = IdlerState.UNSUPPORTED
                log.info("imap server has no IDLE: polling", extra={"imap_host": self.endpoint.address})
                return True
            client.select_folder(self.folder, readonly=True)
            self.connects += 1
            # Whatever happened before IDLE began (while away, or since the owner's last sync)
            # is only seen by a sync: ask for one.
            self.on_change()
            while not self._stop.is_set():
                self._idle_once(client)
            return False

    def _idle_once(self, client: IMAPClient) -> None:
        """One IDLE command, ended after ``renew`` seconds (servers drop clients idle for 30
        minutes) or at stop; changes are reported as they come."""
        client.idle()
        self.state = IdlerState.IDLING
        started = time.monotonic()
        empty = 0
        changed = False
        while not self._stop.is_set() and time.monotonic() - started < self.renew:
            if not select.select([client.socket()], [], [], CHECK_EVERY)[0]:
                continue
            responses = client.idle_check(timeout=0)
            if not responses:
                empty += 1
                if empty >= EMPTY_READS_CLOSED:
                    raise ImapNetworkError(f"{self.endpoint.address} closed the connection")
                continue
            empty = 0
            for resp in responses:
                if len(resp) >= 1 and resp[0] == b"BYE":
                    raise ImapNetworkError(f"{self.endpoint.address} said BYE: {resp[1:]!r}")
                if len(resp) >= 2 and resp[1] in CHANGES:
                    changed = True
            if changed:
                changed = False
                self.on_change()
        _, trailing = client.idle_done()
        if any(len(r) >= 2 and r[1] in CHANGES for r in trailing):
            self.on_change()
