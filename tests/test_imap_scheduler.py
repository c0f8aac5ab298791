"""The background sync thread of ``beacon serve``, against a real Dovecot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from beacon.imap.scheduler import SyncScheduler
from beacon.store.db import Database
from beacon.store.schema import Account
from tests.imapserver import (
    ACCOUNT,
    DovecotServer,
    add_account,
    append_messages,
    corpus,
    email_count,
    free_port,
    make_settings,
)


def wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_scheduler_syncs_periodically_and_stops(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    user = dovecot.add_user()
    msgs = corpus(5, offset=80)
    append_messages(dovecot, user, msgs[:3])
    settings = make_settings(tmp_path, sqlite_db, dovecot)
    add_account(sqlite_db, settings, dovecot, user)
    batches: list[list[int]] = []
    lock = threading.Lock()

    def on_new_mail(ids: list[int]) -> None:
        with lock:
            batches.append(sorted(ids))

    sched = SyncScheduler(settings, sqlite_db, on_new_mail, interval=0.3)
    sched.start()
    try:
        assert sched.running
        wait_for(lambda: email_count(sqlite_db) == 3)
        append_messages(dovecot, user, msgs[3:])
        wait_for(lambda: email_count(sqlite_db) == 5)  # picked up by a later pass, no prompting
        passes = sched.passes
        wait_for(lambda: sched.passes >= passes + 2)  # keeps running when there is nothing new
    finally:
        sched.stop()
    assert not sched.running
    with lock:
        assert [len(b) for b in batches] == [3, 2]  # each new email handed over exactly once
        assert len(set(batches[0]) | set(batches[1])) == 5
    with sqlite_db.session() as s:
        acc = s.scalar(select(Account).where(Account.name == ACCOUNT))
        assert acc is not None and acc.last_sync_at is not None and acc.last_error is None


def test_scheduler_off_when_interval_is_zero(sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sqlite_db, dovecot, sync_interval=0)
    sched = SyncScheduler(settings, sqlite_db)
    sched.start()
    assert not sched.running
    sched.stop()


def test_scheduler_stops_during_backoff(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    """A refused connection backs off for long; stop() must not wait for the backoff."""
    user = dovecot.add_user()
    settings = make_settings(tmp_path, sqlite_db, dovecot, imap_backoff=30.0, imap_retries=5)
    add_account(sqlite_db, settings, dovecot, user, security="none", port=free_port())
    sched = SyncScheduler(settings, sqlite_db, interval=60)
    sched.start()
    time.sleep(0.5)  # first connection refused; now sleeping 30 s before retrying
    started = time.monotonic()
    sched.stop()
    assert time.monotonic() - started < 5
    assert not sched.running
