"""Local users, password hashing (argon2id), what a session holds, and CSRF tokens.

A session (kept in a signed cookie by ``beacon.web.session``) carries only a random session id,
the user id and a short HMAC of the user's current password hash: no password, hash or key ever
leaves the server. Changing the password changes the hash, so every older session stops
matching; logging out records the session id as revoked (``beacon.web.revoked``). The CSRF
token is an HMAC of the session id under the server key, so it needs no storage and changes
whenever the session does (login).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from beacon.errors import UserError
from beacon.store.schema import User
from beacon.store.tenancy import adopt_unowned

__all__ = [
    "COOKIE_NAME", "PASSWORD_MIN", "SessionCodec", "SessionData", "USERNAME_MAX", "authenticate",
    "check_password", "count_users", "create_user", "delete_user", "find_user", "hash_password", "list_users",
    "new_session", "set_admin", "set_disabled", "set_password",
]

COOKIE_NAME = "beacon_session"
USERNAME_MAX = 100
PASSWORD_MIN = 8

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def count_users(s: Session) -> int:
    return s.scalar(select(func.count(User.id))) or 0


def create_user(s: Session, username: str, password: str, *, admin: bool | None = None) -> User:
    """A new user; the first one is an admin unless ``admin`` says otherwise."""
    username = username.strip()
    if not username or len(username) > USERNAME_MAX or any(c.isspace() for c in username):
        raise UserError(f"username must be 1-{USERNAME_MAX} characters without spaces")
    if len(password) < PASSWORD_MIN:
        raise UserError(f"password must be at least {PASSWORD_MIN} characters")
    if s.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists")
    first = count_users(s) == 0
    user = User(username=username, password_hash=hash_password(password), is_admin=first if admin is None else admin)
    s.add(user)
    s.flush()
    if first:
        adopt_unowned(s, user.id)  # what was imported before any user existed is theirs
    return user


def set_password(s: Session, username: str, password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise UserError(f"password must be at least {PASSWORD_MIN} characters")
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"no user {username!r}")
    user.password_hash = hash_password(password)


# A fixed hash to verify against when the user does not exist, so a wrong username costs
# the same time as a wrong password and logins do not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def authenticate(s: Session, username: str, password: str) -> User | None:
    user = s.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        check_password(_DUMMY_HASH, password)
        return None
    if not check_password(user.password_hash, password) or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


@dataclass(frozen=True)
class SessionData:
    sid: str  # random per session; rotated at login (no session fixation)
    uid: int | None = None
    pv: str | None = None  # "password version": HMAC of the user's password hash at login

    def as_dict(self) -> dict[str, object]:
        return {"sid": self.sid, "uid": self.uid, "pv": self.pv}

    @classmethod
    def from_dict(cls, raw: object) -> SessionData | None:
        """The session a (signature-checked) cookie holds, or None when it holds none of ours."""
        if not isinstance(raw, dict) or not isinstance(raw.get("sid"), str):
            return None
        uid, pv = raw.get("uid"), raw.get("pv")
        return cls(sid=raw["sid"], uid=uid if isinstance(uid, int) else None, pv=pv if isinstance(pv, str) else None)


def new_session() -> SessionData:
    """A fresh, anonymous session."""
    return SessionData(sid=secrets.token_urlsafe(24))


class SessionCodec:
    """The keys of the session: the cookie's signing key, and what binds a session to a
    password and derives its CSRF token."""

    def __init__(self, secret_key: str, max_age: int) -> None:
        self.secret_key = secret_key  # signs the cookie (beacon.web.session)
        self._csrf_key = hashlib.sha256(("beacon.csrf:" + secret_key).encode()).digest()
        self._pv_key = hashlib.sha256(("beacon.password-version:" + secret_key).encode()).digest()
        self.max_age = max_age

    def new(self, user: User | None = None) -> SessionData:
        """A fresh session id, logged in as ``user`` (bound to its current password) or anonymous."""
        if user is None:
            return new_session()
        return SessionData(sid=secrets.token_urlsafe(24), uid=user.id, pv=self._password_version(user.password_hash))

    def _password_version(self, password_hash: str) -> str:
        return hmac.new(self._pv_key, password_hash.encode(), hashlib.sha256).hexdigest()[:22]

    def belongs_to(self, data: SessionData, user: User) -> bool:
        """The session was made for ``user`` with the password it has now."""
        return (
            data.uid == user.id
            and data.pv is not None
            and hmac.compare_digest(data.pv, self._password_version(user.password_hash))
        )

    def csrf_token(self, data: SessionData) -> str:
        return hmac.new(self._csrf_key, data.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, data: SessionData | None, token: str | None) -> bool:
        if data is None or not token:
            return False
        return hmac.compare_digest(self.csrf_token(data), token)


# -- managing users (the admin's page and ``beacon user``) ------------------------------------------
def list_users(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.id)))


def find_user(s: Session, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise UserError(f"no user {username!r}")
    return user


def _other_active_admins(s: Session, user: User) -> int:
    return s.scalar(select(func.count(User.id)).where(
        User.is_admin.is_(True), User.disabled.is_(False), User.id != user.id)) or 0


def set_disabled(s: Session, username: str, disabled: bool) -> User:
    """Disable (every session ends, no login) or enable a user; the last admin stays."""
    user = find_user(s, username)
    if disabled and user.is_admin and _other_active_admins(s, user) == 0:
        raise UserError(f"{user.username!r} is the last active admin; promote another user first")
    user.disabled = disabled
    return user


def set_admin(s: Session, username: str, admin: bool) -> User:
    """Promote to admin, or demote (never the last admin)."""
    user = find_user(s, username)
    if not admin and user.is_admin and _other_active_admins(s, user) == 0:
        raise UserError(f"{user.username!r} is the last active admin; promote another user first")
    user.is_admin = admin
    return user


def delete_user(s: Session, username: str) -> None:
    """Delete a user with everything they own: accounts, mail, analyses, runs, settings."""
    from beacon.store.schema import Account, Run, UserSetting  # noqa: PLC0415 - only here

    user = find_user(s, username)
    if user.is_admin and _other_active_admins(s, user) == 0:
        raise UserError(f"{user.username!r} is the last active admin; promote another user first")
    # Explicit deletes: SQLite cascades only with foreign keys on, and mail is the bulk of it.
    for account in list(s.scalars(select(Account).where(Account.user_id == user.id))):
        s.delete(account)
    s.flush()
    for table in (Run, UserSetting):
        for row in list(s.scalars(select(table).where(table.user_id == user.id))):
            s.delete(row)
    s.delete(user)
    s.flush()
