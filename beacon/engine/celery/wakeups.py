"""Wake-ups for the main node's poller: the moment a node stores a task state, not a tick later.

Celery's Redis backend publishes every state it stores (``STARTED``, the outcome) on a channel
named after the result key. One pattern subscription turns those into a wake-up of the
executor's loop, which then reads the results as usual (one ``MGET``): the stored value stays
the only truth, so a message lost while the broker restarts costs at most a tick of latency.
Without it a batch's outcome waited up to a tick to be settled and the runner's next batch a
tick more to be published, time a node with one slot spends idle.
"""

from __future__ import annotations

import logging
import threading

import redis

__all__ = ["ResultWakeups"]

log = logging.getLogger("beacon.engine.celery")

CHANNELS = "celery-task-meta-*"  # Celery's result keys, and the channels it publishes them on
RETRY_AFTER = 0.5  # seconds between attempts to subscribe again while the broker is down


class ResultWakeups:
    """Sets ``wake`` whenever a node stores a task state; a thread of its own, so the loop can
    sleep on the event alone."""

    def __init__(self, url: str, wake: threading.Event) -> None:
        self._url = url
        self._wake = wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen, name="beacon-celery-wakeups", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _listen(self) -> None:
        while not self._stop.is_set():
            client = redis.Redis.from_url(self._url, socket_connect_timeout=3, socket_timeout=5)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(CHANNELS)
                self._wake.set()  # states stored while we were not subscribed: look now
                while not self._stop.is_set():
                    if pubsub.get_message(timeout=1.0) is not None:
                        self._wake.set()
            except (redis.RedisError, OSError) as exc:
                log.debug("result wake-ups paused (%s): the poller's ticks cover it", exc)
                self._stop.wait(RETRY_AFTER)
            finally:
                pubsub.close()
                client.close()
