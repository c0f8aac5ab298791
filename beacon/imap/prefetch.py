"""Running a fetching iterator ahead of its consumer in a thread, bounded by items and bytes.

A sync's FETCH waits on the network and the server; parsing and storing the last batch wait
on the CPU. With the fetch in a thread of its own the next batch arrives while the last one
is parsed and stored. What waits between the two is bounded (items and bytes, one oversized
item alone), so memory stays flat at any mailbox size: the fetch thread stops fetching
while the consumer is behind (back-pressure).

Whatever the iterator raises (a dropped connection, a cancelled sync) is raised to the
consumer after the items fetched before it. Closing (also when the consumer fails) stops
the thread after the step it is in and waits for it, so nothing else uses the connection
while it still talks to the server.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()


class Prefetch(Generic[T]):
    """Iterate ``items`` in a thread, at most ``max_items`` / ``max_bytes`` (by ``size_of``) ahead."""

    def __init__(self, items: Iterable[T], size_of: Callable[[T], int], *, max_items: int, max_bytes: int,
                 name: str = "prefetch") -> None:
        self._items = items
        self._size_of = size_of
        self._max_items = max(1, max_items)
        self._max_bytes = max(1, max_bytes)
        self._queue: deque[tuple[object, int]] = deque()
        self._bytes = 0
        self._error: BaseException | None = None
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _full(self, size: int) -> bool:
        if not self._queue:
            return False  # an item over the byte bound travels alone
        return len(self._queue) >= self._max_items or self._bytes + size > self._max_bytes

    def _run(self) -> None:
        it = iter(self._items)
        try:
            for item in it:
                size = self._size_of(item)
                with self._cond:
                    while self._full(size) and not self._stop:
                        self._cond.wait()
                    if self._stop:
                        return
                    self._queue.append((item, size))
                    self._bytes += size
                    self._cond.notify_all()
                del item
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            with self._cond:
                self._error = exc
        finally:
            try:
                close = getattr(it, "close", None)
                if close is not None:
                    close()  # a generator's cleanup runs in the thread that ran it
            except BaseException as exc:  # noqa: BLE001 - the consumer must still see the end
                with self._cond:
                    self._error = self._error or exc
            finally:
                with self._cond:
                    self._queue.append((_END, 0))
                    self._cond.notify_all()

    def __iter__(self) -> Iterator[T]:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                item, size = self._queue.popleft()
                if item is _END:
                    error, self._error = self._error, None
                    break
                self._bytes -= size
                self._cond.notify_all()
            yield item  # type: ignore[misc]
            del item
        self._thread.join()
        if error is not None:
            raise error

    def stop(self) -> None:
        """Stop fetching ahead, without waiting: the thread ends after the step it is in and
        a consumer still iterating sees the end (stop every stage of a chain, then close)."""
        with self._cond:
            self._stop = True
            ended = any(item is _END for item, _size in self._queue)
            self._queue.clear()
            if ended:  # the thread is done: a consumer must still see the end
                self._queue.append((_END, 0))
            self._bytes = 0
            self._cond.notify_all()

    def close(self) -> None:
        """:meth:`stop`, then wait for the thread."""
        self.stop()
        self._thread.join()

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
