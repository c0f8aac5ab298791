"""The mail server as the source of truth, against a real Dovecot: Beacon's actions written
back (flags, done = move, level keywords), the server's flags read into Beacon's states,
conflicts won by the server, and retries that neither lose nor repeat anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from beacon.analysis.models import Analysis
from beacon.crypto import PasswordCipher
from beacon.errors import ImapNetworkError
from beacon.imap.accounts import endpoint_for
from beacon.imap.connection import session
from beacon.imap.mailbox import DONE_KEYWORD, ServerFeatures, fetch_flags, store_flags
from beacon.imap.sync import SyncResult, sync_account
from beacon.imap.watcher import ImapWatcher
from beacon.imap.writeback import pending_accounts
from beacon.settings import Settings
from beacon.store.analyses import save_analysis
from beacon.store.db import Database
from beacon.store.schema import (
    Account,
    AnalysisRow,
    EmailActionRow,
    EmailRow,
    ImapFolder,
    ImapMessage,
)
from beacon.store.tenancy import EVERYONE
from beacon.triage.actions import apply_action, undo_action
from beacon.triage.models import EmailState, Importance
from beacon.triage.states import state_of
from tests.helpers import fake_analysis
from tests.imapserver import (
    ACCOUNT,
    DovecotServer,
    ImapUser,
    add_account,
    append_messages,
    corpus,
    make_settings,
    message_id,
    wait_for,
)

SEEN, FLAGGED, ANSWERED = "\\Seen", "\\Flagged", "\\Answered"


@dataclass
class Box:
    """One test's mailbox: the server, its user, Beacon's database, and who is who."""

    server: DovecotServer
    user: ImapUser
    db: Database
    settings: Settings
    mids: list[str]  # Message-IDs in INBOX order
    ids: dict[str, int]  # Message-ID -> email id

    def sync(self) -> SyncResult:
        return sync_account(self.db, self.settings, ACCOUNT)

    def act(self, mids: list[str], action: str, until: datetime | None = None) -> list[int]:
        with self.db.session() as s:
            return [r.id for r in apply_action(s, EVERYONE, [self.ids[m] for m in mids], action,
                                               until=until, source="api")]

    def state(self, mid: str) -> EmailState:
        with self.db.session() as s:
            return state_of(s, self.ids[mid])

    def server_flags(self, folder: str = "INBOX") -> dict[str, set[str]]:
        """{Message-ID: flags} of a folder, as another mail program sees it."""
        with self.server.client(self.user) as c:
            if not c.folder_exists(folder):
                return {}
            c.select_folder(folder, readonly=True)
            data = c.fetch(c.search(["ALL"]), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        return {message_id(d[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]):
                {f.decode() for f in d[b"FLAGS"]} - {"\\Recent"} for d in data.values()}

    def other_client(self, mid: str, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> None:
        with self.server.client(self.user) as c:
            c.select_folder("INBOX")
            (uid,) = c.search(["HEADER", "Message-ID", mid])
            if add:
                c.add_flags([uid], list(add))
            if remove:
                c.remove_flags([uid], list(remove))

    def refresh_ids(self) -> None:
        self.sync()
        with self.db.session() as s:
            self.ids = {mid: email_id for mid, email_id in s.execute(select(EmailRow.message_id, EmailRow.id))}

    def unsynced(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(EmailActionRow)
                            .where(EmailActionRow.imap_synced_at.is_(None))) or 0


def make_box(db: Database, server: DovecotServer, tmp_path: Path, n: int = 5, offset: int = 0,
             archive_folder: str | None = None, **kw: object) -> Box:
    user = server.add_user()
    msgs = corpus(n, offset=offset)
    append_messages(server, user, msgs)
    settings = make_settings(tmp_path, db, server, **kw)
    add_account(db, settings, server, user)
    if archive_folder is not None:
        with db.session() as s:
            s.execute(update(Account).values(imap_archive_folder=archive_folder))
    mids = [message_id(m) for m in msgs]
    box = Box(server, user, db, settings, mids, {})
    box.refresh_ids()
    return box


def test_flags_set_in_beacon_appear_on_the_server_and_back(
    any_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    box = make_box(any_db, dovecot, tmp_path, n=5)
    a, b, c, d, e = box.mids
    # Mail that arrives read, starred or answered starts in that state (not as actions).
    (raw,) = corpus(1, offset=5)
    with dovecot.client(box.user) as client:
        client.append("INBOX", raw, flags=[SEEN, FLAGGED])
    box.refresh_ids()
    f = message_id(raw)
    assert box.state(f).read_at is not None and box.state(f).importance == Importance.IMPORTANT
    assert box.unsynced() == 0

    box.act([a], "read")
    box.act([b], "important")
    box.act([c], "replied")
    box.act([d], "snooze", until=datetime.now(UTC) + timedelta(days=1))  # stays in Beacon
    assert box.unsynced() == 4
    result = box.sync()
    assert result.push.actions == 4 and result.push.stored == 3
    flags = box.server_flags()
    assert flags[a] == {SEEN} and flags[b] == {FLAGGED} and flags[c] == {ANSWERED}
    assert flags[d] == set() and flags[e] == set()
    assert box.unsynced() == 0

    # ...and a mail program's changes come back as Beacon states (actions of source imap).
    box.other_client(d, add=(SEEN,))
    box.other_client(e, add=(FLAGGED, ANSWERED))
    box.other_client(b, remove=(FLAGGED,))
    box.other_client(a, remove=(SEEN,))
    result = box.sync()
    assert result.total("imap_actions") == 5
    assert box.state(d).read_at is not None
    assert box.state(e).importance == Importance.IMPORTANT and box.state(e).replied_at is not None
    assert box.state(b).importance is None  # unstarred: back to Beacon's judgement, not "not important"
    assert box.state(a).read_at is None
    with box.db.session() as s:
        sources = s.scalars(select(EmailActionRow.source).where(EmailActionRow.id > 4)).all()
    assert set(sources) == {"imap"} and box.unsynced() == 0  # nothing to write back: it came from there

    # "Not important" removes the star; undoing Beacon's read puts \Seen back off.
    box.act([e], "not_important")
    (read_d,) = box.act([d], "unread")
    box.sync()
    flags = box.server_flags()
    assert flags[e] == {ANSWERED} and flags[d] == set()
    with box.db.session() as s:
        undo_action(s, EVERYONE, read_d)
    box.sync()
    assert box.server_flags()[d] == {SEEN}
    assert box.sync().push.stored == 0  # in step: the next sync writes nothing


def test_done_moves_the_message_to_the_archive_and_undone_brings_it_back(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    box = make_box(sqlite_db, dovecot, tmp_path, n=4, offset=10)
    with dovecot.client(box.user) as c:
        c.create_folder("Archive")  # SPECIAL-USE \Archive on this server
    a, b, c_, _d = box.mids
    box.act([b], "read")
    box.act([a, b], "done")
    result = box.sync()
    assert result.push.moved == 2
    assert set(box.server_flags()) == {c_, _d}
    archived = box.server_flags("Archive")
    assert set(archived) == {a, b} and archived[b] == {SEEN}  # flags travel with the message
    # Beacon follows the mail: linked in the archive, not taken for deleted by later syncs.
    box.sync()
    with sqlite_db.session() as s:
        where = {email_id: name for email_id, name in s.execute(
            select(ImapMessage.email_id, ImapFolder.name).join(ImapFolder, ImapFolder.id == ImapMessage.folder_id))}
        assert where[box.ids[a]] == where[box.ids[b]] == "Archive"
        assert not s.scalar(select(EmailRow.deleted).where(EmailRow.id == box.ids[a]))
    assert box.state(a).done_at is not None

    box.act([a], "undone")
    box.sync()
    assert set(box.server_flags()) == {a, c_, _d} and set(box.server_flags("Archive")) == {b}
    with sqlite_db.session() as s:
        (folder,) = s.scalars(select(ImapFolder.name).join(ImapMessage, ImapMessage.folder_id == ImapFolder.id)
                              .where(ImapMessage.email_id == box.ids[a])).all()
    assert folder == "INBOX"

    # Archived in another mail program (moved to the Archive folder): done in Beacon, not deleted.
    with dovecot.client(box.user) as other:
        other.select_folder("INBOX")
        other.move(other.search(["HEADER", "Message-ID", c_]), "Archive")
    result = box.sync()
    assert result.push.archived_elsewhere == 1
    assert box.state(c_).done_at is not None
    with sqlite_db.session() as s:
        assert not s.scalar(select(EmailRow.deleted).where(EmailRow.id == box.ids[c_]))
        assert s.scalar(select(EmailActionRow.source).where(EmailActionRow.email_id == box.ids[c_])) == "imap"
    assert box.unsynced() == 0 and box.sync().push.moved == 0

    # Moved back to the inbox in another mail program: undone in Beacon, and it stays in the inbox.
    with dovecot.client(box.user) as other:
        other.select_folder("Archive")
        other.move(other.search(["HEADER", "Message-ID", b]), "INBOX")
    result = box.sync()
    assert result.push.unarchived_elsewhere == 1 and box.state(b).done_at is None
    assert box.state(c_).done_at is not None  # still in the archive: still done
    with sqlite_db.session() as s:
        (folder,) = s.scalars(select(ImapFolder.name).join(ImapMessage, ImapMessage.folder_id == ImapFolder.id)
                              .where(ImapMessage.email_id == box.ids[b])).all()
        undone = s.scalars(select(EmailActionRow).where(EmailActionRow.email_id == box.ids[b])
                           .order_by(EmailActionRow.id.desc())).first()
    assert folder == "INBOX" and (undone.action, undone.source) == ("undone", "imap")
    again = box.sync()
    assert box.unsynced() == 0 and again.push.moved == 0 and again.push.unarchived_elsewhere == 0
    assert b in box.server_flags() and b not in box.server_flags("Archive")


def test_done_without_move_or_condstore_uses_the_configured_folder(
    sqlite_db: Database, plain_dovecot: DovecotServer, tmp_path: Path
) -> None:
    """A server without MOVE: COPY, \\Deleted and UID EXPUNGE of that message only (another
    message the user marked \\Deleted stays); no \\Archive folder: the configured one."""
    box = make_box(sqlite_db, plain_dovecot, tmp_path, n=3, offset=20, archive_folder="Done Mail")
    a, b, c = box.mids
    box.other_client(c, add=("\\Deleted",))  # deleted in a mail program, not expunged yet
    box.act([a], "important")
    box.act([a], "done")
    result = box.sync()
    assert result.push.moved == 1
    assert box.server_flags("Done Mail") == {a: {FLAGGED}}
    assert set(box.server_flags()) == {b, c}


def test_done_on_a_server_without_an_archive_folder_is_a_keyword(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    box = make_box(sqlite_db, dovecot, tmp_path, n=2, offset=30)
    a, b = box.mids
    box.act([a], "done")
    box.sync()
    assert box.server_flags() == {a: {DONE_KEYWORD}, b: set()}
    # The keyword set by another Beacon (or removed by hand) is read back as done / undone.
    box.other_client(b, add=(DONE_KEYWORD,))
    box.other_client(a, remove=(DONE_KEYWORD,))
    box.sync()
    assert box.state(b).done_at is not None and box.state(a).done_at is None


def test_the_servers_latest_change_wins_a_conflict(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    box = make_box(sqlite_db, dovecot, tmp_path, n=3, offset=40)
    a, b, _c = box.mids
    # Beacon says "not important" and "unread" while (before the push) a mail program stars
    # the message and reads another: what the server has now wins on those flags, and
    # Beacon's other change to the same message still goes through.
    box.act([a], "not_important")
    box.act([a], "read")
    box.other_client(a, add=(FLAGGED,))
    box.act([b], "read")
    box.other_client(b, add=(SEEN, ANSWERED))
    result = box.sync()
    assert result.push.server_changes >= 2
    assert box.server_flags()[a] == {FLAGGED, SEEN}
    assert box.state(a).importance == Importance.IMPORTANT and box.state(a).read_at is not None
    assert box.state(b).replied_at is not None and box.server_flags()[b] == {SEEN, ANSWERED}


def test_a_write_is_refused_when_the_message_changed_since_it_was_read(
    dovecot: DovecotServer, tmp_path: Path, sqlite_db: Database
) -> None:
    """CONDSTORE: STORE ... UNCHANGEDSINCE the MODSEQ read; a change in between wins."""
    user = dovecot.add_user()
    append_messages(dovecot, user, corpus(1, offset=50))
    settings = make_settings(tmp_path, sqlite_db, dovecot)
    add_account(sqlite_db, settings, dovecot, user)
    with sqlite_db.session() as s:
        ep = endpoint_for(s.scalars(select(Account)).one(), PasswordCipher.from_settings(settings), settings)
    with session(ep) as client:
        features = ServerFeatures.of(client)
        assert features.condstore and features.move and features.idle
        client.select_folder("INBOX")
        before = fetch_flags(client, [1], features)[1]
        with dovecot.client(user) as other:
            other.select_folder("INBOX")
            other.add_flags([1], [FLAGGED])
        assert not store_flags(client, 1, add={SEEN}, base=before.flags, modseq=before.modseq)
        now = fetch_flags(client, [1], features)[1]
        assert now.flags == [FLAGGED]  # untouched: the other program's star stays, no \Seen
        assert store_flags(client, 1, add={SEEN}, base=now.flags, modseq=now.modseq)
        assert fetch_flags(client, [1], features)[1].flags == [FLAGGED, SEEN]


def test_a_push_repeated_after_a_crash_repeats_nothing_and_a_failed_one_loses_nothing(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    box = make_box(sqlite_db, dovecot, tmp_path, n=3, offset=60)
    with dovecot.client(box.user) as c:
        c.create_folder("Archive")
    a, b, _c = box.mids
    box.act([a], "read")
    box.act([a, b], "done")
    box.sync()
    # A crash after the server was written but before the rows were marked: pushed again.
    with sqlite_db.session() as s:
        s.execute(update(EmailActionRow).values(imap_synced_at=None))
    again = box.sync()
    assert again.push.actions == 3 and again.push.stored == 0 and again.push.moved == 0
    assert box.server_flags("Archive") == {a: {SEEN}, b: set()}  # no copy made twice

    # The server unreachable: the actions wait, and go out with the first sync that works.
    box.act([b], "important")
    with sqlite_db.session() as s:
        acc = s.scalars(select(Account)).one()
        port, acc.imap_port = acc.imap_port, 1
    with pytest.raises(ImapNetworkError):
        sync_account(sqlite_db, box.settings.model_copy(update={"imap_retries": 0}), ACCOUNT)
    assert box.unsynced() == 1
    with sqlite_db.session() as s:
        s.scalars(select(Account)).one().imap_port = port
    box.sync()
    assert box.unsynced() == 0 and box.server_flags("Archive")[b] == {FLAGGED}


def test_the_watcher_writes_back_and_reads_flags_within_seconds(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    """``beacon serve``'s watcher: an action in Beacon is on the server within seconds (the
    outbox is looked at every push_interval), a star set in a mail program is in Beacon within
    seconds (IDLE). Polling is an hour away: it cannot be what did it."""
    box = make_box(sqlite_db, dovecot, tmp_path, n=2, offset=70, sync_interval=3600, imap_idle_resync=3600)
    a, b = box.mids
    w = ImapWatcher(box.settings, sqlite_db, pending=pending_accounts, push_interval=0.2)
    w.start()
    try:
        wait_for(lambda: any(watch.syncs for watch in w.accounts.values()), what="first sync")
        box.act([a], "read")
        took = wait_for(lambda: box.server_flags()[a] == {SEEN}, what="write-back")
        box.other_client(b, add=(FLAGGED,))
        took = max(took, wait_for(lambda: box.state(b).importance == Importance.IMPORTANT, what="read back"))
        assert took < 5
    finally:
        w.stop(timeout=10)
    assert box.unsynced() == 0


def test_beacons_level_is_written_as_a_keyword_when_enabled(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    box = make_box(sqlite_db, dovecot, tmp_path, n=3, offset=80, imap_level_keywords=True)
    a, b, c = box.mids

    def analysed(mid: str, level: str) -> None:
        """The stored analysis's level (what the engine, or a rescore, leaves there)."""
        with sqlite_db.session() as s:
            row = s.scalar(select(AnalysisRow).where(AnalysisRow.email_id == box.ids[mid]))
            if row is None:  # a valid analysis made without NLP, then the level wanted
                email = s.get(EmailRow, box.ids[mid])
                assert email is not None
                row = save_analysis(s, email.id, Analysis.model_validate(fake_analysis(email.data, box.settings)),
                                    box.settings)
            row.level = level

    analysed(a, "HIGH")
    analysed(b, "LOW")  # c: not analysed yet, no keyword
    box.other_client(b, add=(SEEN,))
    assert box.sync().push.levels == 2
    assert box.server_flags() == {a: {"$BeaconHigh"}, b: {"$BeaconLow", SEEN}, c: set()}
    assert box.state(b).read_at is not None  # the keyword write did not hide the other change
    analysed(a, "MEDIUM")
    assert box.sync().push.levels == 1
    assert box.server_flags()[a] == {"$BeaconMedium"}
    assert box.sync().push.levels == 0


