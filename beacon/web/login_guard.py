"""Limits on password checks: how many run at once, and how often one address may fail.

Each argon2 verification allocates 64 MiB, so unbounded concurrent logins could exhaust the
server's memory; a small semaphore queues them instead. Failed logins are counted per client
address in a sliding window; past the limit that address gets HTTP 429 until it slides by.
Both live on the app's ``WebState`` (per process, like the memory they protect).
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

__all__ = ["LoginGuard", "MAX_TRACKED"]

MAX_TRACKED = 10_000  # client addresses remembered at most; the oldest are forgotten first


class LoginGuard:
    def __init__(
        self, *, max_failures: int = 10, window: float = 300.0, concurrent: int = 2, wait: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.wait = wait
        self._slots = threading.BoundedSemaphore(concurrent)
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def check(self, client: str) -> None:
        """Raise ``TooManyFailures`` when ``client`` may not try now."""
        now = self._clock()
        with self._lock:
            times = self._recent(client, now)
            if len(times) >= self.max_failures:
                raise TooManyFailures(max(1, int(times[0] + self.window - now) + 1))

    def failed(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            self._recent(client, now).append(now)
            self._failures[client] = self._failures.pop(client)  # most recent last
            while len(self._failures) > MAX_TRACKED:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

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
        """``auth.authenticate`` within the limits; records the outcome for ``client``."""
        self.check(client)
        with self.slot():
            user = authenticate(s, username, password)
        if user is None:
            self.failed(client)
        else:
            self.succeeded(client)
        return user
