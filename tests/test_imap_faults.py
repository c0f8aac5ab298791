"""Network and authentication faults during IMAP sync, against a real Dovecot.

A :class:`FaultyProxy` on localhost sits between Beacon and Dovecot and cuts or stalls the
connection in the middle of a body FETCH; the assertions are on exactly what the store
holds afterwards and on how many bodies Dovecot logged it served.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select

from beacon.errors import ImapAuthError, ImapNetworkError
from beacon.imap.sync import sync_account
from beacon.store.db import Database
from beacon.store.schema import Account, EmailRow, ImapMessage, Run
from tests.imapserver import (
    ACCOUNT,
    BodyCounter,
    DovecotServer,
    FaultyProxy,
    add_account,
    append_messages,
    corpus,
    filled_mailbox,
    folder_state,
    free_port,
    links,
    make_settings,
    message_id,
)


def distinct_emails(db: Database) -> tuple[int, int]:
    """(rows, distinct Message-IDs): equal when nothing was stored twice."""
    with db.session() as s:
        return (
            s.scalar(select(func.count(EmailRow.id))) or 0,
            s.scalar(select(func.count(func.distinct(EmailRow.message_id)))) or 0,
        )


def account_row(db: Database) -> Account:
    with db.session() as s:
        acc = s.scalar(select(Account).where(Account.name == ACCOUNT))
        assert acc is not None
        return acc


def test_cut_fetch_resumes_where_it_stopped(
    any_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    user, msgs = filled_mailbox(dovecot, 30)
    counter = BodyCounter(dovecot, user)
    counter.delta(1)
    total_bytes = sum(len(m) for m in msgs)
    settings = make_settings(tmp_path, any_db, dovecot, imap_batch_size=5, imap_retries=0)
    with FaultyProxy(dovecot.port) as proxy:
        add_account(any_db, settings, dovecot, user, security="none", port=proxy.port)
        # Cut after ~40% of the mail went through: in the middle of a batch's response.
        proxy.arm(after_bytes=int(total_bytes * 0.4))
        with pytest.raises(ImapNetworkError, match="giving up"):
            sync_account(any_db, settings, ACCOUNT)
        assert proxy.faults == 1

        stored, distinct = distinct_emails(any_db)
        assert stored == distinct and 0 < stored < 30
        assert stored % 5 == 0  # whole batches only: the cut one was rolled back
        assert folder_state(any_db)[1] == stored  # last_uid = the last stored batch
        assert links(any_db) == {i + 1: message_id(m) for i, m in enumerate(msgs[:stored])}
        acc = account_row(any_db)
        assert acc.last_error and "giving up" in acc.last_error
        counter.delta(1)

        result = sync_account(any_db, settings, ACCOUNT)
        assert result.total("new") == 30 - stored
        assert counter.delta(1) == 30 - stored  # resumed after the last stored batch
    assert distinct_emails(any_db) == (30, 30)
    assert links(any_db) == {i + 1: message_id(m) for i, m in enumerate(msgs)}
    assert account_row(any_db).last_error is None


def test_cut_fetch_reconnects_automatically(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    user, msgs = filled_mailbox(dovecot, 25, offset=10)
    settings = make_settings(tmp_path, sqlite_db, dovecot, imap_batch_size=4, imap_retries=3)
    sleeps: list[float] = []
    with FaultyProxy(dovecot.port) as proxy:
        add_account(sqlite_db, settings, dovecot, user, security="none", port=proxy.port)
        proxy.arm(after_bytes=sum(len(m) for m in msgs[:9]))  # inside the third batch
        proxy.arm(after_bytes=1000)  # and again right after reconnecting
        result = sync_account(sqlite_db, settings, ACCOUNT, sleep=sleeps.append)
        assert (proxy.faults, proxy.connections, result.reconnects) == (2, 3, 2)
    # First fault after progress: attempt 1; the second made no progress: attempt 2.
    assert sleeps == [0.01, 0.02]
    assert result.total("new") == 25
    assert distinct_emails(sqlite_db) == (25, 25)
    assert links(sqlite_db) == {i + 1: message_id(m) for i, m in enumerate(msgs)}
    with sqlite_db.session() as s:
        run = s.scalar(select(Run).where(Run.id == result.run_id))
        assert run is not None and run.status == "done" and run.summary["reconnects"] == 2


def test_stalled_server_times_out_and_backs_off(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    user, msgs = filled_mailbox(dovecot, 6, offset=30)
    settings = make_settings(tmp_path, sqlite_db, dovecot, imap_timeout=0.5, imap_retries=2)
    sleeps: list[float] = []
    with FaultyProxy(dovecot.port) as proxy:
        add_account(sqlite_db, settings, dovecot, user, security="none", port=proxy.port)
        for _ in range(3):
            proxy.arm(after_bytes=0, mode="stall")  # silence as soon as bodies are asked for
        with pytest.raises(ImapNetworkError, match="giving up after 2 reconnects"):
            sync_account(sqlite_db, settings, ACCOUNT, sleep=sleeps.append)
        assert sleeps == [0.01, 0.02]  # exponential backoff between the three attempts
        assert proxy.connections == 3
        assert distinct_emails(sqlite_db) == (0, 0)
        with sqlite_db.session() as s:
            assert s.scalar(select(Run.status).order_by(Run.id.desc()).limit(1)) == "failed"

        result = sync_account(sqlite_db, settings, ACCOUNT, sleep=sleeps.append)
    assert result.total("new") == 6 and distinct_emails(sqlite_db) == (6, 6)


def test_auth_failure_is_a_clear_error_without_retries(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = dovecot.add_user()
    settings = make_settings(tmp_path, sqlite_db, dovecot, imap_retries=5)
    wrong = "not-the-password-4711"
    sleeps: list[float] = []
    with FaultyProxy(dovecot.port) as proxy:
        add_account(sqlite_db, settings, dovecot, user, security="none", port=proxy.port, password=wrong)
        caplog.set_level(logging.DEBUG)
        with pytest.raises(ImapAuthError, match=f"authentication failed for '{user.name}'"):
            sync_account(sqlite_db, settings, ACCOUNT, sleep=sleeps.append)
        assert (sleeps, proxy.connections) == ([], 1)  # one attempt, no retry loop
    acc = account_row(sqlite_db)
    assert acc.last_error and acc.last_error.startswith("authentication failed")
    assert wrong not in acc.last_error
    assert wrong not in caplog.text
    with sqlite_db.session() as s:
        stored = s.scalar(select(Account.password_encrypted).where(Account.name == ACCOUNT))
        assert stored is not None and wrong.encode() not in stored
        assert s.scalar(select(Run.status).order_by(Run.id.desc()).limit(1)) == "failed"


def test_refused_connection_gives_up_after_retries(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    user = dovecot.add_user()
    settings = make_settings(tmp_path, sqlite_db, dovecot, imap_retries=3)
    add_account(sqlite_db, settings, dovecot, user, security="none", port=free_port())
    sleeps: list[float] = []
    with pytest.raises(ImapNetworkError, match="giving up after 3 reconnects"):
        sync_account(sqlite_db, settings, ACCOUNT, sleep=sleeps.append)
    assert sleeps == [0.01, 0.02, 0.04]
    assert "cannot connect" in (account_row(sqlite_db).last_error or "")


def test_uidvalidity_resync_cut_half_way_resumes(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    """A folder recreated (new UIDVALIDITY, renumbered, one gone, ten new), and the resync's
    body fetch cut: the half-done resync is kept in the store and finished next time."""
    user = dovecot.add_user()
    msgs = corpus(18, offset=40)
    old, new = msgs[:8], msgs[8:]
    append_messages(dovecot, user, old, folder="Archive")
    settings = make_settings(tmp_path, sqlite_db, dovecot, imap_batch_size=3, imap_retries=0)
    counter = BodyCounter(dovecot, user)
    counter.delta(1)
    with FaultyProxy(dovecot.port) as proxy:
        add_account(
            sqlite_db, settings, dovecot, user, security="none", port=proxy.port, folders=("Archive",)
        )
        sync_account(sqlite_db, settings, ACCOUNT)
        counter.delta(1)
        with dovecot.client(user) as c:
            c.delete_folder("Archive")
        renumbered = list(reversed(old[1:])) + new
        uids = append_messages(dovecot, user, renumbered, folder="Archive")
        counter.delta(1)

        proxy.arm(after_bytes=sum(len(m) for m in new[:4]))
        with pytest.raises(ImapNetworkError):
            sync_account(sqlite_db, settings, ACCOUNT)
        done = links(sqlite_db, "Archive")
        stored_new = len(done) - 7
        assert 0 < stored_new < 10 and stored_new % 3 == 0
        expected = {u: message_id(m) for u, m in zip(uids, renumbered, strict=True)}
        assert done == dict(list(expected.items())[: 7 + stored_new])
        with sqlite_db.session() as s:  # the gone message is not declared gone before the pass ends
            assert not s.scalar(select(EmailRow.deleted).where(EmailRow.message_id == message_id(old[0])))
            assert s.scalar(select(func.count(ImapMessage.id)).where(ImapMessage.uid < 0)) == 1
        counter.delta(1)

        result = sync_account(sqlite_db, settings, ACCOUNT)
    assert (result.total("remapped"), result.total("new"), result.total("deleted")) == (0, 10 - stored_new, 1)
    assert counter.delta(1, expect=10 - stored_new) == 10 - stored_new
    assert links(sqlite_db, "Archive") == {u: message_id(m) for u, m in zip(uids, renumbered, strict=True)}
    assert distinct_emails(sqlite_db) == (18, 18)
    with sqlite_db.session() as s:
        gone = set(s.scalars(select(EmailRow.message_id).where(EmailRow.deleted.is_(True))))
    assert gone == {message_id(old[0])}
