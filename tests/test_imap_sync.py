"""IMAP sync against a real Dovecot server, with real SpamAssassin corpus messages.

Every assertion is on what the store holds afterwards, and where it matters on what Dovecot
itself logged it served (``body_count`` per session), not on the syncer's own counters.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from beacon.imap.sync import SyncResult, sync_account
from beacon.store.db import Database
from beacon.store.emails import load_raw
from beacon.store.schema import Account, EmailRow, ImapMessage, Run
from tests.imapserver import (
    ACCOUNT,
    BodyCounter,
    DovecotServer,
    ImapUser,
    add_account,
    append_messages,
    corpus,
    filled_mailbox,
    email_count,
    flags_by_mid,
    folder_state,
    links,
    make_settings,
    message_id,
)

def test_sync_fetches_only_new_mail(any_db: Database, dovecot: DovecotServer, tmp_path: Path) -> None:
    user = dovecot.add_user()
    msgs = corpus(40)
    counter = BodyCounter(dovecot, user)
    assert append_messages(dovecot, user, msgs[:30]) == list(range(1, 31))
    assert counter.delta(1) == 0
    settings = make_settings(tmp_path, any_db, dovecot)
    add_account(any_db, settings, dovecot, user)

    first = sync_account(any_db, settings, ACCOUNT)
    assert (first.total("new"), first.total("fetched"), first.total("existing")) == (30, 30, 0)
    assert counter.delta(1) == 30  # Dovecot served exactly 30 bodies
    assert links(any_db) == {i + 1: message_id(m) for i, m in enumerate(msgs[:30])}
    with dovecot.client(user) as c:
        info = c.select_folder("INBOX", readonly=True)
        server_copy = c.fetch([1, 30], ["BODY.PEEK[]", "FLAGS"])
    assert folder_state(any_db) == (info[b"UIDVALIDITY"], 30)
    # The stored raw bytes are exactly what the server holds; BODY.PEEK left mail unread.
    with any_db.session() as s:
        for uid in (1, 30):
            email_id = s.scalar(select(ImapMessage.email_id).where(ImapMessage.uid == uid))
            assert load_raw(s, email_id) == server_copy[uid][b"BODY[]"]
            assert b"\\Seen" not in server_copy[uid][b"FLAGS"]
    counter.delta(1)

    assert append_messages(dovecot, user, msgs[30:]) == list(range(31, 41))
    counter.delta(1)
    second = sync_account(any_db, settings, ACCOUNT)
    assert (second.total("new"), second.total("fetched")) == (10, 10)
    assert counter.delta(1) == 10  # only the new ones went over the wire
    assert email_count(any_db) == 40
    assert links(any_db) == {i + 1: message_id(m) for i, m in enumerate(msgs)}
    assert folder_state(any_db)[1] == 40

    third = sync_account(any_db, settings, ACCOUNT)
    assert third.total("fetched") == 0 and third.total("new") == 0
    assert counter.delta(1) == 0
    with any_db.session() as s:
        acc = s.scalar(select(Account).where(Account.name == ACCOUNT))
        assert acc is not None and acc.last_sync_at is not None and acc.last_error is None
        runs = s.scalars(select(Run).where(Run.kind == "sync").order_by(Run.id)).all()
        assert [r.status for r in runs] == ["done", "done", "done"]
        assert [r.summary["new"] for r in runs] == [30, 10, 0]


def set_flags(server: DovecotServer, user: ImapUser, changes: dict[int, tuple[str, list[str]]]) -> None:
    """{uid: ("add" | "remove", [flags])} applied by another client."""
    with server.client(user) as c:
        c.select_folder("INBOX")
        for uid, (op, flags) in changes.items():
            fn = c.add_flags if op == "add" else c.remove_flags
            fn([uid], [f.encode() for f in flags])


def test_flags_and_deletions_follow_the_server(
    any_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    user = dovecot.add_user()
    msgs = corpus(12, offset=5)
    mids = [message_id(m) for m in msgs]
    append_messages(dovecot, user, msgs)
    with dovecot.client(user) as c:  # one message already read before the first sync
        c.select_folder("INBOX")
        c.add_flags([12], [b"\\Seen"])
    settings = make_settings(tmp_path, any_db, dovecot)
    add_account(any_db, settings, dovecot, user)
    sync_account(any_db, settings, ACCOUNT)
    assert flags_by_mid(any_db)[mids[11]] == (True, False, False, False)

    set_flags(dovecot, user, {
        1: ("add", ["\\Seen"]), 2: ("add", ["\\Seen", "\\Flagged"]), 3: ("add", ["\\Flagged"]),
        4: ("add", ["\\Answered"]), 7: ("add", ["\\Deleted"]), 12: ("remove", ["\\Seen"]),
    })
    with dovecot.client(user) as c:  # expunge 5 and 6 (7 stays flagged \Deleted)
        c.select_folder("INBOX")
        c.add_flags([5, 6], [b"\\Deleted"])
        c.uid_expunge([5, 6])
    result = sync_account(any_db, settings, ACCOUNT)
    assert (result.total("flags_changed"), result.total("deleted"), result.total("fetched")) == (6, 2, 0)
    # QRESYNC (Dovecot has it): FETCH CHANGEDSINCE ... VANISHED, not every UID, nor a search of them all.
    assert result.folders["INBOX"].refresh == "vanished"

    expected = {mid: (False, False, False, False) for mid in mids}
    expected[mids[0]] = (True, False, False, False)
    expected[mids[1]] = (True, False, True, False)
    expected[mids[2]] = (False, False, True, False)
    expected[mids[3]] = (False, True, False, False)
    expected[mids[4]] = expected[mids[5]] = (False, False, False, True)  # expunged: row kept
    expected[mids[6]] = (False, False, False, True)  # \Deleted, not yet expunged
    assert flags_by_mid(any_db) == expected
    assert email_count(any_db) == 12
    assert sorted(links(any_db)) == [1, 2, 3, 4, 7, 8, 9, 10, 11, 12]
    with any_db.session() as s:
        stored = s.scalar(select(ImapMessage.flags).where(ImapMessage.uid == 2))
    assert stored == ["\\Flagged", "\\Seen"]

    set_flags(dovecot, user, {1: ("remove", ["\\Seen"]), 7: ("remove", ["\\Deleted"])})
    result = sync_account(any_db, settings, ACCOUNT)
    assert result.total("flags_changed") == 2
    expected[mids[0]] = expected[mids[6]] = (False, False, False, False)
    assert flags_by_mid(any_db) == expected
    result = sync_account(any_db, settings, ACCOUNT)  # nothing changed: HIGHESTMODSEQ says so
    assert result.folders["INBOX"].refresh == "skipped" and result.total("flags_changed") == 0


def test_without_qresync_a_search_finds_what_is_gone(
    sqlite_db: Database, condstore_dovecot: DovecotServer, tmp_path: Path
) -> None:
    user = condstore_dovecot.add_user()
    msgs = corpus(5, offset=60)
    append_messages(condstore_dovecot, user, msgs)
    settings = make_settings(tmp_path, sqlite_db, condstore_dovecot)
    add_account(sqlite_db, settings, condstore_dovecot, user)
    sync_account(sqlite_db, settings, ACCOUNT)
    set_flags(condstore_dovecot, user, {1: ("add", ["\\Seen"])})
    with condstore_dovecot.client(user) as c:
        c.select_folder("INBOX")
        c.add_flags([3], [b"\\Deleted"])
        c.uid_expunge([3])
    result = sync_account(sqlite_db, settings, ACCOUNT)
    assert result.folders["INBOX"].refresh == "changed"
    assert (result.total("flags_changed"), result.total("deleted")) == (1, 1)
    assert sorted(links(sqlite_db)) == [1, 2, 4, 5]


def test_uidvalidity_change_with_renumbered_mail(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    """The folder is recreated: new UIDVALIDITY, other order, one mail gone, one new."""
    user = dovecot.add_user()
    msgs = corpus(14, offset=20)
    archive, inbox, extra = msgs[:10], msgs[10:13], msgs[13]
    append_messages(dovecot, user, inbox)
    append_messages(dovecot, user, archive, folder="Archive")
    counter = BodyCounter(dovecot, user)
    counter.delta(2)
    settings = make_settings(tmp_path, sqlite_db, dovecot)
    add_account(sqlite_db, settings, dovecot, user, folders=("INBOX", "Archive"))
    sync_account(sqlite_db, settings, ACCOUNT)
    assert counter.delta(1) == 13
    old_validity, _ = folder_state(sqlite_db, "Archive")

    with dovecot.client(user) as c:
        c.delete_folder("Archive")
    renumbered = list(reversed(archive[1:])) + [extra]
    uids = append_messages(dovecot, user, renumbered, folder="Archive")
    counter.delta(2)

    result = sync_account(sqlite_db, settings, ACCOUNT)
    fr = result.folders["Archive"]
    assert fr.uidvalidity_changed
    assert (fr.remapped, fr.fetched, fr.new, fr.deleted) == (9, 1, 1, 1)
    assert counter.delta(1) == 1  # only the new message's body was downloaded
    new_validity, last_uid = folder_state(sqlite_db, "Archive")
    assert new_validity != old_validity and last_uid == uids[-1]
    assert links(sqlite_db, "Archive") == {u: message_id(m) for u, m in zip(uids, renumbered, strict=True)}
    assert links(sqlite_db, "INBOX") == {i + 1: message_id(m) for i, m in enumerate(inbox)}
    assert email_count(sqlite_db) == 14  # no duplicates: 13 + the new one
    deleted = {mid for mid, f in flags_by_mid(sqlite_db).items() if f[3]}
    assert deleted == {message_id(archive[0])}


def test_uidvalidity_change_same_uids(any_db: Database, dovecot: DovecotServer, tmp_path: Path) -> None:
    """Dovecot told to change INBOX's UIDVALIDITY in place (doveadm): nothing is downloaded."""
    user, msgs = filled_mailbox(dovecot, 8, offset=40)
    settings = make_settings(tmp_path, any_db, dovecot)
    add_account(any_db, settings, dovecot, user)
    sync_account(any_db, settings, ACCOUNT)
    before = links(any_db)
    old_validity, _ = folder_state(any_db)
    dovecot.doveadm("mailbox", "update", "-u", user.name, "--uid-validity", str(old_validity + 7), "INBOX")
    set_flags(dovecot, user, {3: ("add", ["\\Flagged"])})

    result = sync_account(any_db, settings, ACCOUNT)
    assert (result.total("remapped"), result.total("fetched"), result.total("deleted")) == (8, 0, 0)
    assert folder_state(any_db) == (old_validity + 7, 8)
    assert links(any_db) == before
    assert email_count(any_db) == 8
    assert flags_by_mid(any_db)[message_id(msgs[2])] == (False, False, True, False)
    assert not any(f[3] for f in flags_by_mid(any_db).values())


