"""Mail sources, detected from a path, each yielding raw messages one at a time.

Every source streams (at most one message in memory) and reports every file it does not
import as an item with its reason: not mail (sniffed from the content, see
:mod:`beacon.ingest.sniff`), unreadable, a symbolic link loop, an unreadable folder. One
bad entry never stops a source, in the counting pass as in the reading pass.

Directory trees are read the way mail tools lay them out, and the folder is recorded on
every message: a Maildir (``cur/`` and ``new/``; ``tmp/`` holds deliveries in progress),
Maildir++ sub-folders (``.Work.Projects/``), sub-folders kept verbatim (mbsync
``SubFolders Verbatim``, Dovecot ``LAYOUT=fs``: ``Work/Projects/cur``), loose message files
anywhere (notmuch's test corpora), and mbox files inside the tree (a folder each).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from beacon.errors import SourceError
from beacon.ingest.mbox import iter_mbox
from beacon.ingest.sniff import FROM_LINE, SNIFF_BYTES, Sniffed, looks_like_headers, sniff

SourceKind = Literal["eml", "directory", "mbox", "maildir", "stdin"]

DEFAULT_MAX_MESSAGE_BYTES = 50 * 1024 * 1024
_MAILDIR_LEAVES = ("cur", "new")
# Folders that hold tool data, never mail: reported once each, not walked.
_TOOL_DIRS = {".git": "git repository data", ".hg": "Mercurial data", ".svn": "Subversion data",
              ".notmuch": "notmuch database", "__MACOSX": "macOS archive metadata"}
_HEADER_READ = 1 << 20  # an oversized message keeps at most this much of its header block
_SMALL_MBOX = 4 << 20  # an mbox file this small is read whole to check for a single message
_ESCAPED_FROM = re.compile(rb"^>+From ", re.MULTILINE)


@dataclass(frozen=True)
class RawItem:
    """One raw message, or the reason a file or folder was not imported."""

    ref: str  # where it came from: a file path, "mbox#offset", "<stdin>"
    raw: bytes | None
    error: str | None = None
    folder: str | None = None
    skipped: bool = False  # not mail at all (a README, a picture, an empty file)
    # ``truncated``: the message is bigger than the size limit; ``raw`` then holds only its
    # header block, and ``size`` and ``sha256`` describe the whole message.
    truncated: bool = False
    size: int = 0  # bytes of the whole message (0: len(raw))
    sha256: str | None = None

    @property
    def nbytes(self) -> int:
        """Size of the whole message in bytes (for byte-based progress)."""
        return self.size or len(self.raw or b"")


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    path: Path | None
    # Progress is measured in the unit that is cheap to know up front.
    total: int
    unit: Literal["messages", "files", "bytes"]
    # Symbolic links inside a tree are followed only to files below this folder (the web's
    # import root, see beacon.ingest.roots); None: anywhere (the command line).
    within: str | None = None

    def iter_items(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Iterator[RawItem]:
        limit = max(1024, max_message_bytes)
        if self.kind == "stdin":
            yield from _iter_stdin(sys.stdin.buffer, limit)
            return
        assert self.path is not None
        if self.kind == "eml":
            yield _read_message_file(self.path, limit, None)
        elif self.kind == "mbox":
            yield from _iter_mbox_file(self.path, limit, None)
        else:
            yield from _iter_tree(self.path, limit, maildir=self.kind == "maildir", within=self.within)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno == errno.ENOENT:
        return "dangling symbolic link or vanished file"
    return exc.strerror or str(exc)


def is_maildir(path: Path) -> bool:
    # A Maildir cloned from git has no new/ or tmp/ (empty dirs are not tracked): cur/ alone counts.
    try:
        return path.is_dir() and any((path / d).is_dir() for d in _MAILDIR_LEAVES)
    except OSError:
        return False


def _has_maildir_below(root: Path) -> bool:
    """A Maildir at the root or in any sub-folder (Maildir++, verbatim, LAYOUT=fs)."""
    if is_maildir(root):
        return True
    for dirpath, dirnames, _files in os.walk(root, onerror=lambda _e: None):
        dirnames[:] = [d for d in dirnames if d not in _TOOL_DIRS]
        if any(d in _MAILDIR_LEAVES for d in dirnames):
            return True
    return False


def detect(path: str | os.PathLike[str], within: str | None = None) -> Source:
    """Work out what kind of mail source ``path`` is ("-" means standard input); ``within``
    confines the symbolic links a tree may follow."""
    if str(path) == "-":
        return Source("stdin", None, 0, "bytes")
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        if exc.errno == errno.ENOENT and not p.is_symlink():
            raise SourceError(f"{p}: no such file or directory") from exc
        raise SourceError(f"{p}: cannot read: {_reason(exc)}") from exc
    if stat.S_ISDIR(st.st_mode):
        try:
            next(os.scandir(p), None)
        except OSError as exc:
            raise SourceError(f"{p}: cannot read folder: {_reason(exc)}") from exc
        kind: SourceKind = "maildir" if _has_maildir_below(p) else "directory"
        return Source(kind, p, sum(1 for _ in _walk(str(p), within=within)), "files", within)
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(f"{p}: not a regular file")
    try:
        head = _sniff_file(p)
    except OSError as exc:
        raise SourceError(f"{p}: cannot read: {_reason(exc)}") from exc
    if _classify(p, head).kind == "mbox" or (p.suffix.lower() == ".mbox" and looks_like_headers(head)):
        return Source("mbox", p, st.st_size, "bytes")
    return Source("eml", p, 1, "messages")


def _sniff_file(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


def _classify(path: Path, head: bytes) -> Sniffed:
    return sniff(head, path.suffix)


# --- single messages -------------------------------------------------------------------


def _strip_envelope(raw: bytes) -> bytes:
    """A message saved with its mbox envelope line: the line is not part of the message."""
    if raw.startswith(b"From "):
        first, _, rest = raw.partition(b"\n")
        if FROM_LINE.match(first.rstrip(b"\r")) and looks_like_headers(rest[:SNIFF_BYTES]):
            return rest
    return raw


def _header_block(fh: BinaryIO) -> bytes:
    lines: list[bytes] = []
    total = 0
    for line in fh:
        lines.append(line)
        total += len(line)
        if not line.strip() or total >= _HEADER_READ:
            break
    return b"".join(lines)


def _read_message_file(path: Path, limit: int, folder: str | None, head: bytes | None = None) -> RawItem:
    ref = str(path)
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if head is None:
                head = fh.read(SNIFF_BYTES)
                fh.seek(0)
            found = _classify(path, head)
            if found.kind == "other":
                return RawItem(ref, None, f"not mail: {found.reason}", folder=folder, skipped=True)
            if size <= limit:
                return RawItem(ref, _strip_envelope(fh.read()), folder=folder)
            # Too big to take in: keep the header block, measure the whole.
            block = _header_block(fh)
            header = _strip_envelope(block)
            skip = len(block) - len(header)  # the envelope line, when there was one
            digest = hashlib.sha256()
            fh.seek(skip)
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
            return RawItem(ref, header, folder=folder, truncated=True, size=size - skip,
                           sha256=digest.hexdigest())
    except OSError as exc:
        return RawItem(ref, None, f"cannot read: {_reason(exc)}", folder=folder)


# --- mbox -------------------------------------------------------------------------------


def _iter_mbox_stream(fh: BinaryIO, ref: str, limit: int, folder: str | None) -> Iterator[RawItem]:
    for msg in iter_mbox(fh, limit):
        if msg.truncated:
            yield RawItem(f"{ref}#{msg.offset}", msg.raw, folder=folder, truncated=True,
                          size=msg.size, sha256=msg.sha256)
        else:
            yield RawItem(f"{ref}#{msg.offset}", msg.raw, folder=folder)


def _single_message(data: bytes) -> bytes | None:
    """The message of an mbox holding one message and nothing to unescape (most files that
    start with an envelope line: a saved message), found without reading line by line."""
    body = data.split(b"\n", 1)[1] if b"\n" in data else b""
    if b"\nFrom " in body or (b"From " in body and _ESCAPED_FROM.search(body)):
        return None
    if body.endswith(b"\r\n\r\n"):
        return body[:-2]
    return body[:-1] if body.endswith(b"\n\n") else body


def _iter_mbox_file(path: Path, limit: int, folder: str | None) -> Iterator[RawItem]:
    try:
        fh = path.open("rb")
    except OSError as exc:
        yield RawItem(str(path), None, f"cannot read: {_reason(exc)}", folder=folder)
        return
    with fh:
        try:
            if os.fstat(fh.fileno()).st_size <= min(limit, _SMALL_MBOX):
                data = fh.read()
                single = _single_message(data) if data.startswith(b"From ") else None
                if single is not None:
                    yield RawItem(f"{path}#0", single, folder=folder)
                    return
                fh.seek(0)
            yield from _iter_mbox_stream(fh, str(path), limit, folder)
        except OSError as exc:  # e.g. an I/O error half-way: what was read is kept
            yield RawItem(str(path), None, f"cannot read the rest of the mbox: {_reason(exc)}", folder=folder)


# --- directory trees ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    path: str
    folder: str | None
    error: str | None = None
    skipped: bool = False


def _folder_name(parts: tuple[str, ...], maildir: bool) -> str | None:
    """Folder of a message from its directory's path below the root."""
    if parts and parts[-1] in (*_MAILDIR_LEAVES, "tmp"):
        parts = parts[:-1]
    names = [p[1:] if p.startswith(".") and len(p) > 1 else p for p in parts]
    if not names:
        return "INBOX" if maildir else None
    return "/".join(names)


