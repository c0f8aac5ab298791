"""The Celery application both sides build from the settings: the same broker, names and rules.

The rules that keep Celery from second-guessing Beacon's job runner:

- ``task_acks_late=False``: a message is acknowledged when a node starts it, so the broker
  never redelivers it after a crash. Celery would otherwise either lose it (``acks_late`` with
  an OOM-killed child that acknowledged on its way down) or requeue a poison batch for ever
  (``task_reject_on_worker_lost``: brokers keep no retry count). Retrying is the runner's job,
  counted in the job row and capped by quarantine.
- ``task_track_started``: the result backend says which node started a batch, so the main
  node can tell "lost in the queue" (send again, no attempt used) from "lost with its node"
  (fail the batch: an attempt).
- ``worker_prefetch_multiplier=1``: a node holds no more batches than it can start soon, so a
  node that dies strands few of them, and the others stay free to take the queue.
- JSON only, both ways: workers handle untrusted mail with native code; nothing they send is
  unpickled (as with the pool's pipe protocol).

The queue name carries the pipeline version: a node running other analysis code or another
model never takes a batch it would analyse differently.
"""

from __future__ import annotations

from celery import Celery

from beacon.analysis.version import pipeline_version
from beacon.errors import InvalidSettings
from beacon.settings import Settings

__all__ = ["TASK_NAME", "make_app", "queue_name"]

TASK_NAME = "beacon.analyze_batch"
RESULT_EXPIRES = 3600  # seconds: results are also deleted as soon as the main node reads them


def queue_name(settings: Settings) -> str:
    return f"beacon.analyze:{pipeline_version(settings)}"


def make_app(settings: Settings, *, results: bool = True) -> Celery:
    """The app of a node (``results``: it stores outcomes in the broker's Redis), or of the
    main node's sender (``results=False``: with a backend, sending a task would also subscribe
    to its result channel, which the main node does not use: it reads results by polling)."""
    if not settings.broker_url:
        raise InvalidSettings("celery mode needs a broker: set BEACON_BROKER_URL (e.g. redis://host:6379/0)")
    backend = settings.broker_url if results else None
    app = Celery("beacon", broker=settings.broker_url, backend=backend, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=False,
        task_reject_on_worker_lost=False,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        task_default_queue=queue_name(settings),
        result_expires=RESULT_EXPIRES,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a node waits for a restarted broker for ever
        # Publishing gives up quickly while the broker is down: the executor sends again.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5,
                                   "interval_max": 1.0},
        redis_socket_connect_timeout=5,
        redis_socket_timeout=10,
        redis_backend_health_check_interval=5,
        broker_transport_options={"socket_connect_timeout": 5, "visibility_timeout": 3600},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app
