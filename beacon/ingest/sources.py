"""Mail sources, detected from a path, each yielding raw messages one at a time.

Every source streams: it never holds more than one message in memory, so importing a
multi-gigabyte mbox keeps memory flat. Unreadable pieces are yielded as errors, not raised,
so one bad file never stops an import.
"""

from __future__ import annotations

import mailbox
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from beacon.errors import SourceError

SourceKind = Literal["eml", "directory", "mbox", "maildir", "stdin"]

# How many leading bytes we look at to decide what a file is.
_SNIFF = 4096
# File endings that hold one message each in the wild (maildir-style files have none).
_MESSAGE_SUFFIXES = {".eml", ".msg", ".txt", ".mail", ""}


@dataclass(frozen=True)
class RawItem:
    """One raw message, or the reason it could not be read."""

    ref: str  # where it came from: file path, "mbox:offset", "maildir:folder/name"
    raw: bytes | None
    error: str | None = None
    folder: str | None = None
    skipped: bool = False  # not mail at all (e.g. a picture in a directory tree)


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    path: Path | None
    # Progress is measured in the unit that is cheap to know up front.
    total: int
    unit: Literal["messages", "files", "bytes"]

    def iter_items(self) -> Iterator[RawItem]:
        if self.kind == "eml":
            assert self.path is not None
            yield _read_file(self.path)
        elif self.kind == "mbox":
            assert self.path is not None
            yield from _iter_mbox(self.path)
        elif self.kind == "maildir":
            assert self.path is not None
            yield from _iter_maildir(self.path)
        elif self.kind == "directory":
            assert self.path is not None
            yield from _iter_directory(self.path)
        else:
            yield from _iter_stdin(sys.stdin.buffer)


def _sniff(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(_SNIFF)


def _looks_like_mbox(head: bytes) -> bool:
    return head.startswith(b"From ")


def _looks_like_message(head: bytes) -> bool:
    """True when the bytes start with an RFC 5322 header (``Name: value``)."""
    first = head.lstrip(b"\r\n").split(b"\n", 1)[0]
    name, sep, _ = first.partition(b":")
    return bool(sep) and 0 < len(name) < 80 and all(33 <= c <= 126 for c in name)


def is_maildir(path: Path) -> bool:
    # A Maildir cloned from git has no new/ or tmp/ (empty dirs are not tracked): cur/ alone counts.
    return path.is_dir() and any((path / d).is_dir() for d in ("cur", "new"))


def detect(path: str | os.PathLike[str]) -> Source:
    """Work out what kind of mail source ``path`` is ("-" means standard input)."""
    if str(path) == "-":
        return Source("stdin", None, 0, "bytes")
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such file or directory")
    if p.is_dir():
        if is_maildir(p) or any(is_maildir(c) for c in _maildir_subfolders(p)):
            return Source("maildir", p, sum(1 for _ in _maildir_files(p)), "messages")
        return Source("directory", p, sum(1 for _ in _candidate_files(p)), "files")
    if not stat.S_ISREG(p.stat().st_mode):
        raise SourceError(f"{p}: not a regular file")
    head = _sniff(p)
    if _looks_like_mbox(head) or p.suffix.lower() == ".mbox":
        return Source("mbox", p, p.stat().st_size, "bytes")
    return Source("eml", p, 1, "messages")


def _read_file(path: Path) -> RawItem:
    try:
        return RawItem(str(path), path.read_bytes())
    except OSError as exc:
        return RawItem(str(path), None, f"cannot read: {exc.strerror or exc}")


def _iter_mbox(path: Path, ref_prefix: str | None = None) -> Iterator[RawItem]:
    prefix = ref_prefix or str(path)
    try:
        box = mailbox.mbox(path, create=False)
        keys = box.iterkeys()
    except Exception as exc:  # noqa: BLE001 - any failure to open is reported, not raised
        yield RawItem(prefix, None, f"cannot open mbox: {exc}")
        return
    try:
        for key in keys:
            try:
                # get_bytes reads one message from its offset; the table of contents
                # holds only offsets, so memory stays flat.
                yield RawItem(f"{prefix}#{key}", box.get_bytes(key))
            except Exception as exc:  # noqa: BLE001
                yield RawItem(f"{prefix}#{key}", None, f"cannot read message: {exc}")
    finally:
        box.close()


def _maildir_subfolders(path: Path) -> list[Path]:
    # Maildir++: sub-folders are dot-directories beside cur/new/tmp.
    try:
        return sorted(c for c in path.iterdir() if c.is_dir() and c.name.startswith("."))
    except OSError:
        return []


def _maildir_files(path: Path) -> Iterator[tuple[str, Path]]:
    folders: list[tuple[str, Path]] = []
    if is_maildir(path):
        folders.append(("INBOX", path))
    for sub in _maildir_subfolders(path):
        if is_maildir(sub):
            folders.append((sub.name.lstrip(".") or "INBOX", sub))
    for name, folder in folders:
        for leaf in ("cur", "new"):
            d = folder / leaf
            if not d.is_dir():
                continue
            for entry in sorted(os.scandir(d), key=lambda e: e.name):
                if entry.is_file() and not entry.name.startswith("."):
                    yield name, Path(entry.path)


def _iter_maildir(path: Path) -> Iterator[RawItem]:
    for folder, f in _maildir_files(path):
        item = _read_file(f)
        yield RawItem(item.ref, item.raw, item.error, folder=folder)


def _candidate_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _iter_directory(root: Path) -> Iterator[RawItem]:
    """A tree of message files (.eml and the like); single-message mbox files count too."""
    for f in _candidate_files(root):
        try:
            head = _sniff(f)
        except OSError as exc:
            yield RawItem(str(f), None, f"cannot read: {exc.strerror or exc}")
            continue
        if _looks_like_mbox(head) or f.suffix.lower() == ".mbox":
            yield from _iter_mbox(f)
        elif _looks_like_message(head) or (f.suffix.lower() in _MESSAGE_SUFFIXES and b"\0" not in head):
            # A .eml/.txt without a header block is still a (broken) message: store it with
            # its problems rather than lose it.
            yield _read_file(f)
        else:
            yield RawItem(str(f), None, "not an email message", skipped=True)


def _iter_stdin(stream: BinaryIO) -> Iterator[RawItem]:
    """Standard input: one message, or an mbox stream (spooled to a private temp file)."""
    head = stream.read(_SNIFF)
    if not _looks_like_mbox(head):
        yield RawItem("<stdin>", head + stream.read())
        return
    # mailbox.mbox needs a seekable file; spool to disk, not memory, with 0600 permissions.
    tmpdir = tempfile.mkdtemp(prefix="beacon-stdin-")
    try:
        spool = Path(tmpdir) / "stdin.mbox"
        with spool.open("wb") as out:
            out.write(head)
            shutil.copyfileobj(stream, out, 1 << 20)
        yield from _iter_mbox(spool, ref_prefix="<stdin>")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
