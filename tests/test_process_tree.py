"""The web's process table reuses its last walk of the process tree for a second, without
going stale where it matters: a process the engine names (a new worker) makes it walk again,
and a process that ended is left out at once. No spaCy: the children are plain sleepers that
look like Beacon's own (a multiprocessing helper's command line)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psutil
import pytest

from beacon.engine import processes
from beacon.engine.processes import ProcessTree, process_table


@pytest.fixture
def spawn() -> Iterator:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "multiprocessing"])
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()
        p.wait()


def test_the_tree_is_walked_again_for_a_process_it_lacks(spawn) -> None:  # noqa: ANN001
    tree = ProcessTree(ttl=3600)
    before = set(tree.pids())
    child = spawn()
    assert child.pid not in tree.pids()  # the last walk, reused
    assert child.pid in tree.pids(expect={child.pid}) and before <= set(tree.pids())
    assert ProcessTree(ttl=0).pids().count(child.pid) == 1  # past its time: walked again


def test_the_table_leaves_out_what_ended_and_reads_figures_now(spawn) -> None:  # noqa: ANN001
    tree = ProcessTree(ttl=3600)
    a, b = spawn(), spawn()
    table = {p.pid: p for p in process_table({a.pid}, {b.pid}, tree)}
    assert table[a.pid].role == "worker" and table[b.pid].role == "zygote" and table[a.pid].rss > 0
    a.kill()
    a.wait()
    table = {p.pid: p for p in process_table(set(), {b.pid}, tree)}
    assert a.pid not in table and b.pid in table
    # The same answer as a fresh walk's.
    assert {p.pid for p in process_table(set(), {b.pid})} == set(table)


def test_the_kernels_children_lists_find_what_a_full_scan_finds(spawn) -> None:  # noqa: ANN001
    """The walk reads ``/proc/PID/task/*/children`` (our own processes only) instead of every
    process on the machine: it finds the same, a child started by a thread that has ended and
    a grandchild included. (On a kernel without those lists the walk is the full scan, and
    this checks that one.)"""
    started: list[subprocess.Popen[bytes]] = []
    t = threading.Thread(target=lambda: started.append(spawn()))
    t.start()
    t.join()
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', 'multiprocessing']); "
        "time.sleep(60)"), "multiprocessing"])
    try:
        want = {started[0].pid, parent.pid}
        deadline = time.monotonic() + 20
        while len(psutil.Process(parent.pid).children()) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        grandchild = psutil.Process(parent.pid).children()[0].pid
        found = {p.pid for p in processes.own_descendants()}
        assert want | {grandchild} <= found
        scan = processes._scan_children(psutil.Process())
        walked, todo = set(), [os.getpid()]
        while todo:
            for k in scan(todo.pop()):
                walked.add(k.pid)
                todo.append(k.pid)
        assert found <= walked
    finally:
        for p in psutil.Process(parent.pid).children():
            p.kill()
        parent.kill()
        parent.wait()
