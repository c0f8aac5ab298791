"""Beacon's actions written back to the IMAP server (the outbox is ``email_actions``).

An action not yet on the server has ``imap_synced_at IS NULL`` (an undo sets it back to
NULL). A push does not replay the log: for each email with such actions it writes the
*current* state of the fields those actions touched — so a retry after a dropped connection
repeats nothing twice (setting a flag that is set, or moving mail already moved, is a no-op
here), an action and its undo cancel out, and only then are the rows marked.

Conflicts: right before writing, the message's flags are read again. What changed on the
server since Beacon last looked (its flags then are the link's ``flags``) is taken into
Beacon first, as actions of source ``imap``: the server's latest state wins. With CONDSTORE
the write is ``UNCHANGEDSINCE`` the MODSEQ just read, so a change made in between is not
overwritten either: the server refuses it (MODIFIED), Beacon reads again and retries.

Mapping: read -> ``\\Seen``, important -> ``\\Flagged`` (not important and "clear" remove it),
replied -> ``\\Answered``, done -> a move to the archive folder (undone: back to the inbox),
or the ``$BeaconDone`` keyword where there is no archive folder. Snoozes stay in Beacon.
"""

from __future__ import annotations

import imaplib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from imapclient import IMAPClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from beacon.errors import ImapConfigError
from beacon.imap import links
from beacon.imap.flag_states import apply_imap_action, apply_server_changes
from beacon.imap.mailbox import (
    ANSWERED,
    DONE_KEYWORD,
    FLAGGED,
    SEEN,
    ArchiveKind,
    ArchiveTarget,
    MessageFlags,
    ServerFeatures,
    fetch_flags,
    find_archive,
    find_by_message_id,
    move,
    store_flags,
)
from beacon.store.db import Database
from beacon.store.schema import (
    Account,
    AnalysisRow,
    EmailActionRow,
    EmailRow,
    ImapFolder,
    ImapMessage,
)
from beacon.triage.models import Action, EmailState, Importance
from beacon.triage.states import load_states

log = logging.getLogger(__name__)

BATCH = 500  # pending actions handled per round
CONFLICT_RETRIES = 3  # re-reads after the server refused a write (it changed meanwhile)

# The state field each action changes on the server (snooze: none, it stays in Beacon).
FIELD_OF: dict[str, str] = {
    Action.DONE: "done_at", Action.UNDONE: "done_at",
    Action.READ: "read_at", Action.UNREAD: "read_at",
    Action.IMPORTANT: "importance", Action.NOT_IMPORTANT: "importance", Action.CLEAR_IMPORTANCE: "importance",
    Action.REPLIED: "replied_at",
}
FLAG_OF: dict[str, str] = {"read_at": SEEN, "importance": FLAGGED, "replied_at": ANSWERED}
LEVEL_KEYWORDS = {"HIGH": "$BeaconHigh", "MEDIUM": "$BeaconMedium", "LOW": "$BeaconLow"}


def wanted(field_name: str, state: EmailState) -> bool:
    if field_name == "importance":
        return state.importance == Importance.IMPORTANT
    return getattr(state, field_name) is not None


def pending_accounts(db: Database) -> set[int]:
    """IMAP accounts with actions not yet written to the server (the watcher's trigger)."""
    with db.session() as s:
        return set(s.scalars(
            select(EmailRow.account_id).distinct()
            .join(EmailActionRow, EmailActionRow.email_id == EmailRow.id)
            .join(Account, Account.id == EmailRow.account_id)
            .where(EmailActionRow.imap_synced_at.is_(None), Account.kind == "imap")
        ))


@dataclass
class PushResult:
    actions: int = 0  # action rows marked as written
    stored: int = 0  # messages whose flags were changed
    moved: int = 0  # messages moved (done / undone)
    conflicts: int = 0  # writes the server refused because the message had changed
    server_changes: int = 0  # changes made elsewhere, taken into Beacon before writing
    levels: int = 0  # messages given their level keyword
    archived_elsewhere: int = 0  # moved to the archive folder by another mail program: done
    unarchived_elsewhere: int = 0  # moved out of the archive folder by another mail program: undone
    refused: int = 0  # messages whose write the server refused (logged; not retried for ever)

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass(frozen=True)
class Loc:
    """One email at one UID (a live ``imap_messages`` row)."""

    link_id: int
    email_id: int
    uid: int
    flags: list[str]