def _outside(path: str, within: str | None) -> bool:
    if within is None:
        return False
    target = os.path.realpath(path)
    return target != within and not target.startswith(within.rstrip(os.sep) + os.sep)


def _walk(root: str, maildir: bool = False, within: str | None = None) -> Iterator[_Entry]:
    """Every file below ``root`` (sorted), and every entry that cannot be walked, as entries."""
    stack: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while stack:
        directory, parts = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield _Entry(directory, None, f"cannot read folder: {_reason(exc)}")
            continue
        folder = _folder_name(parts, maildir)
        subdirs: list[tuple[str, tuple[str, ...]]] = []
        for entry in entries:
            path = entry.path
            try:
                if entry.is_symlink():
                    if _outside(path, within):
                        yield _Entry(path, folder, "symbolic link out of the import root (not followed)", skipped=True)
                        continue
                    try:
                        target = os.stat(path)
                    except OSError as exc:
                        yield _Entry(path, folder, _reason(exc))
                        continue
                    if stat.S_ISDIR(target.st_mode):
                        yield _Entry(path, folder, "symbolic link to a folder (not followed)", skipped=True)
                        continue
                    if stat.S_ISREG(target.st_mode):
                        yield _Entry(path, folder)
                        continue
                    yield _Entry(path, folder, "not a regular file", skipped=True)
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name in _TOOL_DIRS:
                        yield _Entry(path, folder, f"not mail: {_TOOL_DIRS[entry.name]}", skipped=True)
                    else:
                        subdirs.append((path, (*parts, entry.name)))
                elif entry.is_file(follow_symlinks=False):
                    yield _Entry(path, folder)
                else:
                    yield _Entry(path, folder, "not a regular file", skipped=True)
            except OSError as exc:
                yield _Entry(path, folder, _reason(exc))
        # A folder's own cur/ and new/ before its sub-folders.
        subdirs.sort(key=lambda d: (d[1][-1] not in _MAILDIR_LEAVES, d[1][-1]))
        stack.extend(reversed(subdirs))


