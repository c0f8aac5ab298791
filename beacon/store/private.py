"""Beacon's files are private to the account that runs it: the data directory 0700, database
and key files 0600.

Mail, the secret key and IMAP passwords live there; a 0755 directory and a 0644 database let
any local account read all of it. New directories and files are made private as they are
created (the command line also sets the umask to 077 first, so files that libraries create,
such as SQLite's -wal and -shm, are born private too); ones that already exist with wider
modes are tightened, with a warning naming them.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "PRIVATE_UMASK", "private_dir", "private_file", "sqlite_files"]

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PRIVATE_UMASK = 0o077


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        os.chmod(path, current & ~0o077 | (mode & 0o700))
        log.warning("%s was readable by other accounts (mode %o); tightened to %o", path, current,
                    stat.S_IMODE(path.stat().st_mode))


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents, 0700) or tighten it to 0700."""
    if not path.exists():
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _tighten(path, PRIVATE_DIR)
    return path


def sqlite_files(db_path: Path) -> list[Path]:
    return [db_path, *(db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def private_file(path: Path, *, create: bool = False) -> None:
    """Tighten ``path`` to 0600 if it exists; with ``create``, make it empty and 0600 first."""
    if create:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
        except FileExistsError:
            pass
    if path.exists():
        _tighten(path, PRIVATE_FILE)
