"""The IMAP watcher of ``beacon serve`` against a real Dovecot: IDLE, reconnects, polling."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import select

from beacon.imap.idle import IdlerState
from beacon.imap.watcher import ImapWatcher, WatcherState
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
    wait_for,
)


def idlers(w: ImapWatcher) -> list:  # type: ignore[type-arg]
    return [i for watch in w.accounts.values() for i in watch.idlers.values()]


def test_idle_delivers_new_mail_within_seconds_and_survives_a_dropped_connection(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    user = dovecot.add_user()
    msgs = corpus(4, offset=70)
    append_messages(dovecot, user, msgs[:2])
    # Polling is off in practice (an hour): only IDLE can bring the new mail in time.
    settings = make_settings(tmp_path, sqlite_db, dovecot, sync_interval=3600, imap_idle_resync=3600)
    add_account(sqlite_db, settings, dovecot, user)
    handed: list[int] = []
    lock = threading.Lock()

    def on_new_mail(ids: list[int]) -> None:
        with lock:
            handed.extend(ids)

    w = ImapWatcher(settings, sqlite_db, on_new_mail)
    w.start()
    try:
        wait_for(lambda: email_count(sqlite_db) == 2, what="first sync")
        wait_for(lambda: [i.state for i in idlers(w)] == [IdlerState.IDLING], what="idling")
        append_messages(dovecot, user, msgs[2:3])
        took = wait_for(lambda: email_count(sqlite_db) == 3, timeout=10, what="IDLE delivery")
        assert took < 5

        # The server drops the connection (as a restart or a NAT timeout would): the idler
        # reconnects, and mail that comes after is delivered as before.
        (idler,) = idlers(w)
        dovecot.doveadm("kick", user.name)
        wait_for(lambda: idler.connects == 2 and idler.state == IdlerState.IDLING, what="reconnect")
        assert idler.faults >= 1
        append_messages(dovecot, user, msgs[3:])
        wait_for(lambda: email_count(sqlite_db) == 4, timeout=10, what="delivery after reconnect")
    finally:
        w.stop(timeout=10)
    assert w.state == WatcherState.STOPPED and not w.running
    assert [i.state for i in idlers(w)] == [IdlerState.STOPPED]
    assert not any(i.alive for i in idlers(w))
    with lock:
        assert len(handed) == len(set(handed)) == 4  # each new email handed over once


def test_a_server_without_idle_is_polled(
    sqlite_db: Database, plain_dovecot: DovecotServer, tmp_path: Path
) -> None:
    user = plain_dovecot.add_user()
    msgs = corpus(3, offset=74)
    append_messages(plain_dovecot, user, msgs[:1])
    settings = make_settings(tmp_path, sqlite_db, plain_dovecot, sync_interval=1)
    add_account(sqlite_db, settings, plain_dovecot, user)
    w = ImapWatcher(settings, sqlite_db)
    w.start()
    try:
        wait_for(lambda: email_count(sqlite_db) == 1, what="first sync")
        wait_for(lambda: [i.state for i in idlers(w)] == [IdlerState.UNSUPPORTED], what="no IDLE")
        append_messages(plain_dovecot, user, msgs[1:])
        wait_for(lambda: email_count(sqlite_db) == 3, timeout=10, what="polled")
        (watch,) = w.accounts.values()
        syncs = watch.syncs
        wait_for(lambda: watch.syncs >= syncs + 1, what="polling goes on")
    finally:
        w.stop(timeout=10)
    assert not w.running
    with sqlite_db.session() as s:
        acc = s.scalar(select(Account).where(Account.name == ACCOUNT))
        assert acc is not None and acc.last_sync_at is not None and acc.last_error is None


def test_the_watcher_is_off_when_the_interval_is_zero(sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path) -> None:
    w = ImapWatcher(make_settings(tmp_path, sqlite_db, dovecot, sync_interval=0), sqlite_db)
    w.start()
    assert not w.running
    w.stop()
    assert w.state == WatcherState.STOPPED


def test_stop_does_not_wait_for_a_reconnect_backoff(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    """A refused connection backs off for long (sync and idler alike); stop() ends both now."""
    user = dovecot.add_user()
    settings = make_settings(tmp_path, sqlite_db, dovecot, imap_backoff=30.0, imap_retries=5)
    add_account(sqlite_db, settings, dovecot, user, security="none", port=free_port())
    w = ImapWatcher(settings, sqlite_db)
    w.start()
    wait_for(lambda: [i.state for i in idlers(w)] == [IdlerState.BACKOFF], what="idler backoff")
    started = time.monotonic()
    w.stop()
    assert time.monotonic() - started < 5
    assert not w.running and not any(i.alive for i in idlers(w))


def test_a_failing_account_backs_off_instead_of_retrying_at_every_pass(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    """Pending write-backs make an account due at every pass: a server that refuses must not be
    hammered (nor a wrong password retried until the account is locked)."""
    user = dovecot.add_user()
    settings = make_settings(tmp_path, sqlite_db, dovecot, imap_backoff=0.2, imap_retries=0)
    add_account(sqlite_db, settings, dovecot, user, security="none", port=free_port())
    with sqlite_db.session() as s:
        account_id = s.scalars(select(Account.id)).one()
    w = ImapWatcher(settings, sqlite_db, pending=lambda _db: {account_id}, push_interval=0.02)
    started = time.monotonic()
    w.start()
    try:
        wait_for(lambda: bool(w.accounts), what="watched")
        (watch,) = w.accounts.values()
        wait_for(lambda: watch.failures >= 3, what="three failed syncs")
        assert time.monotonic() - started >= 0.2 * (2 + 4)  # the waits after the 1st and 2nd failure
        assert watch.syncs == watch.failures  # no attempt in between
    finally:
        w.stop(timeout=10)
