"""The web's process table reuses its last walk of the process tree for a second, without
going stale where it matters: a process the engine names (a new worker) makes it walk again,
and a process that ended is left out at once. No spaCy: the children are plain sleepers that
look like Beacon's own (a multiprocessing helper's command line)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

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