def test_a_write_the_server_refuses_is_reported_and_not_retried_for_ever(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path
) -> None:
    box = make_box(sqlite_db, dovecot, tmp_path, n=2, offset=84)
    with dovecot.client(box.user) as c:
        c.create_folder("Archive")
    a, _b = box.mids
    box.act([a], "done")
    box.sync()
    with dovecot.client(box.user) as c:
        c.delete_folder("Archive")  # with the mail in it, behind Beacon's back
    box.act([a], "undone")
    result = box.sync()
    assert result.push.refused == 1 and result.error is not None and "refused 1 write-back" in result.error
    assert box.unsynced() == 0 and box.sync().push.refused == 0


def test_flag_changes_map_to_actions_only_where_the_state_differs() -> None:
    from beacon.imap.flag_states import server_actions
    from beacon.imap.mailbox import parse_uid_set

    now = datetime.now(UTC)
    fresh = EmailState()
    assert server_actions([], [SEEN, FLAGGED, ANSWERED], fresh) == ["read", "important", "replied"]
    assert server_actions([SEEN, FLAGGED], [], EmailState(read_at=now, importance=Importance.IMPORTANT)) == [
        "unread", "clear_importance"]
    # Unstarring mail the reader marked "not important" changes nothing; \Answered removed neither.
    assert server_actions([FLAGGED, ANSWERED], [], EmailState(importance=Importance.NOT_IMPORTANT,
                                                              replied_at=now)) == []
    assert server_actions([], [SEEN], EmailState(read_at=now)) == []  # already read
    assert server_actions([], [DONE_KEYWORD], fresh) == ["done"]
    assert parse_uid_set("3:5,9,12:11") == [3, 4, 5, 9, 12, 11]


def test_vanished_uid_sets_read_as_imap_writes_them() -> None:
    from beacon.imap.mailbox import uid_set

    assert uid_set("3:5,9") == {3, 4, 5, 9}
    assert uid_set("7:5") == {5, 6, 7}  # a range may be written high:low
    assert uid_set("12") == {12} and uid_set("") == set()
