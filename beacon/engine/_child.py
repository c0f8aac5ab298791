"""Entry point of Beacon's child processes: ``python -m beacon.engine._child ROLE FD``.

ROLE is ``worker`` (load the model, serve batches) or ``zygote`` (load the model once, then
fork warm workers on request). FD is the inherited socket to the supervisor; the settings
arrive over it (never in argv, which any local user can read in ``ps``).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sys
import time
from multiprocessing import reduction
from multiprocessing.connection import Connection

from beacon.engine import memory, _protocol as protocol
from beacon.engine.priority import as_analysis
from beacon.engine.worker import AnalyzeFn, load_analyze, serve, settings_from_message
from beacon.settings import Settings

log = logging.getLogger("beacon.engine._child")
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def _die_with_parent() -> None:
    """SIGKILL this process when the (single-threaded) process that forked it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _name_process(name: bytes) -> None:
    """Set the kernel's process name (``ps -o comm``, top): forked workers otherwise show the
    zygote's command line."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_NAME, name, 0, 0, 0)


def _ignore_interrupts() -> None:
    # Ctrl-C goes to the whole foreground process group; the supervisor stops its children
    # in order (and a dying supervisor closes their pipes), so children ignore SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _reap(children: set[int]) -> None:
    for pid in list(children):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            children.discard(pid)


def zygote(control: Connection, analyze: AnalyzeFn, settings: Settings, load_s: float) -> None:
    """Fork warm workers on request until the supervisor stops us or goes away.

    The model is loaded once here; ``gc.freeze()`` moves everything loaded so far into a
    permanent generation the collector never touches, so the children's collections do not
    write to those pages and copy-on-write keeps them shared.
    """
    memory.collect_and_trim()
    gc.freeze()
    me = memory.sample(os.getpid())
    protocol.send(
        control,
        {"op": protocol.OP_READY, "pid": os.getpid(), "load_s": round(load_s, 3),
         "rss": me.rss if me else 0, "uss": me.uss if me else 0},
    )
    children: set[int] = set()
    try:
        while True:
            _reap(children)
            if not control.poll(0.1):
                continue
            msg = protocol.recv(control)
            if msg["op"] == protocol.OP_STOP:
                break
            if msg["op"] != protocol.OP_FORK:
                continue
            fd = reduction.recv_handle(control)
            pid = os.fork()
            if pid == 0:  # the new worker
                code = 0
                try:
                    control.close()
                    _die_with_parent()
                    _name_process(b"beacon-worker")
                    serve(Connection(fd), analyze, settings, 0.0, int(msg.get("data_limit", 0)))
                except BaseException:  # noqa: BLE001 - a worker must never return into the zygote loop
                    code = 1
                finally:
                    os._exit(code)
            os.close(fd)
            children.add(pid)
            protocol.send(control, {"op": protocol.OP_FORKED, "pid": pid})
    except (EOFError, OSError):
        pass  # the supervisor is gone
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def main(argv: list[str]) -> int:
    role, fd = argv[0], int(argv[1])
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _ignore_interrupts()
    _name_process(b"beacon-zygote" if role == "zygote" else b"beacon-worker")
    conn = Connection(fd)
    try:
        msg = protocol.recv(conn)
    except EOFError:
        return 0
    settings = settings_from_message(msg)
    as_analysis(settings)  # forked workers inherit the zygote's niceness and policy
    t0 = time.perf_counter()
    analyze = load_analyze(settings)
    load_s = time.perf_counter() - t0
    if role == "zygote":
        zygote(conn, analyze, settings, load_s)
    else:
        memory.collect_and_trim()
        gc.freeze()  # the loaded model stays out of every later collection
        serve(conn, analyze, settings, load_s, int(msg.get("data_limit", 0)))
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: freeing a loaded model object by object takes longer than the
    # work, and the OS reclaims everything at once.
    os._exit(code)
