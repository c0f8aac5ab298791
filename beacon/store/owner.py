"""Who holds a job lease: ``host:pid:start-time:nonce``, so a restart can tell a dead owner.

A lease also expires, which covers owners on other hosts; an owner on this host whose process
is gone (or whose pid now belongs to another process) is dead at once, so restarting Beacon
resumes its jobs without waiting for the lease to run out.
"""

from __future__ import annotations

import os
import socket
import uuid

import psutil

__all__ = ["is_me", "make_owner", "owner_is_dead"]


def make_owner() -> str:
    me = psutil.Process()
    return f"{socket.gethostname()}:{me.pid}:{int(me.create_time() * 1000)}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    parts = owner.rsplit(":", 3)
    if len(parts) != 4:
        return False  # not ours to judge: wait for the lease to expire
    host, pid_s, started_s, _ = parts
    if host != socket.gethostname():
        return False
    try:
        proc = psutil.Process(int(pid_s))
        return int(proc.create_time() * 1000) != int(started_s) or proc.status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return True


def is_me(owner: str) -> bool:
    parts = owner.rsplit(":", 3)
    return len(parts) == 4 and parts[0] == socket.gethostname() and parts[1] == str(os.getpid())
