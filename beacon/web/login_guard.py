"""Limits on password checks: how many run at once, and how often a login may fail.

Each argon2 verification allocates 64 MiB, so unbounded concurrent logins could exhaust the
server's memory; a small semaphore queues them instead. Failed logins are counted in sliding
windows under two keys: the (client address, username) pair, and the username alone (a
higher limit, against guessing one user's password from many addresses). Past a limit the
login gets HTTP 429 until the window slides by. A success clears only its own pair: logging in
to one's own account never wipes the failures recorded against somebody else's.

The client address is the socket's peer unless a trusted proxy is configured
(``BEACON_TRUSTED_PROXIES``; see :func:`beacon.web.runtime.uvicorn_proxy_options`), so an
``X-Forwarded-For`` header does not choose the key. Both live on the app's ``WebState`` (per
process, like the memory they protect).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from beacon.errors import LoginBusy, TooManyFailures
from beacon.store.schema import User
from beacon.web.auth import authenticate

__all__ = ["FailureWindow", "LoginGuard", "MAX_TRACKED"]

MAX_TRACKED = 10_000  # keys remembered at most per window; the oldest are forgotten first


class FailureWindow:
    """Failures per key in a sliding window of ``window`` seconds, at most ``limit`` each."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[object, deque[float]] = {}

    def retry_after(self, key: object) -> int | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        now = self._clock()
        times = self._recent(key, now)
        if len(times) < self.limit:
            return None
        return max(1, int(times[0] + self.window - now) + 1)

    def add(self, key: object) -> None:
        now = self._clock()
        self._recent(key, now).append(now)
        self._failures[key] = self._failures.pop(key)  # most recent last
        while len(self._failures) > MAX_TRACKED:
            del self._failures[next(iter(self._failures))]

    def clear(self, key: object) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: object, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times


class LoginGuard:
    def __init__(
        self, *, max_failures: int = 10, max_user_failures: int = 30, window: float = 300.0,
        concurrent: int = 2, wait: float = 30.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.wait = wait
        self._slots = threading.BoundedSemaphore(concurrent)
        self._lock = threading.Lock()
        self._pairs = FailureWindow(max_failures, window, clock)  # (address, username)
        self._users = FailureWindow(max_user_failures, window, clock)  # username, from anywhere

    def check(self, client: str, username: str) -> None:
        """Raise ``TooManyFailures`` when ``client`` may not try ``username`` now."""
        with self._lock:
            waits = [w for w in (self._pairs.retry_after((client, username)), self._users.retry_after(username))
                     if w is not None]
        if waits:
            raise TooManyFailures(max(waits))

    def failed(self, client: str, username: str) -> None:
        with self._lock:
            self._pairs.add((client, username))
            self._users.add(username)

    def succeeded(self, client: str, username: str) -> None:
        with self._lock:
            self._pairs.clear((client, username))

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the few password-check slots (``LoginBusy`` if none frees up in time)."""
        if not self._slots.acquire(timeout=self.wait):
            raise LoginBusy("the server is busy checking other logins; try again shortly")
        try:
            yield
        finally:
            self._slots.release()

    def authenticate(self, s: Session, client: str, username: str, password: str) -> User | None:
        """``auth.authenticate`` within the limits; records the outcome."""
        username = username.strip()
        self.check(client, username)
        with self.slot():
            user = authenticate(s, username, password)
        if user is None:
            self.failed(client, username)
        else:
            self.succeeded(client, username)
        return user
