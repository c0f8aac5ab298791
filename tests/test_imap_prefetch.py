"""The fetch-ahead stage of the IMAP sync (:mod:`beacon.imap.prefetch`): order, bounds,
errors and stopping. Fast: plain generators stand in for the FETCH (the sync's use of it runs
against the real Dovecot in test_imap_sync.py and test_imap_faults.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from beacon.imap.prefetch import Prefetch


def test_items_come_out_in_order_and_all_of_them() -> None:
    with Prefetch(iter(range(1000)), lambda _i: 1, max_items=7, max_bytes=100) as ahead:
        assert list(ahead) == list(range(1000))


def test_the_thread_stays_within_items_and_bytes_ahead() -> None:
    produced: list[int] = []

    def source() -> Iterator[bytes]:
        for i in range(40):
            produced.append(i)
            yield bytes(10)

    ahead = Prefetch(source(), len, max_items=5, max_bytes=25)  # bytes bind first: 2 queued
    it = iter(ahead)
    seen = []
    for _ in range(10):
        time.sleep(0.02)  # the thread gets every chance to run ahead
        # Queued (<= 2) plus the one waiting for room (pulled from the source, not yet queued).
        assert len(produced) - len(seen) <= 3
        seen.append(next(it))
    ahead.close()
    assert len(produced) <= 13


def test_an_item_over_the_byte_bound_goes_alone() -> None:
    items = [b"a" * 5, b"b" * 500, b"c" * 5]
    with Prefetch(iter(items), len, max_items=10, max_bytes=100) as ahead:
        assert list(ahead) == items


def test_an_error_comes_after_the_items_fetched_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionResetError("cut")

    got: list[int] = []
    with Prefetch(source(), lambda _i: 1, max_items=10, max_bytes=10) as ahead:
        with pytest.raises(ConnectionResetError, match="cut"):
            for item in ahead:
                got.append(item)
    assert got == [1, 2]


def test_closing_stops_the_thread_and_runs_the_generators_cleanup_there() -> None:
    cleaned: list[str] = []

    def source() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            cleaned.append(threading.current_thread().name)

    ahead = Prefetch(source(), lambda _i: 1, max_items=3, max_bytes=10, name="fetcher")
    it = iter(ahead)
    assert [next(it), next(it)] == [0, 1]
    ahead.close()
    assert cleaned == ["fetcher"]
    assert not any(t.name == "fetcher" for t in threading.enumerate())


def test_a_chain_stops_once_the_step_in_progress_ends() -> None:
    """Stopping both stages of a chain (the sync's fetch -> parse stages) ends both threads
    as soon as the first stage's step in progress (a FETCH) returns, though the second
    stage's thread waits inside the first stage's iteration and the source has more."""
    release = threading.Event()

    def source() -> Iterator[int]:
        yield 0
        release.wait(10)  # a FETCH in progress
        i = 1
        while True:
            yield i
            i += 1

    first = Prefetch(source(), lambda _i: 1, max_items=2, max_bytes=2, name="first")
    second = Prefetch(iter(first), lambda _i: 1, max_items=2, max_bytes=2, name="second")
    it = iter(second)
    assert next(it) == 0
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    first.stop()
    second.close()
    first.close()
    assert 0.2 < time.monotonic() - started < 5
    assert not any(t.name in ("first", "second") for t in threading.enumerate())


def test_a_cleanup_that_fails_still_ends_the_stream_with_its_error() -> None:
    class Source:
        def __init__(self) -> None:
            self.items = iter([1, 2, 3])

        def __iter__(self) -> "Source":
            return self

        def __next__(self) -> int:
            return next(self.items)

        def close(self) -> None:
            raise OSError("the connection broke while closing")

    ahead = Prefetch(Source(), lambda _i: 1, max_items=2, max_bytes=10)
    got: list[int] = []
    with pytest.raises(OSError, match="while closing"):
        for item in ahead:  # would wait for ever without the end marker
            got.append(item)
    assert got == [1, 2, 3]
