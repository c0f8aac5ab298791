"""Keeps Beacon and every IMAP account in step while ``beacon serve`` runs.

One supervisor thread owns, per account, a :class:`FolderIdler` per watched folder (IDLE on
a connection of its own) and syncs the account (write-back of Beacon's actions, then the
server's changes: :func:`beacon.imap.sync.sync_account`) when

- an idler reports a change, or reconnected after a fault (it may have missed some);
- Beacon has actions not yet written to the server (``imap_pending`` says which accounts);
- the account is polled: IDLE is off or the server lacks it (every ``sync_interval``), or
  as a safety net with IDLE working (every ``imap_idle_resync``);
- :meth:`ImapWatcher.sync_now` asks.

Syncs run one after the other in the supervisor thread (the database sees one writer);
idlers only wait on sockets. Accounts added, changed or removed are picked up on the next
pass. :meth:`stop` ends the idlers and interrupts a sync between batches and in backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from beacon.crypto import PasswordCipher
from beacon.errors import ImapAuthError, ImapError, SyncBusy, SyncCancelled
from beacon.imap.accounts import endpoint_for, imap_accounts
from beacon.imap.connection import ImapEndpoint
from beacon.imap.idle import FolderIdler, IdlerState
from beacon.imap.sync import MAX_BACKOFF, NewMailFn, SyncResult, sync_account
from beacon.settings import Settings
from beacon.store.db import Database

log = logging.getLogger(__name__)

# IDLE needs a connection per folder and servers limit connections per user (Dovecot: 10);
# folders past these are polled.
MAX_IDLE_FOLDERS = 5
BUSY_RETRY = 2.0  # seconds before syncing an account another process was syncing
# Accounts with actions waiting to be written to the server: {account id}.
PendingFn = Callable[[Database], set[int]]


class WatcherState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass
class AccountWatch:
    account_id: int
    name: str
    endpoint: ImapEndpoint | None  # None: not usable (no password...): polled, no idlers
    folders: tuple[str, ...]
    idlers: dict[str, FolderIdler] = field(default_factory=dict)
    changed: threading.Event = field(default_factory=threading.Event)
    last_sync: float | None = None  # time.monotonic() of the last sync attempt
    not_before: float = 0.0  # after a failure (or another process syncing it): no sync before
    failures: int = 0  # syncs failed in a row (the backoff grows with them)
    syncs: int = 0

    @property
    def idling(self) -> bool:
        """Every folder watched by IDLE (else the account is polled)."""
        return len(self.idlers) == len(self.folders) and all(
            i.alive and i.state != IdlerState.UNSUPPORTED for i in self.idlers.values())


class ImapWatcher:
    """Replaces the fixed-interval scheduler: ``start()``, ``stop()``, ``sync_now()``."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        on_new_mail: NewMailFn | None = None,
        *,
        pending: PendingFn | None = None,
        push_interval: float = 2.0,
    ) -> None:
        self.settings = settings
        self.db = db
        self.on_new_mail = on_new_mail
        self.pending = pending
        self.push_interval = push_interval  # seconds between looks for actions to write back
        self.state = WatcherState.NEW
        self.accounts: dict[int, AccountWatch] = {}
        self.passes = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._cipher = PasswordCipher.from_settings(settings)

    # -- life cycle ----------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; does nothing when ``sync_interval`` is 0 (background sync off)."""
        if self.running or self.settings.sync_interval <= 0:
            return
        self._stop.clear()
        self.state = WatcherState.RUNNING
        self._thread = threading.Thread(target=self._loop, name="beacon-imap-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.state = WatcherState.STOPPING
        self._stop.set()
        self._wake.set()
        for watch in list(self.accounts.values()):  # now, even if a sync holds the thread
            self._retire(watch)
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("imap watcher did not stop within %.0fs", timeout)
            self._thread = None
        for watch in list(self.accounts.values()):
            for idler in watch.idlers.values():
                idler.join(max(0.0, deadline - time.monotonic()))
        self.state = WatcherState.STOPPED

    def sync_now(self, account_id: int | None = None) -> None:
        """Sync one account (or all) at once, e.g. the web UI's "sync now"."""
        for watch in self.accounts.values():
            if account_id is None or watch.account_id == account_id:
                watch.changed.set()
        self._wake.set()

    # -- the supervisor thread -------------------------------------------------------
    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._reconcile()
                    self._pass()
                except Exception:  # noqa: BLE001 - e.g. the database down for a moment
                    log.exception("imap watcher pass failed")
                self.passes += 1
                self._wake.wait(self._next_wait())
                self._wake.clear()
        finally:
            for watch in self.accounts.values():
                self._retire(watch)

    def _reconcile(self) -> None:
        """Start idlers for new or changed accounts, end those of removed ones."""
        with self.db.session() as s:
            wanted: dict[int, AccountWatch] = {}
            for acc in imap_accounts(s):
                try:
                    ep: ImapEndpoint | None = endpoint_for(acc, self._cipher, self.settings)
                except ImapError:
                    ep = None  # polled: each sync records the error on the account for the user
                wanted[acc.id] = AccountWatch(acc.id, acc.name, ep, tuple(acc.folders or ["INBOX"]))
        for account_id, watch in list(self.accounts.items()):
            new = wanted.get(account_id)
            if new is None or (new.endpoint, new.folders) != (watch.endpoint, watch.folders):
                self._retire(watch)
                del self.accounts[account_id]
        for account_id, new in wanted.items():
            if account_id not in self.accounts:
                self.accounts[account_id] = new
                self._start_idlers(new)

    def _start_idlers(self, watch: AccountWatch) -> None:
        if not self.settings.imap_idle or watch.endpoint is None or self._stop.is_set():
            return
        for folder in watch.folders[:MAX_IDLE_FOLDERS]:
            idler = FolderIdler(watch.endpoint, folder, lambda w=watch: self._changed(w),
                                backoff=self.settings.imap_backoff, renew=self.settings.imap_idle_renew)
            watch.idlers[folder] = idler
            idler.start()

    def _retire(self, watch: AccountWatch) -> None:
        for idler in watch.idlers.values():
            idler.stop()

    def _changed(self, watch: AccountWatch) -> None:
        watch.changed.set()
        self._wake.set()

    def _due(self, watch: AccountWatch, now: float, pending: set[int]) -> bool:
        if watch.not_before > now:
            return False
        if watch.last_sync is None or watch.changed.is_set() or watch.account_id in pending:
            return True
        every = self.settings.imap_idle_resync if watch.idling else self.settings.sync_interval
        return every > 0 and now - watch.last_sync >= every

    def _pass(self) -> None:
        pending = self.pending(self.db) if self.pending is not None else set()
        for watch in list(self.accounts.values()):
            if self._stop.is_set():
                return
            if self._due(watch, time.monotonic(), pending):
                watch.changed.clear()  # a change reported during the sync triggers another
                self._sync(watch)

    def _sync(self, watch: AccountWatch) -> SyncResult | None:
        watch.last_sync = time.monotonic()
        watch.syncs += 1
        try:
            result = sync_account(
                self.db, self.settings, watch.name, cipher=self._cipher, on_new_mail=self.on_new_mail,
                sleep=self._sleep, cancel=self._stop, account_id=watch.account_id,
            )
        except SyncCancelled:
            return None
        except SyncBusy:  # `beacon sync` is on it; try again shortly
            watch.changed.set()
            watch.not_before = time.monotonic() + BUSY_RETRY
            return None
        except ImapError as exc:  # recorded on the account by sync_account
            log.warning("imap sync failed", extra={"account": watch.name, "error": str(exc)})
            self._back_off(watch, auth=isinstance(exc, ImapAuthError))
            return None
        except Exception:  # noqa: BLE001 - one account's bug must not stop the others
            log.exception("imap sync crashed", extra={"account": watch.name})
            self._back_off(watch)
            return None
        watch.failures = 0
        return result

    def _back_off(self, watch: AccountWatch, *, auth: bool = False) -> None:
        """Pending actions or IDLE events must not retry a failing account at once, again and
        again; a wrong password is retried only at the poll interval (servers lock accounts)."""
        watch.failures += 1
        delay = min(self.settings.imap_backoff * 2 ** watch.failures, MAX_BACKOFF)
        if auth:
            delay = max(delay, float(self.settings.sync_interval))
        watch.not_before = time.monotonic() + delay

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise SyncCancelled("imap watcher stopped")

    def _next_wait(self) -> float:
        """Until the next poll is due, at most ``push_interval`` (write-backs wait that long)."""
        wait = self.push_interval if self.pending is not None else 60.0
        now = time.monotonic()
        for watch in self.accounts.values():
            if watch.changed.is_set():
                wait = min(wait, max(0.0, watch.not_before - now))
            every = self.settings.imap_idle_resync if watch.idling else self.settings.sync_interval
            if every > 0 and watch.last_sync is not None:
                wait = min(wait, max(0.0, watch.last_sync + every - now))
        return wait
