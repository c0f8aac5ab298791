"""OwnRss: this process's RSS through a kept descriptor, fresh at every reading, and its own
in a forked child."""

from __future__ import annotations

import os

import psutil

from beacon.engine.memory import MB, OwnRss


def test_each_reading_is_fresh_and_matches_the_kernels() -> None:
    read = OwnRss()
    before = read()
    assert abs(before - psutil.Process().memory_info().rss) < 4 * MB
    block = bytearray(64 * MB)
    block[::4096] = b"x" * len(block[::4096])  # touched: resident
    assert read() - before >= 60 * MB
    del block


def test_a_forked_child_reads_its_own_process() -> None:
    read = OwnRss()
    read()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: grows itself, not the parent
        try:
            os.close(r)
            before = read()
            block = bytearray(64 * MB)
            block[::4096] = b"x" * len(block[::4096])
            os.write(w, b"1" if read() - before >= 60 * MB and read() > 0 else b"0")
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(r)
