"""IMAP write primitives: what the server offers, the archive folder, flags and moves.

imapclient covers the common commands; two it cannot say are done here on its underlying
imaplib connection: a STORE with a CONDSTORE modifier (``UNCHANGEDSINCE``, RFC 7162), and
reading the ``COPYUID`` / ``MODIFIED`` response codes (RFC 4315, RFC 7162) that tell where a
moved message landed and which messages changed on the server since Beacon last looked.
"""

from __future__ import annotations

import imaplib
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from imapclient import IMAPClient
from imapclient.response_parser import parse_fetch_response

from beacon.errors import ImapConfigError
from beacon.imap.links import normalise_flags

log = logging.getLogger(__name__)

SEEN, FLAGGED, ANSWERED, DELETED = "\\Seen", "\\Flagged", "\\Answered", "\\Deleted"
# "Done" on a server with no archive folder (none marked \Archive, none configured).
DONE_KEYWORD = "$BeaconDone"


@dataclass(frozen=True)
class ServerFeatures:
    """The extensions Beacon uses, from the server's CAPABILITY after login."""

    idle: bool = False
    move: bool = False  # RFC 6851
    uidplus: bool = False  # RFC 4315: UID EXPUNGE, COPYUID
    condstore: bool = False  # RFC 7162: MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE
    qresync: bool = False  # RFC 7162: VANISHED, the expunged UIDs since a MODSEQ

    @classmethod
    def of(cls, client: IMAPClient) -> ServerFeatures:
        caps = {c.upper() for c in client.capabilities()}
        return cls(idle=b"IDLE" in caps, move=b"MOVE" in caps, uidplus=b"UIDPLUS" in caps,
                   condstore=b"CONDSTORE" in caps or b"QRESYNC" in caps, qresync=b"QRESYNC" in caps)


class ArchiveKind(StrEnum):
    SPECIAL_USE = "special-use"  # the folder the server marks \Archive (RFC 6154)
    CONFIGURED = "configured"  # the account's imap_archive_folder
    KEYWORD = "keyword"  # no folder: the message stays and gets DONE_KEYWORD


@dataclass(frozen=True)
class ArchiveTarget:
    kind: ArchiveKind
    folder: str | None = None  # None for KEYWORD


def find_archive(client: IMAPClient, configured: str | None, features: ServerFeatures) -> ArchiveTarget:
    """Where "done" puts mail: the \\Archive folder, else the configured one (created when
    missing: the user named it), else a keyword. Moving needs MOVE or UIDPLUS (a plain
    EXPUNGE would also remove what the user's other programs marked \\Deleted)."""
    if not (features.move or features.uidplus):
        return ArchiveTarget(ArchiveKind.KEYWORD)
    for flags, _delim, name in client.list_folders():
        if any(f.lower() == b"\\archive" for f in flags):
            return ArchiveTarget(ArchiveKind.SPECIAL_USE, name)
    if configured:
        if not client.folder_exists(configured):
            try:
                client.create_folder(configured)
            except imaplib.IMAP4.error as exc:
                raise ImapConfigError(f"cannot create the archive folder {configured!r}: {exc}") from exc
        return ArchiveTarget(ArchiveKind.CONFIGURED, configured)
    return ArchiveTarget(ArchiveKind.KEYWORD)


