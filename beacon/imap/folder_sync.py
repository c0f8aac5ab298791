"""Incremental sync of one IMAP folder into the store.

Order of work, each step safe to interrupt at any point:

1. SELECT (read-only, so syncing never changes the mailbox) and compare UIDVALIDITY with the
   stored one; on a change, every stored link becomes *stale* (see :mod:`beacon.imap.links`).
2. Refresh flags of the stored UIDs and notice expunged ones, in UID chunks.
3. Fetch messages with UID > last_uid in batches bounded by count *and* bytes, with
   ``BODY.PEEK[]`` (does not set \\Seen), many messages per FETCH. Messages are parsed by
   the importer's :class:`~beacon.ingest.prepare.Preparer` (a process pool on multi-core
   machines). Fetching, handing to the parser and storing run in three threads with a
   bounded queue between each two (:mod:`beacon.imap.prefetch`), so the next batch is
   fetched while the last ones are parsed and stored. Each batch is
   stored with a few statements and ``last_uid`` advanced in one transaction, so a fetch
   cut off half-way resumes after the last stored batch and the store's dedup
   (Message-ID + content hash) makes a repeated batch harmless anyway.
   After a UIDVALIDITY change, messages are first matched to stale links by Message-ID and
   size (a cheap header fetch) so a renumbered mailbox is not downloaded again.
4. Stale links that found no message are mail that is gone: marked deleted.
"""

from __future__ import annotations

import hashlib
import imaplib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from imapclient import IMAPClient
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from beacon.imap import links
from beacon.imap.mailbox import fetch_changed_flags, fetch_changes_and_vanished
from beacon.imap.prefetch import Prefetch
from beacon.errors import FolderError, SyncCancelled
from beacon.ingest.prepare import ParseJob, Prepared, Preparer
from beacon.parse import parse_message
from beacon.store.db import Database
from beacon.store.emails import AddResult, NewEmail, add_batch
from beacon.triage.replies import detect_replies
from beacon.store.schema import ImapFolder, ImapMessage, utcnow

log = logging.getLogger(__name__)

WINDOW = 500  # new UIDs whose size (and Message-ID) are asked for in one FETCH
KNOWN_CHUNK = 1000  # stored UIDs whose flags are refreshed per FETCH
UNCHANGED = object()  # a stored UID whose flags did not change since the last sync
BODY = b"BODY[]"
MESSAGE_ID_HEADER = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
OVERSIZE_SLICE = 8 * 1024 * 1024  # bytes per FETCH when hashing a message over the size limit


# (email id, flags before, flags now) of known mail whose flags another mail program changed.
FlagChange = tuple[int, list[str], list[str]]
# Called in the transaction that records the change: the states move with the flags or not at all.
FlagChangesFn = Callable[[Session, list[FlagChange]], int]
NewEmailsFn = Callable[[Session, list[int]], object]


@dataclass
class FolderResult:
    folder: str
    new: int = 0  # emails stored for the first time
    existing: int = 0  # fetched but already stored (e.g. the same mail in another folder)
    fetched: int = 0  # message bodies downloaded
    remapped: int = 0  # relinked by Message-ID after a UIDVALIDITY change, not downloaded
    flags_changed: int = 0
    deleted: int = 0  # links removed because the server no longer has the message
    failed: int = 0  # messages the store refused (logged; the sync goes on)
    pending: int = 0  # messages this sync has to bring in (fetch or relink)
    uidvalidity_changed: bool = False
    # How known mail's flags were refreshed: "full" (every UID), "changed" (CONDSTORE: FETCH
    # CHANGEDSINCE the last sync, and a search of every UID for what is gone), "vanished"
    # (QRESYNC: the same FETCH also lists what is gone) or "skipped" (HIGHESTMODSEQ unchanged).
    refresh: str = ""
    error: str | None = None
    new_email_ids: list[int] = field(default_factory=list, repr=False)
    imap_actions: int = 0  # flag changes made elsewhere, taken into Beacon's states
    # Emails whose message left this folder (expunged, or moved by another mail program).
    gone_email_ids: list[int] = field(default_factory=list, repr=False)
    # Emails already stored, found at a new UID here (e.g. moved back from the archive elsewhere).
    found_email_ids: list[int] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()
                if k not in ("new_email_ids", "gone_email_ids", "found_email_ids")}