def _iter_tree(root: Path, limit: int, *, maildir: bool, within: str | None = None) -> Iterator[RawItem]:
    top = str(root)
    for entry in _walk(top, maildir, within):
        if entry.error is not None:
            yield RawItem(entry.path, None, entry.error, folder=entry.folder, skipped=entry.skipped)
            continue
        parent = os.path.dirname(entry.path)
        if os.path.basename(parent) == "tmp" and is_maildir(Path(parent).parent):
            yield RawItem(entry.path, None, "Maildir tmp/: delivery not finished", folder=entry.folder, skipped=True)
            continue
        yield from _tree_file(entry.path, top, limit, entry.folder)


def _tree_file(path: str, top: str, limit: int, folder: str | None) -> Iterator[RawItem]:
    """One file of a tree, opened once: a small file is read whole right away."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            data = fh.read(-1 if size <= min(limit, _SMALL_MBOX) else SNIFF_BYTES)
    except OSError as exc:
        yield RawItem(path, None, f"cannot read: {_reason(exc)}", folder=folder)
        return
    whole = len(data) == size
    found = sniff(data[:SNIFF_BYTES], os.path.splitext(path)[1])
    if found.kind == "mbox":
        name = os.path.splitext(os.path.relpath(path, top))[0]  # an mbox file is a folder
        single = _single_message(data) if whole and data.startswith(b"From ") else None
        if single is not None:
            yield RawItem(f"{path}#0", single, folder=name)
        else:
            yield from _iter_mbox_file(Path(path), limit, name)
    elif found.kind == "message":
        if whole:
            yield RawItem(path, _strip_envelope(data), folder=folder)
        else:
            yield _read_message_file(Path(path), limit, folder, data[:SNIFF_BYTES])
    else:
        yield RawItem(path, None, f"not mail: {found.reason}", folder=folder, skipped=True)


# --- standard input ---------------------------------------------------------------------------


def _iter_stdin(stream: BinaryIO, limit: int) -> Iterator[RawItem]:
    """Standard input: one message, or an mbox stream (spooled to a private temp file)."""
    head = stream.read(SNIFF_BYTES)
    found = sniff(head)
    if found.kind == "other":
        reason = "empty input" if not head else found.reason
        yield RawItem("<stdin>", None, f"not mail: {reason}", skipped=True)
        return
    # Spool to disk, not memory (0600 in a private directory): mbox needs seeking, and a
    # single huge message is read like a file.
    tmpdir = tempfile.mkdtemp(prefix="beacon-stdin-")
    try:
        spool = Path(tmpdir) / "stdin"
        with spool.open("wb") as out:
            out.write(head)
            shutil.copyfileobj(stream, out, 1 << 20)
        if found.kind == "mbox":
            with spool.open("rb") as fh:
                yield from _iter_mbox_stream(fh, "<stdin>", limit, None)
        else:
            item = _read_message_file(spool, limit, None, head)
            yield RawItem("<stdin>", item.raw, item.error, None, item.skipped, item.truncated,
                          item.size, item.sha256)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
