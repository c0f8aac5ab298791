"""The IMAP sync's pipeline against a real Dovecot: the fetch runs ahead of storing, but only
so far, and a failure or a cancel in any stage stops the others, leaving whole stored batches
that the next sync continues after (nothing lost, nothing stored twice); a fetched body is
not copied on the way."""

from __future__ import annotations

import logging
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from beacon.errors import SyncCancelled
from beacon.imap.connection import ImapEndpoint, session
from beacon.imap.folder_sync import FolderResult
from beacon.imap.sync import SyncResult, sync_account
from beacon.store.db import Database
from tests.imapserver import (
    ACCOUNT,
    BodyCounter,
    DovecotServer,
    add_account,
    append_messages,
    email_count,
    filled_mailbox,
    folder_state,
    links,
    make_settings,
    message_id,
)

BATCH = 5


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("imap-fetch-", "imap-parse-"))]


@pytest.mark.parametrize("workers", [0, 1])
def test_fetch_runs_ahead_of_storing_within_its_bounds(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path, workers: int
) -> None:
    user, msgs = filled_mailbox(dovecot, 60)
    settings = make_settings(tmp_path, sqlite_db, dovecot, imap_batch_size=BATCH, import_workers=workers)
    add_account(sqlite_db, settings, dovecot, user)
    ahead: list[int] = []

    def on_progress(_r: SyncResult, fr: FolderResult) -> None:
        if fr.new == BATCH:  # the first batch is stored: give the fetch every chance to run on
            time.sleep(0.5)
            ahead.append(fr.fetched - fr.new)

    result = sync_account(sqlite_db, settings, ACCOUNT, on_progress=on_progress)
    assert result.total("new") == 60
    # Bodies of later batches came in while this one was stored, and only about two batches'
    # worth (the queues between the stages, plus what the parser holds) were waiting.
    assert ahead and BATCH <= ahead[0] <= 4 * BATCH + 64 * workers
    assert ahead[0] < 60 - BATCH
    assert links(sqlite_db) == {i + 1: message_id(m) for i, m in enumerate(msgs)}
    assert not pipeline_threads()


@pytest.mark.parametrize("stop", ["store fails", "cancel"])
def test_a_stop_in_the_store_stage_stops_the_fetch_and_the_next_sync_resumes(
    any_db: Database, dovecot: DovecotServer, tmp_path: Path, stop: str
) -> None:
    user, msgs = filled_mailbox(dovecot, 40)
    counter = BodyCounter(dovecot, user)
    counter.delta(1)  # the session that filled the mailbox
    # In-process parsing: the parser holds no chunks, so the fetch stops within two batches or so.
    settings = make_settings(tmp_path, any_db, dovecot, imap_batch_size=BATCH, import_workers=0)
    add_account(any_db, settings, dovecot, user)
    cancel = threading.Event()

    def on_progress(_r: SyncResult, fr: FolderResult) -> None:
        if fr.new >= 2 * BATCH:
            if stop == "cancel":
                cancel.set()
            else:
                raise RuntimeError("the store stage failed")

    error = SyncCancelled if stop == "cancel" else RuntimeError
    with pytest.raises(error):
        sync_account(any_db, settings, ACCOUNT, on_progress=on_progress, cancel=cancel)
    assert not pipeline_threads()  # stopped, and waited for: nothing talks to the server any more
    stored = email_count(any_db)
    assert stored % BATCH == 0 and 2 * BATCH <= stored < 40
    assert folder_state(any_db)[1] == stored
    fetched_before = counter.delta(1)
    assert stored <= fetched_before < 40  # the fetch stopped within its bounds, not at the end

    result = sync_account(any_db, settings, ACCOUNT)
    assert result.total("new") == 40 - stored
    assert counter.delta(1) == 40 - stored  # resumed after the last stored batch
    assert email_count(any_db) == 40
    assert links(any_db) == {i + 1: message_id(m) for i, m in enumerate(msgs)}


def big_mail(size: int) -> bytes:
    body = b"".join(b"%07d line of a long message body .......................\r\n" % i
                    for i in range(size // 64))
    return (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\nMessage-ID: <big@test>\r\n"
            b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n" + body)


@pytest.mark.parametrize("debug_logging", [False, True])
def test_a_fetched_body_is_not_copied_into_debug_strings(
    dovecot: DovecotServer, caplog: pytest.LogCaptureFixture, debug_logging: bool
) -> None:
    """imaplib formats its debug lines (a repr of each body read) before logging drops them:
    with the IMAP debug log off, fetching a 4 MB body allocates little more than the body."""
    user = dovecot.add_user()
    raw = big_mail(4 * 1024 * 1024)
    append_messages(dovecot, user, [raw])
    if debug_logging:
        caplog.set_level(logging.DEBUG, logger="imapclient.imaplib")
    ep = ImapEndpoint(host=dovecot.host, port=dovecot.port, security="starttls", user=user.name,
                      password=user.password, ca_file=str(dovecot.cert))
    with session(ep) as client:
        client.select_folder("INBOX", readonly=True)
        tracemalloc.start()
        try:
            body = client.fetch([1], [b"BODY.PEEK[]"])[1][b"BODY[]"]
            _size, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert body == raw
    logged = [r for r in caplog.records if r.name == "imapclient.imaplib"]
    if debug_logging:  # asked for: still there
        assert any("FETCH" in r.getMessage() for r in logged)
        assert peak > 3 * len(raw)
    else:
        assert not logged
        assert peak < 1.5 * len(raw)