def parse_uid_set(text: str) -> list[int]:
    """``"3:5,9"`` -> [3, 4, 5, 9], in the order given (COPYUID pairs them by position)."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        a, b = int(lo), int(hi or lo)
        out.extend(range(a, b + 1) if a <= b else range(a, b - 1, -1))
    return out


def _uid_set(uids: Iterable[int]) -> str:
    return ",".join(str(u) for u in uids)


def _pop_code(client: IMAPClient, code: str) -> list[bytes]:
    """A response code imaplib filed under its name (tagged or untagged ``OK [CODE ...]``)."""
    return [d for d in client._imap.untagged_responses.pop(code, []) if d is not None]


def _run_uid(client: IMAPClient, command: str, *args: str | bytes) -> None:
    typ, data = client._imap.uid(command, *args)  # imaplib: see the module docstring
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID {command} failed: {data!r}")


@dataclass(frozen=True)
class Moved:
    """Where moved messages landed (COPYUID): {old uid: new uid} in ``dest`` of ``uidvalidity``;
    a UID the server did not name (gone meanwhile, or a server that does not say) is absent."""

    uidvalidity: int | None
    uids: dict[int, int]


def move(client: IMAPClient, uids: Sequence[int], dest: str, features: ServerFeatures) -> Moved:
    """Move ``uids`` of the selected (read-write) folder to ``dest``: MOVE, else COPY +
    STORE \\Deleted + UID EXPUNGE."""
    if not uids:
        return Moved(None, {})
    _pop_code(client, "COPYUID")
    folder = client._normalise_folder(dest)  # modified UTF-7, quoted
    if features.move:
        _run_uid(client, "MOVE", _uid_set(uids), folder)
    elif features.uidplus:
        _run_uid(client, "COPY", _uid_set(uids), folder)
        _run_uid(client, "STORE", _uid_set(uids), "+FLAGS.SILENT", f"({DELETED})")
        _run_uid(client, "EXPUNGE", _uid_set(uids))  # only these: others' \Deleted mail stays
    else:
        raise ImapConfigError("the server offers neither MOVE nor UIDPLUS: mail cannot be moved safely")
    mapping: dict[int, int] = {}
    validity = None
    for data in _pop_code(client, "COPYUID"):
        parts = data.decode("ascii", "replace").split()
        if len(parts) == 3:
            validity = int(parts[0])
            mapping.update(zip(parse_uid_set(parts[1]), parse_uid_set(parts[2])))
    return Moved(validity, mapping)


def store_flags(
    client: IMAPClient, uid: int, *, add: Collection[str] = (), remove: Collection[str] = (),
    base: Collection[str] = (), modseq: int | None = None,
) -> bool:
    """Change one message's flags; False when the server refused because the message
    changed since ``modseq`` (CONDSTORE conflict: the server's state wins).

    With ``modseq`` the whole flag list ``base`` + ``add`` - ``remove`` is stored at once,
    UNCHANGEDSINCE ``modseq``: ``base`` is then guaranteed to be what the server still has.
    Without, +FLAGS and -FLAGS leave whatever else changed meanwhile alone.
    """
    if not add and not remove:
        return True
    if modseq is not None:
        flags = sorted((set(base) | set(add)) - set(remove) - {"\\Recent"})
        _pop_code(client, "MODIFIED")
        _run_uid(client, "STORE", str(uid), f"(UNCHANGEDSINCE {modseq})", "FLAGS.SILENT", f"({' '.join(flags)})")
        return not _pop_code(client, "MODIFIED")
    if add:
        _run_uid(client, "STORE", str(uid), "+FLAGS.SILENT", f"({' '.join(sorted(add))})")
    if remove:
        _run_uid(client, "STORE", str(uid), "-FLAGS.SILENT", f"({' '.join(sorted(remove))})")
    return True


@dataclass(frozen=True)
class MessageFlags:
    flags: list[str]
    modseq: int | None


def fetch_flags(client: IMAPClient, uids: Sequence[int], features: ServerFeatures) -> dict[int, MessageFlags]:
    """Current flags (and MODSEQ with CONDSTORE) of ``uids``; expunged ones are absent."""
    if not uids:
        return {}
    items = [b"FLAGS", b"MODSEQ"] if features.condstore else [b"FLAGS"]
    return {uid: MessageFlags(normalise_flags(data.get(b"FLAGS", ())), modseq_of(data))
            for uid, data in client.fetch(list(uids), items).items()}


def fetch_changed_flags(client: IMAPClient, since: int) -> dict[int, MessageFlags]:
    """Flags of the selected folder's messages whose MODSEQ is above ``since`` (CONDSTORE's
    ``UID FETCH 1:* (FLAGS) (CHANGEDSINCE n)``; imapclient cannot ask for "1:*")."""
    client._imap.untagged_responses.pop("FETCH", None)  # unsolicited ones of earlier commands
    typ, data = client._imap.uid("FETCH", "1:*", f"(FLAGS) (CHANGEDSINCE {since})")  # imaplib: see above
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID FETCH CHANGEDSINCE failed: {data!r}")
    parsed = parse_fetch_response([d for d in data if d is not None], client.normalise_times, True)
    return {uid: MessageFlags(normalise_flags(d[b"FLAGS"]), modseq_of(d))
            for uid, d in parsed.items() if b"FLAGS" in d}


def enable_qresync(client: IMAPClient) -> bool:
    """ENABLE QRESYNC (before SELECT, once per connection is enough; again is harmless) where the
    server has it: then a CHANGEDSINCE fetch can also list what was expunged."""
    if not client.has_capability("QRESYNC"):
        return False
    client.enable("QRESYNC")
    return True


def uid_set(text: str) -> set[int]:
    """``"3:5,9"`` -> {3, 4, 5, 9} (an IMAP sequence set of UIDs, as VANISHED gives it)."""
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition(":")
        if lo:
            a, b = int(lo), int(hi or lo)
            out.update(range(min(a, b), max(a, b) + 1))
    return out


def fetch_changes_and_vanished(client: IMAPClient, since: int) -> tuple[dict[int, MessageFlags], set[int]]:
    """QRESYNC (enabled): flags changed since MODSEQ ``since`` and the UIDs expunged since then,
    in one ``UID FETCH 1:* (FLAGS) (CHANGEDSINCE n VANISHED)``: no search of every UID to find
    what is gone (the answer's ``VANISHED (EARLIER)`` lines, read from imaplib's untagged ones)."""
    untagged = client._imap.untagged_responses
    untagged.pop("FETCH", None)
    untagged.pop("VANISHED", None)  # of earlier commands
    typ, data = client._imap.uid("FETCH", "1:*", f"(FLAGS) (CHANGEDSINCE {since} VANISHED)")  # imaplib: see above
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID FETCH CHANGEDSINCE VANISHED failed: {data!r}")
    vanished: set[int] = set()
    for line in untagged.pop("VANISHED", []) or []:
        text = line.decode() if isinstance(line, bytes) else str(line)
        vanished |= uid_set(text.replace("(EARLIER)", "").strip())
    parsed = parse_fetch_response([d for d in data if d is not None], client.normalise_times, True)
    changed = {uid: MessageFlags(normalise_flags(d[b"FLAGS"]), modseq_of(d))
               for uid, d in parsed.items() if b"FLAGS" in d}
    return changed, vanished


def modseq_of(data: dict[bytes, object]) -> int | None:
    value = data.get(b"MODSEQ")
    if isinstance(value, (tuple, list)) and value:
        return int(value[0])
    return int(value) if isinstance(value, int) else None


def find_by_message_id(client: IMAPClient, message_id: str) -> list[int]:
    """UIDs of the selected folder whose Message-ID header is ``message_id``."""
    if not message_id:
        return []
    return sorted(client.search(["HEADER", "Message-ID", message_id]))
