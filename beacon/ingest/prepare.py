"""Parsing raw messages into store-ready rows, in this process or in a pool of processes.

Parsing is the CPU-heavy half of an import; on a multi-core machine it runs in worker
processes while the importing process reads files and writes batches. Workers receive raw
bytes and return :class:`~beacon.store.emails.NewEmail` rows (the Email JSON serialised,
the raw message compressed, attachment metadata without bytes), so what crosses the
process boundary is small and the main process does little per message.

Workers come from a ``forkserver`` (never a plain ``fork``: the importing process may be a
web server with threads, and forking a threaded process can deadlock the child). The fork
server preloads the parser once per importing process and is started in the background as
soon as a Preparer with workers exists, so later pools start in milliseconds. What it
preloads is the parser and :mod:`beacon.store.rows` only (no SQLAlchemy, no Alembic), so a
worker costs some 40 MB, and workers are replaced now and then (``WORKER_TASKS``).
"""

from __future__ import annotations

import fcntl
import gc
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from beacon.parse import parse_message
from beacon.store.rows import NewEmail, new_email

T = TypeVar("T")
log = logging.getLogger(__name__)

# A task carries at most this many messages / bytes; at most this many tasks are in flight
# per worker, which bounds the raw bytes held for the pool (each task's bytes are held about
# three times while in flight: the jobs, their pickled copy, the results). Four tasks (~80 ms
# of parsing) outlast the write of a batch (~50 ms), during which this process submits
# nothing: with two, a worker ran dry at every batch. A message bigger than INLINE_BYTES is
# parsed in the importing process.
TASK_MESSAGES = 16
TASK_BYTES = 512 * 1024
IN_FLIGHT_PER_WORKER = 4
INLINE_BYTES = 4 * 1024 * 1024
# A worker is replaced after this many tasks (~13,000 messages): what the parser's
# allocations fragment in a long import or sync is given back to the system.
WORKER_TASKS = 800
# A task's results (16 messages, some 200 KB pickled) are more than a pipe holds by default
# (64 KB): the worker then waits in its send until this process's executor thread has read
# the pipe empty piece by piece, and that thread needs the interpreter lock for every read
# while this process parses too. Pipes of 1 MB (Linux's limit for anyone) take a task whole.
PIPE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ParseJob:
    raw: bytes
    source: str | None
    folder: str | None
    fallback_date: datetime
    truncated: tuple[int, str] | None = None  # (size, sha256) of an over-limit message
    max_bytes: int | None = None


@dataclass(frozen=True)
class Prepared:
    new: NewEmail | None
    error: str | None = None


def prepare_one(job: ParseJob) -> Prepared:
    try:
        parsed = parse_message(job.raw, fallback_date=job.fallback_date, keep_attachments=False,
                               truncated=job.truncated, max_bytes=job.max_bytes)
        return Prepared(new_email(parsed, job.raw, source=job.source, folder=job.folder))
    except Exception as exc:  # noqa: BLE001 - one message must not stop the rest
        return Prepared(None, f"cannot prepare: {type(exc).__name__}: {exc}"[:500])


def prepare_many(jobs: list[ParseJob]) -> list[Prepared]:
    return [prepare_one(job) for job in jobs]


_FORK_LOCK = threading.Lock()


def _fork_server() -> multiprocessing.context.BaseContext:
    """The forkserver context, its server started with the parser preloaded.

    (Python 3.11's fork server puts its working directory first on ``sys.path``: started
    from a folder holding another ``beacon`` checkout, its workers fail to unpickle their
    task, and the importer parses in-process instead, as after any worker failure.)
    """
    ctx = multiprocessing.get_context("forkserver")
    with _FORK_LOCK:
        ctx.set_forkserver_preload(["beacon.ingest.prepare"])
        multiprocessing.forkserver.ensure_running()
    return ctx