def chunks(seq: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def plan_batches(
    uids: Sequence[int], sizes: dict[int, int], max_count: int, max_bytes: int
) -> Iterator[list[int]]:
    """Cut UIDs (ascending) into batches of at most ``max_count`` messages and ``max_bytes``
    bytes; a single message bigger than ``max_bytes`` travels alone."""
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= max_count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


BatchFn = Callable[["FolderResult"], None]
FetchedJob = tuple[tuple[int, int | None, list[str]], ParseJob | None]
PreparedRow = tuple[tuple[int, int | None, list[str]], Prepared | None]


def _raw_bytes(item: FetchedJob) -> int:
    return len(item[1].raw) if item[1] is not None else 0


def _row_bytes(item: PreparedRow) -> int:
    new = item[1].new if item[1] is not None else None
    return len(new.raw_compressed) + len(new.columns["data"]) if new is not None else 0


@dataclass
class FolderSync:
    db: Database
    client: IMAPClient
    account_id: int
    name: str
    source_prefix: str  # an IMAP URL prefix, recorded as each email's source
    batch_size: int
    batch_bytes: int
    result: FolderResult
    on_batch: BatchFn | None = None
    cancel: threading.Event | None = None
    preparer: Preparer[Any] | None = None  # parse workers shared by the account's folders
    on_flag_changes: FlagChangesFn | None = None  # returns how many actions it took
    on_new_emails: NewEmailsFn | None = None  # first states of mail stored for the first time
    # A bigger message is stored with its headers only (its hash read in slices).
    max_message_bytes: int = 50 * 1024 * 1024
    qresync: bool = False  # QRESYNC enabled on this connection (mailbox.enable_qresync): VANISHED
    folder_id: int = field(default=0, init=False)
    uidvalidity: int = field(default=0, init=False)
    highest_modseq: int | None = field(default=None, init=False)  # the server's, at SELECT
    known_modseq: int | None = field(default=None, init=False)  # ours, from the last sync
    # Until checked, link() looks for stale links to reuse.
    has_stale: bool = field(default=True, init=False)


    def __post_init__(self) -> None:
        self.batch_size = max(1, self.batch_size)
        self.batch_bytes = max(1, self.batch_bytes)

    # -- steps ---------------------------------------------------------------
    def run(self) -> FolderResult:
        last_uid = self._select()
        if self.highest_modseq is None or self.known_modseq is None:
            self.result.refresh = "full"
            self._refresh_known()
        elif self.highest_modseq == self.known_modseq:
            self.result.refresh = "skipped"  # CONDSTORE: no flag changed, nothing expunged
        else:
            self.result.refresh = "vanished" if self.qresync else "changed"
            self._refresh_known(since=self.known_modseq)
        self._fetch_new(last_uid)
        with self.db.session() as s:
            self.result.deleted += links.purge_stale(s, self.folder_id)
            folder = s.get(ImapFolder, self.folder_id)
            assert folder is not None
            folder.last_sync_at = utcnow()
            # What SELECT said: a change made during this sync has a higher MODSEQ and is
            # refreshed next time.
            folder.highest_modseq = self.highest_modseq
        return self.result

    def _select(self) -> int:
        try:
            info = self.client.select_folder(self.name, readonly=True)
        except imaplib.IMAP4.abort:
            raise  # a network fault: retried by the caller
        except imaplib.IMAP4.error as exc:
            raise FolderError(f"folder {self.name!r}: {exc}") from exc
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        modseq = info.get(b"HIGHESTMODSEQ")
        self.highest_modseq = int(modseq) if isinstance(modseq, int) else None
        with self.db.session() as s:
            folder = links.get_or_create_folder(s, self.account_id, self.name)
            if folder.uidvalidity is None:
                folder.uidvalidity = self.uidvalidity
            elif folder.uidvalidity != self.uidvalidity:
                n = links.mark_all_stale(s, folder, self.uidvalidity)
                folder.highest_modseq = None
                self.result.uidvalidity_changed = True
                log.warning(
                    "UIDVALIDITY changed: resyncing folder",
                    extra={"folder": self.name, "old": folder.uidvalidity, "stale_links": n},
                )
            self.folder_id = folder.id
            self.known_modseq = folder.highest_modseq
            return folder.last_uid

    def _refresh_known(self, since: int | None = None) -> None:
        """Flags of stored UIDs; stored UIDs the server lacks were expunged.

        Without ``since``: FLAGS of every stored UID, a FETCH per KNOWN_CHUNK. With ``since``
        (CONDSTORE, the folder's HIGHESTMODSEQ at the last sync): one FETCH ... CHANGEDSINCE
        for the flags that changed and one UID SEARCH for the UIDs still there; on a big
        folder where little changed (the sync after an IDLE event) that is what costs, so
        with QRESYNC the FETCH asks for VANISHED too and the search is not needed.
        """
        lookup = self._full_lookup if since is None else self._changed_lookup(since)
        after = 0
        while True:
            self._check_cancel()
            with self.db.session() as s:
                chunk = [
                    (m.id, m.uid, list(m.flags or []))
                    for m in links.known_chunk(s, self.folder_id, after, KNOWN_CHUNK)
                ]
            if not chunk:
                return
            now = lookup([uid for _id, uid, _flags in chunk])
            with self.db.session() as s:
                gone = []
                changes: list[FlagChange] = []
                for msg_id, uid, old_flags in chunk:
                    flags = now.get(uid, UNCHANGED)
                    if flags is UNCHANGED:
                        continue
                    msg = s.get(ImapMessage, msg_id)
                    if msg is None:
                        continue
                    if flags is None:
                        gone.append(msg)
                    elif flags != old_flags:
                        links.update_flags(s, msg, flags)
                        self.result.flags_changed += 1
                        changes.append((msg.email_id, old_flags, flags))
                if changes and self.on_flag_changes is not None:
                    self.result.imap_actions += self.on_flag_changes(s, changes)
                links.unlink_gone(s, gone)
                self.result.deleted += len(gone)
                self.result.gone_email_ids.extend(m.email_id for m in gone)
            after = chunk[-1][1]

    def _full_lookup(self, uids: list[int]) -> dict[int, object]:
        """{uid: flags, or None when expunged} (the reply holds only UIDs that still exist)."""
        resp = self.client.fetch(uids, [b"FLAGS"])
        return {u: links.normalise_flags(resp[u].get(b"FLAGS", ())) if u in resp else None for u in uids}

    def _changed_lookup(self, since: int) -> Callable[[list[int]], dict[int, object]]:
        if self.qresync:  # what is gone comes with the changes: no search of every UID
            changed, vanished = fetch_changes_and_vanished(self.client, since)

            def told(uids: list[int]) -> dict[int, object]:
                return {u: None if u in vanished else (changed[u].flags if u in changed else UNCHANGED) for u in uids}

            return told
        changed = fetch_changed_flags(self.client, since)
        alive = set(self.client.search(["ALL"]))

        def lookup(uids: list[int]) -> dict[int, object]:
            return {u: (changed[u].flags if u in changed else UNCHANGED) if u in alive else None for u in uids}

        return lookup

    def _fetch_new(self, last_uid: int) -> None:
        # "n:*" always matches the highest UID even when it is below n: filter.
        uids = sorted(u for u in self.client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        # After a reconnect this pass continues the earlier one: count what it already did.
        self.result.pending = self.result.fetched + self.result.remapped + len(uids)
        with self.db.session() as s:
            self.has_stale = links.has_stale(s, self.folder_id)
        if self.has_stale:
            # Before the stages start: re-linking writes links the store stage may also
            # reuse, so it must not run in the fetch thread beside it.
            self._remap_all(uids)
        preparer = self.preparer or Preparer(0)
        # Three stages at once: a thread FETCHes, a thread hands the messages to the parse
        # workers, this thread stores. Each stage runs at most about a batch ahead of the next.
        # A quarter of a batch's bytes between stages is enough to keep the next one busy: the
        # fetch thread holds its FETCH's whole answer anyway while it waits for room.
        fetched = Prefetch(self._fetched(uids), _raw_bytes, max_items=self.batch_size,
                           max_bytes=self.batch_bytes // 4, name=f"imap-fetch-{self.name}")
        parsed = Prefetch(preparer.run(fetched), _row_bytes, max_items=self.batch_size,
                          max_bytes=self.batch_bytes // 4, name=f"imap-parse-{self.name}")
        rows: list[tuple[int, list[str], Prepared]] = []
        try:
            for (last_uid, uid, flags), prepared in parsed:
                if uid is None:  # the end of a fetched batch (or of a window)
                    self._store_batch(rows, last_uid)
                    rows = []
                elif prepared is not None:
                    rows.append((uid, flags, prepared))
        finally:
            # Nothing may use the connection after this returns: stop both, wait for both.
            fetched.stop()
            parsed.close()
            fetched.close()

    def _fetched(self, uids: list[int]) -> Iterator[FetchedJob]:
        """Parse jobs of the new messages, fetched batch by batch as the parser asks for them.

        Tags are (batch's last UID, uid, flags); each batch ends with a (last UID, None)
        marker: the batch is stored there, and a window that needs no fetch still
        advances ``last_uid``.
        """
        for window in chunks(uids, WINDOW):
            self._check_cancel()
            meta = self.client.fetch(list(window), [b"RFC822.SIZE", b"FLAGS"])
            with self.db.session() as s:
                linked = links.linked_uids(s, self.folder_id, window)
            todo = [u for u in window if u in meta and u not in linked]
            sizes = {u: int(meta[u].get(b"RFC822.SIZE") or 0) for u in todo}
            for batch in plan_batches(todo, sizes, self.batch_size, self.batch_bytes):
                self._check_cancel()
                for uid in [u for u in batch if sizes[u] > self.max_message_bytes]:
                    job = self._oversize_job(uid, sizes[uid])
                    if job is not None:
                        yield (batch[-1], uid, links.normalise_flags(meta[uid].get(b"FLAGS", ()))), job
                normal = [u for u in batch if sizes[u] <= self.max_message_bytes]
                resp = self.client.fetch(normal, [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"]) if normal else {}
                for uid in batch:
                    data = resp.get(uid)
                    raw = data.get(BODY) if data else None
                    if raw is None:
                        continue  # expunged between SEARCH and FETCH
                    self.result.fetched += 1
                    internal = data.get(b"INTERNALDATE")
                    fallback = internal if isinstance(internal, datetime) else utcnow()
                    offset = fallback.utcoffset() if fallback.tzinfo is not None else None
                    # imapclient's own tzinfo does not pickle: parse workers get a plain one.
                    fallback = fallback.replace(tzinfo=timezone(offset or timedelta(0)))
                    source = f"{self.source_prefix}/{self.name};UIDVALIDITY={self.uidvalidity}/;UID={uid}"
                    flags = links.normalise_flags(data.get(b"FLAGS", ()))
                    yield (batch[-1], uid, flags), ParseJob(bytes(raw), source, self.name, fallback)
                del resp
                yield (batch[-1], None, []), None
            yield (window[-1], None, []), None

    def _oversize_job(self, uid: int, size: int) -> ParseJob | None:
        """A message over the size limit: its header block, and the SHA-256 of the whole
        message read in slices (``BODY.PEEK[]<offset.length>``), never all of it at once."""
        header = (self.client.fetch([uid], [b"BODY.PEEK[HEADER]"]).get(uid) or {}).get(b"BODY[HEADER]")
        if header is None:
            return None  # expunged meanwhile
        digest = hashlib.sha256()
        offset = 0
        while offset < size:
            self._check_cancel()
            key = f"BODY[]<{offset}>".encode()
            chunk = (self.client.fetch([uid], [f"BODY.PEEK[]<{offset}.{OVERSIZE_SLICE}>".encode()])
                     .get(uid) or {}).get(key)
            if not chunk:
                break
            digest.update(chunk)
            offset += len(chunk)
        self.result.fetched += 1
        source = f"{self.source_prefix}/{self.name};UIDVALIDITY={self.uidvalidity}/;UID={uid}"
        return ParseJob(bytes(header), source, self.name, utcnow(), (offset, digest.hexdigest()),
                        self.max_message_bytes)

    def _store_batch(self, rows: list[tuple[int, list[str], Prepared]], last_uid: int) -> None:
        """Store one fetched batch and advance ``last_uid`` past it, in one transaction."""
        with self.db.session() as s:
            good = [(uid, flags, p.new) for uid, flags, p in rows if p.new is not None]
            for uid, _flags, p in rows:
                if p.new is None:
                    self.result.failed += 1
                    log.error("cannot parse IMAP message", extra={"folder": self.name, "uid": uid, "error": p.error})
            for _uid, flags, new in good:
                # New rows are inserted with their flags: no update of each one afterwards.
                new.columns.update(links.flag_columns(flags))
            try:
                with s.begin_nested():
                    results = add_batch(s, self.account_id, [n for _u, _f, n in good])
                    links.link_many(s, self.folder_id, [(uid, res.email_id, flags) for (uid, flags, _n), res
                                                        in zip(good, results)], may_be_stale=self.has_stale,
                                    flags_stored={res.email_id for res in results if res.created})
                outcome: list[AddResult | None] = list(results)
            except SQLAlchemyError:
                outcome = [self._store_one(s, uid, flags, new) for uid, flags, new in good]
            created = []
            for res in outcome:
                if res is None:
                    self.result.failed += 1
                elif res.created:
                    self.result.new += 1
                    created.append(res.email_id)
                else:
                    self.result.existing += 1
                    self.result.found_email_ids.append(res.email_id)
            # First the states the server's flags give new mail, then what the thread shows
            # answered (\Answered, and own mail in a Sent folder answering earlier mail).
            if created and self.on_new_emails is not None:
                self.on_new_emails(s, created)
            detect_replies(s, created)
            self.result.new_email_ids.extend(created)
            folder = s.get(ImapFolder, self.folder_id)
            assert folder is not None
            folder.last_uid = max(folder.last_uid, last_uid)
        if rows and self.on_batch is not None:
            self.on_batch(self.result)

    def _store_one(self, s: Session, uid: int, flags: list[str], new: NewEmail) -> AddResult | None:
        try:
            # A savepoint: one message the database refuses does not undo the batch.
            with s.begin_nested():
                res = add_batch(s, self.account_id, [new])[0]
                links.link(s, self.folder_id, uid, res.email_id, flags, may_be_stale=self.has_stale)
                return res
        except SQLAlchemyError as exc:
            log.error("cannot store IMAP message", extra={"folder": self.name, "uid": uid, "error": repr(exc)})
            return None

    def _remap_all(self, uids: list[int]) -> None:
        """Link the new UIDs that are stale links' mail (a changed UIDVALIDITY), window by window."""
        for window in chunks(uids, WINDOW):
            self._check_cancel()
            meta = self.client.fetch(list(window), [b"RFC822.SIZE", b"FLAGS", b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            with self.db.session() as s:
                linked = links.linked_uids(s, self.folder_id, window)
            self._remap([u for u in window if u in meta and u not in linked], meta)

    def _remap(self, todo: list[int], meta: dict[int, dict[bytes, Any]]) -> list[int]:
        """Link new UIDs to stale links of the same mail (Message-ID + size); returns the rest."""
        keys: dict[int, tuple[str, int]] = {}
        for uid in todo:
            header = meta[uid].get(MESSAGE_ID_HEADER) or b""
            email = parse_message(header).email  # the parser's own Message-ID normalisation
            if not email.message_id_synthetic:
                keys[uid] = (email.message_id, int(meta[uid].get(b"RFC822.SIZE") or 0))
        done: set[int] = set()
        with self.db.session() as s:
            candidates = links.stale_candidates(s, self.folder_id, [k[0] for k in keys.values()])
            for uid in todo:
                email_ids = candidates.get(keys.get(uid, ("", -1)))
                if email_ids:
                    flags = links.normalise_flags(meta[uid].get(b"FLAGS", ()))
                    links.link(s, self.folder_id, uid, email_ids.pop(0), flags)
                    done.add(uid)
        self.result.remapped += len(done)
        return [u for u in todo if u not in done]

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise SyncCancelled(f"sync of folder {self.name!r} cancelled")
