"""One sync per account at a time, across processes (``beacon serve`` and ``beacon sync``).

An advisory ``flock`` on ``data_dir/locks/imap-<account id>.lock``: released by the kernel
when the holder exits or crashes, so a dead process never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from beacon.errors import SyncBusy
from beacon.settings import Settings


@contextmanager
def account_lock(settings: Settings, account_id: int, account: str) -> Iterator[None]:
    directory = settings.data_dir / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / f"imap-{account_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise SyncBusy(f"account {account!r} is already being synced") from exc
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