def _widen_pipes(pool: ProcessPoolExecutor) -> None:
    """Give the pool's task and result pipes PIPE_BYTES each (made with the pool, before any
    worker starts), where the system allows it; else they keep their size."""
    for queue in (getattr(pool, "_call_queue", None), getattr(pool, "_result_queue", None)):
        try:
            fcntl.fcntl(queue._reader.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            pass  # not Linux, a lower limit, or another executor's internals: slower, not wrong


def default_workers() -> int:
    """Parse workers worth starting: one per core but the importing process's own (at most
    four), none on a single core. The importing process reads, stores, and parses too
    whenever the workers are behind (:meth:`Preparer.run`), so the cores stay busy with one
    worker process (and its memory) fewer."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores - 1, 4)


class Preparer(Generic[T]):
    """Prepares (tag, job) pairs and yields (tag, Prepared) in input order.

    ``workers=0`` parses in this process. A pool starts only once a source turns out to
    hold more than ``pool_after`` messages: starting processes costs more than parsing a
    handful of messages. While every worker has its tasks queued, this process parses the
    next chunk itself instead of waiting (results still come out in input order).
    """

    def __init__(self, workers: int | None = None, *, pool_after: int = 64) -> None:
        self.workers = default_workers() if workers is None else max(0, workers)
        self.pool_after = pool_after
        self._pool: ProcessPoolExecutor | None = None
        self._warming = False
        self._broken = False  # the pool failed once: the rest is parsed here

    def __enter__(self) -> Preparer[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _start_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # gc.freeze: the parser's objects, inherited from the fork server, are never
            # walked by this worker's collector, so their pages stay shared (copy-on-write).
            self._pool = ProcessPoolExecutor(self.workers, mp_context=_fork_server(), initializer=gc.freeze,
                                             max_tasks_per_child=WORKER_TASKS)
            _widen_pipes(self._pool)
        return self._pool

    def run(self, pairs: Iterable[tuple[T, ParseJob | None]]) -> Iterator[tuple[T, Prepared | None]]:
        """``job=None`` passes the tag through untouched (a skipped or unreadable entry)."""
        if self.workers == 0:
            for tag, job in pairs:
                result = prepare_one(job) if job is not None else None
                del job  # not held while the consumer stores the result
                yield tag, result
            return
        pending: deque[tuple[list[tuple[T, ParseJob | None]], Future[list[Prepared]] | None]] = deque()
        chunk: list[tuple[T, ParseJob | None]] = []
        chunk_bytes = 0
        seen = 0
        max_in_flight = self.workers * IN_FLIGHT_PER_WORKER
        # Chunks held (sent or parsed here) before waiting for the oldest: this process may
        # parse as many chunks ahead as the workers have in flight.
        max_held = 2 * max_in_flight

        def submit(inline: bool = False) -> None:
            nonlocal chunk, chunk_bytes
            if not chunk:
                return
            jobs = [job for _, job in chunk if job is not None]
            future: Future[list[Prepared]] | None = None
            busy = sum(1 for _, f in pending if f is not None and not f.done())
            if inline or self._broken or (seen <= self.pool_after and self._pool is None) or busy >= max_in_flight:
                future = Future()
                future.set_result(prepare_many(jobs))
            elif jobs:
                try:
                    future = self._start_pool().submit(prepare_many, jobs)
                except Exception as exc:  # noqa: BLE001 - a broken pool refuses new work
                    self._broken = True
                    log.warning("parse workers failed (%r); parsing in this process from now on", exc)
                    future = Future()
                    future.set_result(prepare_many(jobs))
            pending.append((chunk, future))
            chunk, chunk_bytes = [], 0

        def drain(limit: int) -> Iterator[tuple[T, Prepared | None]]:
            # Beyond the limit wait; below it, hand on whatever is already done.
            while pending and (len(pending) > limit or pending[0][1] is None or pending[0][1].done()):
                items, future = pending.popleft()
                try:
                    done = future.result() if future is not None else []
                except Exception as exc:  # noqa: BLE001 - a worker died (killed, out of memory)
                    if not self._broken:
                        log.warning("parse workers failed (%r); parsing in this process from now on", exc)
                    self._broken = True
                    done = prepare_many([job for _, job in items if job is not None])
                results = iter(done)
                out = [(tag, next(results) if job is not None else None) for tag, job in items]
                # Let go of the raw bytes before handing the results on.
                items.clear()
                del done, results
                yield from out

        source = iter(pairs)
        while True:
            try:
                tag, job = next(source)
            except StopIteration:
                break
            except BaseException:
                # The input failed (a dropped connection): what was read is still handed on.
                submit()
                yield from drain(0)
                raise
            seen += 1
            if seen == self.pool_after // 2 and not self._warming:
                # Enough messages to come that a pool may pay: warm the fork server while
                # the next ones are parsed here.
                self._warming = True
                threading.Thread(target=_fork_server, name="forkserver-start", daemon=True).start()
            if job is not None and len(job.raw) > INLINE_BYTES:
                # A big message is parsed here: sending it to a worker would copy it twice.
                submit()
                yield from drain(0)
                chunk = [(tag, job)]
                del tag, job  # only the chunk holds the raw bytes, and drain() lets go of them
                submit(inline=True)
                yield from drain(0)
                continue
            chunk.append((tag, job))
            chunk_bytes += len(job.raw) if job is not None else 0
            del tag, job
            small = seen <= self.pool_after and self._pool is None
            if len(chunk) >= (8 if small else TASK_MESSAGES) or chunk_bytes >= TASK_BYTES:
                submit()
                yield from drain(max_held)
        submit()
        yield from drain(0)