@dataclass
class Writeback:
    """Push an account's pending actions over a logged-in client (the sync's connection)."""

    db: Database
    client: IMAPClient
    account_id: int
    level_keywords: bool = False
    features: ServerFeatures = field(init=False)
    result: PushResult = field(default_factory=PushResult, init=False)
    _archive: ArchiveTarget | None = field(default=None, init=False)
    _home: str = field(default="INBOX", init=False)  # where undone mail goes back to

    def __post_init__(self) -> None:
        self.features = ServerFeatures.of(self.client)

    def run(self) -> PushResult:
        after = 0
        while True:
            with self.db.session() as s:
                rows = s.execute(
                    select(EmailActionRow.id, EmailActionRow.email_id, EmailActionRow.action)
                    .join(EmailRow, EmailRow.id == EmailActionRow.email_id)
                    .where(EmailActionRow.imap_synced_at.is_(None), EmailRow.account_id == self.account_id,
                           EmailActionRow.id > after)
                    .order_by(EmailActionRow.id).limit(BATCH)
                ).all()
            if not rows:
                break
            self._push(rows)
            after = rows[-1][0]
        if self.level_keywords:
            self._push_levels()
        return self.result

    # -- actions --------------------------------------------------------------------
    def _push(self, rows: Sequence[tuple[int, int, str]]) -> None:
        fields: dict[int, set[str]] = {}
        for _id, email_id, action in rows:
            name = FIELD_OF.get(action)
            fields.setdefault(email_id, set())
            if name is not None:
                fields[email_id].add(name)
        if any("done_at" in f for f in fields.values()):
            self._find_archive()
        by_folder = self._locations([e for e, f in fields.items() if f])
        for (_folder_id, folder), locs in by_folder.items():
            with self._refusals(folder, len(locs)):
                self._push_folder(folder, locs, fields)
        now = datetime.now(UTC)
        with self.db.session() as s:
            s.execute(update(EmailActionRow).where(EmailActionRow.id.in_([r[0] for r in rows]))
                      .values(imap_synced_at=now).execution_options(synchronize_session=False))
        self.result.actions += len(rows)

    def _find_archive(self) -> None:
        if self._archive is not None:
            return
        with self.db.session() as s:
            acc = s.get(Account, self.account_id)
            configured = acc.imap_archive_folder if acc is not None else None
            folders = list(acc.folders or ["INBOX"]) if acc is not None else ["INBOX"]
        self._home = "INBOX" if "INBOX" in folders else folders[0]
        try:
            self._archive = find_archive(self.client, configured, self.features)
        except ImapConfigError as exc:
            log.warning("imap archive folder unusable: done mail gets a keyword",
                        extra={"account_id": self.account_id, "error": str(exc)})
            self._archive = ArchiveTarget(ArchiveKind.KEYWORD)
        log.info("imap archive", extra={"account_id": self.account_id, "kind": self._archive.kind,
                                        "folder": self._archive.folder})

    def _locations(self, email_ids: Sequence[int]) -> dict[tuple[int, str], list[Loc]]:
        out: dict[tuple[int, str], list[Loc]] = {}
        if not email_ids:
            return out
        with self.db.session() as s:
            for link_id, email_id, uid, flags, folder_id, name in s.execute(
                select(ImapMessage.id, ImapMessage.email_id, ImapMessage.uid, ImapMessage.flags,
                       ImapFolder.id, ImapFolder.name)
                .join(ImapFolder, ImapFolder.id == ImapMessage.folder_id)
                .where(ImapFolder.account_id == self.account_id, ImapMessage.uid > 0,
                       ImapMessage.email_id.in_(list(email_ids)))
                .order_by(ImapFolder.name, ImapMessage.uid)
            ):
                out.setdefault((folder_id, name), []).append(Loc(link_id, email_id, uid, list(flags or [])))
        return out

    def _flag_of(self, field_name: str) -> str | None:
        if field_name == "done_at":
            keyword = self._archive is not None and self._archive.kind == ArchiveKind.KEYWORD
            return DONE_KEYWORD if keyword else None
        return FLAG_OF.get(field_name)

    @contextmanager
    def _refusals(self, folder: str, count: int) -> Iterator[None]:
        """A command the server refuses (a folder gone, over quota, a flag not allowed) is
        logged and counted; retrying it at every sync would fail the same way. A dropped
        connection (abort) is the sync's to retry: the actions stay pending."""
        try:
            yield
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            self.result.refused += count
            log.warning("imap server refused a write-back", extra={
                "account_id": self.account_id, "folder": folder, "error": str(exc)})

    def _push_folder(self, folder: str, locs: list[Loc], fields: dict[int, set[str]]) -> None:
        self.client.select_folder(folder)  # read-write
        server = fetch_flags(self.client, [loc.uid for loc in locs], self.features)
        locs = [loc for loc in locs if loc.uid in server]  # the others are gone: the sync unlinks them
        states = self._take_server_changes(locs, {loc.uid: server[loc.uid].flags for loc in locs})
        # Flags as Beacon now knows them: what the server had, plus what Beacon wrote (never a
        # fresh read, which could hold another program's change the next sync must still see).
        result: dict[int, list[str]] = {}
        for loc in locs:
            current = server[loc.uid]
            for _attempt in range(CONFLICT_RETRIES + 1):
                add, remove = set(), set()
                for name in fields.get(loc.email_id, ()):
                    flag = self._flag_of(name)
                    if flag is None:
                        continue
                    has = flag in current.flags
                    if wanted(name, states[loc.email_id]) and not has:
                        add.add(flag)
                    elif not wanted(name, states[loc.email_id]) and has:
                        remove.add(flag)
                modseq = current.modseq if self.features.condstore else None
                if store_flags(self.client, loc.uid, add=add, remove=remove, base=current.flags, modseq=modseq):
                    if add or remove:
                        self.result.stored += 1
                    result[loc.uid] = sorted((set(current.flags) | add) - remove)
                    break
                # Changed on the server since we read it: take that in, then try again.
                self.result.conflicts += 1
                log.info("imap write-back conflict: the server's change wins",
                         extra={"folder": folder, "uid": loc.uid})
                fresh = fetch_flags(self.client, [loc.uid], self.features).get(loc.uid)
                if fresh is None:
                    break  # expunged meanwhile
                base = Loc(loc.link_id, loc.email_id, loc.uid, current.flags)
                states.update(self._take_server_changes([base], {loc.uid: fresh.flags}))
                current = fresh
        with self.db.session() as s:
            for loc in locs:
                if loc.uid in result:
                    self._set_link_flags(s, loc.link_id, result[loc.uid])
        self._moves(folder, [Loc(loc.link_id, loc.email_id, loc.uid, result[loc.uid])
                             for loc in locs if loc.uid in result], fields, states)

    def _take_server_changes(self, locs: Sequence[Loc], flags_now: dict[int, list[str]]) -> dict[int, EmailState]:
        """Changes made on the server since Beacon's last look go into Beacon first (they win);
        returns the states after them."""
        with self.db.session() as s:
            changed = [(loc.email_id, loc.flags, flags_now[loc.uid]) for loc in locs
                       if flags_now[loc.uid] != loc.flags]
            if changed:
                self.result.server_changes += len(apply_server_changes(s, changed))
                for loc in locs:
                    if flags_now[loc.uid] != loc.flags:
                        self._set_link_flags(s, loc.link_id, flags_now[loc.uid])
            return load_states(s, [loc.email_id for loc in locs])

    @staticmethod
    def _set_link_flags(s: Session, link_id: int, flags: list[str]) -> None:
        msg = s.get(ImapMessage, link_id)
        if msg is not None and msg.flags != flags:
            links.update_flags(s, msg, flags)

    # -- done: moves ----------------------------------------------------------------
    def _moves(self, folder: str, locs: list[Loc], fields: dict[int, set[str]],
               states: dict[int, EmailState]) -> None:
        """Done mail outside the archive folder goes there; undone mail in it goes home."""
        archive = self._archive
        if archive is None or archive.folder is None:
            return
        in_archive = folder == archive.folder
        movers = [loc for loc in locs if "done_at" in fields.get(loc.email_id, ())
                  and (states[loc.email_id].done_at is not None) != in_archive]
        if not movers:
            return
        dest = self._home if in_archive else archive.folder
        moved = move(self.client, [loc.uid for loc in movers], dest, self.features)
        self.result.moved += len(movers)
        lost: list[Loc] = []
        with self.db.session() as s:
            target = links.get_or_create_folder(s, self.account_id, dest)
            if target.uidvalidity is None and moved.uidvalidity is not None:
                target.uidvalidity = moved.uidvalidity
            same_validity = moved.uidvalidity is None or target.uidvalidity == moved.uidvalidity
            s.execute(delete(ImapMessage).where(ImapMessage.id.in_([loc.link_id for loc in movers]))
                      .execution_options(synchronize_session=False))
            for loc in movers:
                new_uid = moved.uids.get(loc.uid)
                if new_uid is not None and same_validity:
                    self._relink(s, target.id, new_uid, loc)
                else:
                    lost.append(loc)
            target_id = target.id
        if lost:
            self._find_moved(target_id, dest, lost)

    @staticmethod
    def _relink(s: Session, folder_id: int, uid: int, loc: Loc) -> None:
        exists = s.scalar(select(ImapMessage.id).where(ImapMessage.folder_id == folder_id, ImapMessage.uid == uid))
        if exists is None:
            s.add(ImapMessage(folder_id=folder_id, uid=uid, email_id=loc.email_id, flags=loc.flags))

    def _find_moved(self, folder_id: int, folder: str, lost: list[Loc]) -> None:
        """Moved mail the server gave no new UID for: found again by its Message-ID."""
        self.client.select_folder(folder, readonly=True)
        with self.db.session() as s:
            for loc in lost:
                row = s.get(EmailRow, loc.email_id)
                if row is None or row.message_id_synthetic:
                    continue
                uids = find_by_message_id(self.client, row.message_id)
                if uids:
                    self._relink(s, folder_id, uids[-1], loc)

    # -- done elsewhere ---------------------------------------------------------------
    def follow_archived(self, email_ids: Sequence[int]) -> int:
        """Mail that left a watched folder and is now in the archive folder was archived by
        another mail program: linked there again (not deleted) and done (source imap)."""
        if not email_ids:
            return 0
        self._find_archive()
        archive = self._archive
        if archive is None or archive.folder is None:
            return 0
        with self.db.session() as s:
            rows = s.execute(select(EmailRow.id, EmailRow.message_id).where(
                EmailRow.id.in_(list(email_ids)), EmailRow.deleted.is_(True),
                EmailRow.message_id_synthetic.is_(False))).all()
        if not rows:
            return 0
        found: dict[int, int] = {}
        flags: dict[int, MessageFlags] = {}
        with self._refusals(archive.folder, 0):
            info = self.client.select_folder(archive.folder, readonly=True)
            for email_id, mid in rows:
                uids = find_by_message_id(self.client, mid)
                if uids:
                    found[email_id] = uids[-1]
            flags = fetch_flags(self.client, list(found.values()), self.features)
        if not found or not flags:
            return 0
        with self.db.session() as s:
            folder = links.get_or_create_folder(s, self.account_id, archive.folder)
            if folder.uidvalidity is None:
                folder.uidvalidity = int(info[b"UIDVALIDITY"])
            if folder.uidvalidity != int(info[b"UIDVALIDITY"]):
                return 0  # links of an older UIDVALIDITY there: leave that folder to a sync
            for email_id, uid in found.items():
                if uid in flags:
                    self._relink(s, folder.id, uid, Loc(0, email_id, uid, flags[uid].flags))
            s.execute(update(EmailRow).where(EmailRow.id.in_(list(found))).values(deleted=False)
                      .execution_options(synchronize_session=False))
            done = [eid for eid, state in load_states(s, list(found)).items() if state.done_at is None]
            if done:
                apply_imap_action(s, done, Action.DONE)
        return len(found)

    def follow_unarchived(self, folder: str, email_ids: Sequence[int]) -> int:
        """Done mail found again in watched ``folder`` after it was in the archive folder was moved
        back by another mail program: undone (source imap, in step with the server already), and
        its link in the archive folder, which the message left, dropped."""
        if not email_ids:
            return 0
        self._find_archive()
        archive = self._archive
        if archive is None or archive.folder is None or folder == archive.folder:
            return 0
        with self.db.session() as s:
            in_archive = select(ImapMessage.id, ImapMessage.email_id).join(
                ImapFolder, ImapFolder.id == ImapMessage.folder_id).where(
                ImapFolder.account_id == self.account_id, ImapFolder.name == archive.folder,
                ImapMessage.email_id.in_(list(email_ids)))
            archived = dict(s.execute(in_archive).all())
            states = load_states(s, list(set(archived.values())))
            back = sorted(eid for eid, state in states.items() if state.done_at is not None)
            if not back:
                return 0
            s.execute(delete(ImapMessage).where(ImapMessage.id.in_(
                [link for link, eid in archived.items() if eid in back])).execution_options(synchronize_session=False))
            apply_imap_action(s, back, Action.UNDONE)
        log.info("imap mail moved out of the archive elsewhere: undone",
                 extra={"account_id": self.account_id, "folder": folder, "emails": len(back)})
        return len(back)

    # -- level keywords ---------------------------------------------------------------
    def _push_levels(self) -> None:
        """Each message of the watched folders gets the keyword of its analysis's level."""
        with self.db.session() as s:
            acc = s.get(Account, self.account_id)
            watched = list(acc.folders or ["INBOX"]) if acc is not None else []
            rows = s.execute(
                select(ImapFolder.name, ImapMessage.id, ImapMessage.uid, ImapMessage.flags, AnalysisRow.level)
                .join(ImapMessage, ImapMessage.folder_id == ImapFolder.id)
                .join(EmailRow, EmailRow.id == ImapMessage.email_id)
                .join(AnalysisRow, (AnalysisRow.email_id == EmailRow.id)
                      & (AnalysisRow.pipeline_version == EmailRow.analysed_version))
                .where(ImapFolder.account_id == self.account_id, ImapFolder.name.in_(watched), ImapMessage.uid > 0)
            ).all()
        todo: dict[str, list[tuple[int, int, str, set[str]]]] = {}
        for folder, link_id, uid, flags, level in rows:
            keyword = LEVEL_KEYWORDS.get(level)
            others = (set(LEVEL_KEYWORDS.values()) - {keyword}) & set(flags or [])
            if keyword is not None and (keyword not in (flags or []) or others):
                todo.setdefault(folder, []).append((link_id, uid, keyword, others))
        for folder, items in todo.items():
            with self._refusals(folder, len(items)):
                self._store_levels(folder, items)

    def _store_levels(self, folder: str, items: list[tuple[int, int, str, set[str]]]) -> None:
        self.client.select_folder(folder)
        for _link_id, uid, keyword, others in items:
            store_flags(self.client, uid, add={keyword}, remove=others)
        with self.db.session() as s:
            for link_id, _uid, keyword, others in items:
                msg = s.get(ImapMessage, link_id)
                if msg is not None:  # only our own change: others' are for the next sync to see
                    self._set_link_flags(s, link_id, sorted((set(msg.flags or []) | {keyword}) - others))
        self.result.levels += len(items)
