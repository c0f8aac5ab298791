"""Periodic background sync of every IMAP account, for ``beacon serve``.

One daemon thread: sync all IMAP accounts one after the other, then wait
``settings.sync_interval`` seconds (or until :meth:`SyncScheduler.sync_now`). Errors are
recorded per account by :func:`beacon.imap.sync.sync_account` and never end the thread.
:meth:`stop` interrupts a running sync between batches and during reconnect backoff.
"""

from __future__ import annotations

import logging
import threading

from beacon.crypto import PasswordCipher
from beacon.imap.accounts import imap_accounts
from beacon.errors import ImapError
from beacon.imap.folder_sync import SyncCancelled
from beacon.imap.lock import SyncBusy
from beacon.imap.sync import NewMailFn, SyncResult, sync_account
from beacon.settings import Settings
from beacon.store.db import Database

log = logging.getLogger(__name__)


class SyncScheduler:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        on_new_mail: NewMailFn | None = None,
        *,
        interval: float | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.on_new_mail = on_new_mail
        self.interval = settings.sync_interval if interval is None else interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0  # completed passes over all accounts (for status pages and tests)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; does nothing when the interval is 0 (background sync off)."""
        if self.interval <= 0 or self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="beacon-imap-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("imap sync thread did not stop within %.0fs", timeout)
            self._thread = None

    def sync_now(self) -> None:
        """Start the next pass at once (e.g. the web UI's "sync now")."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._wake.wait(self.interval)
            self._wake.clear()

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise SyncCancelled("background sync stopped")

    def run_once(self) -> list[SyncResult]:
        """One pass over every IMAP account; returns the results of those that succeeded."""
        with self.db.session() as s:
            accounts = [(a.id, a.name) for a in imap_accounts(s)]
        results = []
        cipher = PasswordCipher.from_settings(self.settings)
        for account_id, name in accounts:
            if self._stop.is_set():
                break
            try:
                results.append(
                    sync_account(
                        self.db, self.settings, name, cipher=cipher,
                        on_new_mail=self.on_new_mail, sleep=self._sleep, cancel=self._stop, account_id=account_id,
                    )
                )
            except SyncCancelled:
                break
            except SyncBusy:  # `beacon sync` is on it right now; the next pass catches up
                log.info("account busy; skipped this pass", extra={"account": name})
            except ImapError as exc:  # recorded on the account by sync_account
                log.warning("background sync failed", extra={"account": name, "error": str(exc)})
            except Exception:  # noqa: BLE001 - a bug in one account's sync must not kill the thread
                log.exception("background sync crashed", extra={"account": name})
        self.passes += 1
        return results
