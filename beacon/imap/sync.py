"""Sync one IMAP account: every configured folder, reconnecting with backoff on network faults.

Authentication and configuration errors stop at once (retrying a wrong password only gets
an account locked); network faults reconnect after ``imap_backoff * 2**n`` seconds, and the
folder sync resumes from what the store already holds. The outcome is recorded on the
account (``last_sync_at``, ``last_error``) and as a ``Run`` with progress events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from beacon.crypto import PasswordCipher
from beacon.errors import ImapError, ImapNetworkError
from beacon.imap.accounts import endpoint_for
from beacon.imap.connection import NETWORK_ERRORS, session
from beacon.imap.flag_states import apply_server_changes, initial_states
from beacon.imap.folder_sync import FolderError, FolderResult, FolderSync, SyncCancelled
from beacon.imap.lock import account_lock
from beacon.imap.mailbox import enable_qresync
from beacon.imap.writeback import PushResult, Writeback
from beacon.ingest.prepare import Preparer
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.owner import make_owner
from beacon.store.runs import RunKind, RunRecorder, RunStatus
from beacon.store.schema import Account, utcnow

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
RETRYABLE: tuple[type[BaseException], ...] = (ImapNetworkError, *NETWORK_ERRORS)

NewMailFn = Callable[[list[int]], None]
ProgressFn = Callable[["SyncResult", FolderResult], None]


@dataclass
class SyncResult:
    account: str
    folders: dict[str, FolderResult] = field(default_factory=dict)
    reconnects: int = 0
    error: str | None = None
    run_id: int | None = None
    push: PushResult = field(default_factory=PushResult)  # Beacon's actions written to the server

    def total(self, attr: str) -> int:
        return sum(int(getattr(f, attr)) for f in self.folders.values())

    @property
    def new_email_ids(self) -> list[int]:
        return [i for f in self.folders.values() for i in f.new_email_ids]

    def summary(self) -> dict[str, Any]:
        keys = ("new", "existing", "fetched", "remapped", "flags_changed", "imap_actions", "deleted", "failed")
        return {
            **{k: self.total(k) for k in keys},
            "reconnects": self.reconnects,
            "push": self.push.as_dict(),
            "folders": {name: f.as_dict() for name, f in self.folders.items()},
        }


def backoff_delay(settings: Settings, attempt: int) -> float:
    return min(settings.imap_backoff * (2 ** (attempt - 1)), MAX_BACKOFF)


def sync_account(
    db: Database,
    settings: Settings,
    account: str,
    *,
    cipher: PasswordCipher | None = None,
    on_progress: ProgressFn | None = None,
    on_new_mail: NewMailFn | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
    account_id: int | None = None,
) -> SyncResult:
    """Sync the named IMAP account (``account_id`` picks it when several users have one of
    that name). Raises ImapAuthError / ImapConfigError at once,
    ImapNetworkError after ``settings.imap_retries`` reconnects without progress,
    SyncBusy when another process is syncing the account."""
    with db.session() as s:
        account_id = _lookup(s, account, account_id).id
    with account_lock(settings, account_id, account):
        return _sync_locked(
            db, settings, account, account_id, cipher=cipher, on_progress=on_progress,
            on_new_mail=on_new_mail, sleep=sleep, cancel=cancel,
        )


def _lookup(s: Session, account: str, account_id: int | None) -> Account:
    if account_id is not None:
        acc = s.get(Account, account_id)
        if acc is None:
            raise ImapError(f"no account {account_id} ({account!r})")
        return acc
    found = list(s.scalars(select(Account).where(Account.name == account).limit(2)))
    if not found:
        raise ImapError(f"no account named {account!r}")
    if len(found) > 1:
        raise ImapError(f"several users have an account named {account!r}; say whose")
    return found[0]


def _sync_locked(
    db: Database,
    settings: Settings,
    account: str,
    account_id: int,
    *,
    cipher: PasswordCipher | None,
    on_progress: ProgressFn | None,
    on_new_mail: NewMailFn | None,
    sleep: Callable[[float], None],
    cancel: threading.Event | None,
) -> SyncResult:
    cipher = cipher or PasswordCipher.from_settings(settings)
    with db.session() as s:
        acc = _lookup(s, account, account_id)
        folders, user_id = list(acc.folders or ["INBOX"]), acc.user_id
        try:
            ep = endpoint_for(acc, cipher, settings)
        except ImapError as exc:
            config_error: ImapError | None = exc
        else:
            config_error = None
    if config_error is not None:
        _record(db, account_id, ok=False, error=str(config_error))
        raise config_error
    result = SyncResult(account=account)
    run = RunRecorder.start(db, RunKind.SYNC, make_owner(), params={"account": account}, user_id=user_id)
    result.run_id = run.run_id
    prefix = f"imap://{ep.user}@{ep.host}:{ep.port}"

    def on_batch(fr: FolderResult) -> None:
        run.progress(done=fr.fetched + fr.remapped, total=fr.pending, data={"folder": fr.folder})
        if on_progress is not None:
            on_progress(result, fr)

    pending = list(folders)
    attempt = 0
    preparer: Preparer[Any] = Preparer(settings.parse_workers)
    try:
        while pending:
            progress_mark = _progress_mark(result)
            try:
                with session(ep) as client:
                    qresync = enable_qresync(client)  # before any SELECT: ENABLE is refused after
                    # Beacon's actions first: the pull then finds the server in step with them.
                    writeback = Writeback(db, client, account_id, level_keywords=settings.imap_level_keywords)
                    _add_push(result.push, writeback.run())
                    while pending:
                        name = pending[0]
                        fr = result.folders.setdefault(name, FolderResult(folder=name))
                        fr.error = None
                        try:
                            FolderSync(
                                db, client, account_id=account_id, name=name, source_prefix=prefix,
                                batch_size=settings.imap_batch_size,
                                batch_bytes=settings.imap_batch_bytes,
                                result=fr, on_batch=on_batch, cancel=cancel, preparer=preparer,
                                max_message_bytes=settings.max_message_bytes,
                                on_flag_changes=_take_changes, on_new_emails=initial_states,
                                qresync=qresync,
                            ).run()
                        except FolderError as exc:
                            fr.error = str(exc)
                            log.warning("folder not synced", extra={"account": account, "error": str(exc)})
                        gone, fr.gone_email_ids = fr.gone_email_ids, []
                        result.push.archived_elsewhere += writeback.follow_archived(gone)
                        found, fr.found_email_ids = fr.found_email_ids, []
                        result.push.unarchived_elsewhere += writeback.follow_unarchived(name, found)

                        pending.pop(0)
                        if on_progress is not None:
                            on_progress(result, fr)
            except RETRYABLE as exc:
                # Progress since the last fault means the link works at times: keep going.
                attempt = 1 if _progress_mark(result) > progress_mark else attempt + 1
                if attempt > settings.imap_retries:
                    raise ImapNetworkError(
                        f"{ep.address}: giving up after {result.reconnects} reconnects: {exc}"
                    ) from exc
                delay = backoff_delay(settings, attempt)
                log.warning(
                    "imap connection lost; reconnecting",
                    extra={"account": account, "error": repr(exc), "delay": delay, "attempt": attempt},
                )
                run.event("reconnect", {"error": str(exc), "delay": delay, "attempt": attempt})
                result.reconnects += 1
                sleep(delay)
    except SyncCancelled as exc:
        result.error = str(exc)
        _finish(run, RunStatus.INTERRUPTED, result)
        _notify(on_new_mail, result)
        raise
    except ImapError as exc:
        result.error = str(exc)
        _record(db, account_id, ok=False, error=str(exc))
        _finish(run, RunStatus.FAILED, result)
        _notify(on_new_mail, result)
        raise
    except Exception as exc:
        # A bug or a database failure: the run must not stay "running" for ever.
        result.error = f"{exc.__class__.__name__}: {exc}"
        _finish(run, RunStatus.FAILED, result)
        raise
    finally:
        preparer.close()
    folder_errors = [f.error for f in result.folders.values() if f.error]
    failed = result.total("failed")
    if failed:
        folder_errors.append(f"{failed} message(s) could not be stored (see the log)")
    if result.push.refused:
        folder_errors.append(f"the server refused {result.push.refused} write-back(s) (see the log)")
    result.error = "; ".join(folder_errors) or None
    _record(db, account_id, ok=True, error=result.error)
    _finish(run, RunStatus.DONE, result)
    log.info("imap sync finished", extra={"account": account, **result.summary()})
    _notify(on_new_mail, result)
    return result


def _take_changes(s: Session, changes: list[tuple[int, list[str], list[str]]]) -> int:
    return len(apply_server_changes(s, changes))


def _add_push(total: PushResult, more: PushResult) -> None:
    for name, value in more.as_dict().items():
        setattr(total, name, getattr(total, name) + value)


def _finish(run: RunRecorder, status: RunStatus, result: SyncResult) -> None:
    summary = result.summary()
    run.finish(status, error=result.error, summary=summary, failed=int(summary["failed"]))


def _progress_mark(result: SyncResult) -> int:
    return result.total("fetched") + result.total("remapped")


def _record(db: Database, account_id: int, *, ok: bool, error: str | None) -> None:
    with db.session() as s:
        acc = s.get(Account, account_id)
        if acc is None:
            return
        if ok:
            acc.last_sync_at = utcnow()
        acc.last_error = error


def _notify(on_new_mail: NewMailFn | None, result: SyncResult) -> None:
    """Hand new mail to the analysis engine; its failure must not fail the sync."""
    ids = result.new_email_ids
    if on_new_mail is None or not ids:
        return
    try:
        on_new_mail(ids)
    except Exception:  # noqa: BLE001 - analysis problems are the engine's to report
        log.exception("analysing newly synced mail failed", extra={"account": result.account})
