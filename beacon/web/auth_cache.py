"""The session's user and the settings in force, kept between requests while they still hold.

Each request needs both: who is logged in (the user's row, the session's password version, the
revoked sessions) and the settings (the stored engine-wide and personal changes, each checked).
That was four queries and a settings merge per request. They are kept here under the number
``beacon.store.changes`` moves on every change of those tables, by any process: a request reads
that one number and uses what was derived under the same number. Logout, a password change, a
disabled or deleted user and a settings save all write those tables, so the next request
derives again. Entries also expire after ``TTL`` seconds: a stored setting is checked against
what is installed (a spaCy model since removed), which no table records.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy.orm import Session

from beacon.settings import Settings
from beacon.store.app_settings import current_settings
from beacon.store.changes import auth_generation
from beacon.store.schema import User
from beacon.web.auth import SessionCodec, SessionData
from beacon.web.revoked import is_revoked

__all__ = ["AuthCache"]

TTL = 30.0
MAX_ENTRIES = 1024  # sessions and users; past it the cache starts over
_GENERATION = "beacon.auth_cache.generation"  # Session.info key: read once per request


class AuthCache:
    def __init__(self, codec: SessionCodec, ttl: float = TTL) -> None:
        self.codec = codec
        self.ttl = ttl
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._entries: dict[Any, tuple[float, Any]] = {}

    def user(self, s: Session, data: SessionData) -> User | None:
        """The session's user, unless the password changed since login, the user was disabled or
        deleted, or the session was revoked; a detached copy, only read by the caller."""
        if data.uid is None:
            return None
        found = self._get(s, ("user", data), lambda: self._load_user(s, data))
        return _copy(found) if found is not None else None

    def settings(self, s: Session, env: Settings, user_id: int | None) -> Settings:
        """The settings in force: ``env`` with the stored changes, and ``user_id``'s own."""
        return self._get(s, ("settings", id(env), user_id), lambda: current_settings(s, env, user_id))

    def _get(self, s: Session, key: Any, load: Any) -> Any:
        generation = s.info.get(_GENERATION)
        if generation is None:
            generation = s.info[_GENERATION] = auth_generation(s)
        now = time.monotonic()
        with self._lock:
            if generation != self._generation or len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
                self._generation = generation
            hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        # Read after the number: what is kept is at least as new as the number it is kept under.
        value = load()
        with self._lock:
            if generation == self._generation:
                self._entries[key] = (now + self.ttl, value)
        return value

    def _load_user(self, s: Session, data: SessionData) -> tuple[Any, ...] | None:
        user = s.get(User, data.uid)
        if user is None or user.disabled or not self.codec.belongs_to(data, user) or is_revoked(s, data.sid):
            return None
        return (user.id, user.username, user.password_hash, user.is_admin, user.disabled, user.created_at)


def _copy(found: tuple[Any, ...]) -> User:
    uid, username, password_hash, is_admin, disabled, created_at = found
    return User(id=uid, username=username, password_hash=password_hash, is_admin=is_admin, disabled=disabled,
                created_at=created_at)