def test_tls_port_and_untrusted_certificate(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    from beacon.errors import ImapConfigError

    user = dovecot.add_user()
    append_messages(dovecot, user, corpus(3, offset=50))
    settings = make_settings(tmp_path, sqlite_db, dovecot)
    add_account(sqlite_db, settings, dovecot, user, security="tls")
    result: SyncResult = sync_account(sqlite_db, settings, ACCOUNT)
    assert result.total("new") == 3 and email_count(sqlite_db) == 3

    sleeps: list[float] = []
    untrusting = settings.model_copy(update={"imap_ca_file": ""})
    for security in ("tls", "starttls"):
        add_account(sqlite_db, untrusting, dovecot, user, security=security)
        with pytest.raises(ImapConfigError, match="not trusted"):
            sync_account(sqlite_db, untrusting, ACCOUNT, sleep=sleeps.append)
    assert sleeps == []  # a configuration problem is not retried


def test_raw_bytes_hash_matches_server(sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path) -> None:
    """The content hash (dedup key) is taken over the server's bytes, so resyncs dedup."""
    user, msgs = filled_mailbox(dovecot, 4, offset=60)
    settings = make_settings(tmp_path, sqlite_db, dovecot)
    add_account(sqlite_db, settings, dovecot, user)
    sync_account(sqlite_db, settings, ACCOUNT)
    with dovecot.client(user) as c:
        c.select_folder("INBOX", readonly=True)
        bodies = c.fetch([1, 2, 3, 4], ["BODY.PEEK[]"])
    with sqlite_db.session() as s:
        hashes = set(s.scalars(select(EmailRow.content_hash)))
    assert hashes == {hashlib.sha256(b[b"BODY[]"]).hexdigest() for b in bodies.values()}



def test_one_sync_per_account_at_a_time(sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path) -> None:
    from beacon.imap.lock import SyncBusy, account_lock

    user = dovecot.add_user()
    append_messages(dovecot, user, corpus(2, offset=64))
    settings = make_settings(tmp_path, sqlite_db, dovecot)
    add_account(sqlite_db, settings, dovecot, user)
    with sqlite_db.session() as s:
        account_id = s.scalar(select(Account.id).where(Account.name == ACCOUNT))
    assert account_id is not None
    with account_lock(settings, account_id, ACCOUNT):  # e.g. `beacon serve` syncing right now
        with pytest.raises(SyncBusy, match="already being synced"):
            sync_account(sqlite_db, settings, ACCOUNT)
    assert email_count(sqlite_db) == 0
    assert sync_account(sqlite_db, settings, ACCOUNT).total("new") == 2


def test_oversized_message_is_stored_with_headers_and_hashed_in_slices(
        sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path) -> None:
    user = dovecot.add_user()
    msgs = corpus(3)
    big = (b"From: big@example.org\r\nTo: you@example.org\r\nSubject: huge\r\nMessage-ID: <huge@x>\r\n"
           b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n" + b"line of text\r\n" * 40_000)
    append_messages(dovecot, user, [msgs[0], big, msgs[1], msgs[2]])
    settings = make_settings(tmp_path, sqlite_db, dovecot, max_message_bytes=200_000)
    add_account(sqlite_db, settings, dovecot, user)
    result = sync_account(sqlite_db, settings, ACCOUNT)
    assert (result.total("new"), result.total("failed")) == (4, 0)
    with dovecot.client(user) as c:
        c.select_folder("INBOX", readonly=True)
        served = c.fetch([2], ["BODY.PEEK[]"])[2][b"BODY[]"]
    with sqlite_db.session() as s:
        row = s.scalar(select(EmailRow).where(EmailRow.message_id == "huge@x"))
        assert row is not None and row.folder == "INBOX"
        email = row.data
        assert email["size"] == len(served) and email["content_hash"] == hashlib.sha256(served).hexdigest()
        assert any(p["kind"] == "size" for p in email["problems"]) and email["text"] == ""
        assert len(load_raw(s, row.id) or b"") < 1000  # the header block only
    assert folder_state(sqlite_db)[1] == 4


def test_new_mail_is_stored_with_its_flags(any_db: Database, dovecot: DovecotServer, tmp_path: Path) -> None:
    """New rows carry the server's flags from their insert; the same mail at two UIDs of one
    batch is one email whose row has the last UID's flags."""
    user = dovecot.add_user()
    msgs = corpus(5, offset=20)
    append_messages(dovecot, user, [*msgs, msgs[0]])  # msgs[0] again at UID 6
    with dovecot.client(user) as c:
        c.select_folder("INBOX")
        for uid, flag in ((1, b"\\Seen"), (2, b"\\Answered"), (3, b"\\Flagged"), (4, b"\\Deleted"), (6, b"\\Flagged")):
            c.add_flags([uid], [flag])
    settings = make_settings(tmp_path, any_db, dovecot, imap_batch_size=10)
    add_account(any_db, settings, dovecot, user)
    result = sync_account(any_db, settings, ACCOUNT)
    assert (result.total("new"), result.total("existing")) == (5, 1)
    mids = [message_id(m) for m in msgs]
    assert flags_by_mid(any_db) == {
        mids[0]: (False, False, True, False),  # UID 6's \Flagged, not UID 1's \Seen
        mids[1]: (False, True, False, False),
        mids[2]: (False, False, True, False),
        mids[3]: (False, False, False, True),
        mids[4]: (False, False, False, False),
    }
    assert links(any_db) == {1: mids[0], 2: mids[1], 3: mids[2], 4: mids[3], 5: mids[4], 6: mids[0]}
