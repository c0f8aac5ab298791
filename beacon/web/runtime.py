"""What ``beacon serve`` adds around the app: the real engine and IMAP scheduler, the demo
mailbox, and the first login user."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from beacon.engine.host import EngineFactory
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.web.auth import count_users, create_user
from beacon.web.protocol import GracefulHttpProtocol
from beacon.store.app_settings import SettingsUpdate, apply_update
from beacon.web.state import Scheduler

__all__ = [
    "ADMIN_USER", "DEMO_PASSWORD", "DEMO_USER", "DemoImport", "FirstUser", "engine_factory",
    "ensure_user", "scheduler_factory", "setup_demo", "uvicorn_options", "uvicorn_proxy_options",
]

log = logging.getLogger(__name__)

DEMO_USER = "demo"
# Documented in the README; only ever created by ``beacon serve --demo`` on a fresh install.
DEMO_PASSWORD = "beacon-demo"
ADMIN_USER = "admin"


def uvicorn_proxy_options(settings: Settings) -> dict[str, object]:
    """uvicorn's proxy options from ``trusted_proxies``. uvicorn trusts X-Forwarded-For from
    127.0.0.1 by default, which would let any local client pick its address; without a
    configured proxy the headers are not read at all."""
    trusted = settings.trusted_proxies.strip()
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def uvicorn_options(settings: Settings) -> dict[str, object]:
    """Everything ``beacon serve`` passes to uvicorn: the proxy options, how long an idle
    connection stays open (``web_keep_alive``) and the HTTP protocol that stops gracefully."""
    return {**uvicorn_proxy_options(settings), "timeout_keep_alive": settings.web_keep_alive,
            "http": GracefulHttpProtocol}


def engine_factory() -> EngineFactory:
    from beacon.engine.remote import EngineProcess
    from beacon.engine.service import EngineService

    def make(settings: Settings, db: Database) -> EngineService:
        if settings.engine_process:
            return EngineProcess(settings, db)  # type: ignore[return-value]  # the same calls
        return EngineService(settings, db)

    return make


def scheduler_factory() -> Callable[[Settings, Database, Callable[[list[int]], None]], Scheduler]:
    from beacon.imap.watcher import ImapWatcher
    from beacon.imap.writeback import pending_accounts

    def make(settings: Settings, db: Database, on_new_mail: Callable[[list[int]], None]) -> Scheduler:
        return ImapWatcher(settings, db, on_new_mail, pending=pending_accounts)

    return make


@dataclass(frozen=True)
class FirstUser:
    username: str
    password: str


def ensure_user(db: Database, *, demo: bool) -> FirstUser | None:
    """Create the first login user when there is none; returns it (with its password) if made."""
    with db.session() as s:
        if count_users(s) > 0:
            return None
        if demo:
            first = FirstUser(DEMO_USER, DEMO_PASSWORD)
        else:
            first = FirstUser(ADMIN_USER, secrets.token_urlsafe(12))
        create_user(s, first.username, first.password)
    return first


@dataclass(frozen=True)
class DemoImport:
    imported: int
    duplicates: int
    failed: int


def _demo_owner(s: Session) -> int | None:
    """Whose the demo mail is: the demo user's, else the oldest admin's; with no user yet,
    nobody's until the first user is made (who adopts it)."""
    from sqlalchemy import select

    from beacon.store.schema import User

    demo = s.scalar(select(User.id).where(User.username == DEMO_USER))
    return demo if demo is not None else s.scalar(select(User.id).where(User.is_admin.is_(True)).order_by(User.id))


def setup_demo(db: Database, settings: Settings) -> DemoImport:
    """Import the demo mailbox into its account (idempotent) and set Alex's addresses and VIPs."""
    from beacon.demo import DEMO_ACCOUNT, DEMO_MBOX, DEMO_OWN_ADDRESSES, DEMO_VIP_SENDERS
    from beacon.ingest.importer import import_items
    from beacon.ingest.sources import detect
    from beacon.store.emails import get_or_create_account

    with db.session() as s:
        owner = _demo_owner(s)
    summary = import_items(db, detect(str(DEMO_MBOX)).iter_items(), account=DEMO_ACCOUNT, user_id=owner,
                           settings=settings)
    with db.session() as s:
        acc = get_or_create_account(s, DEMO_ACCOUNT, user_id=owner)
        acc.addresses = list(DEMO_OWN_ADDRESSES)
        apply_update(s, settings, SettingsUpdate(own_addresses=DEMO_OWN_ADDRESSES, vip_senders=DEMO_VIP_SENDERS),
                     owner)
    log.info("demo mailbox: %d imported, %d already there", summary.imported, summary.duplicates)
    return DemoImport(summary.imported, summary.duplicates, summary.failed)
