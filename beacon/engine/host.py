"""The one owner of a long-lived process's engine (``beacon serve``): start, replace, stop.

Request threads, the IMAP scheduler and ``/metrics`` read :attr:`EngineHost.service` once and
use that object for the whole request: a swap never changes it under them. Replacing the
service (a settings change) runs on the host's own thread, one at a time in the order asked
(the last settings saved win), off the request path, because stopping workers can take
minutes. The old service is stopped before the new one is built, and a stopped service never
starts again (:class:`~beacon.engine.service.ServiceState`), so a reader still holding it gets
:class:`~beacon.errors.EngineUnavailable` instead of starting workers nobody would stop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from beacon.analysis.version import pipeline_version
from beacon.engine.service import EngineService
from beacon.errors import EngineUnavailable
from beacon.settings import Settings
from beacon.store.db import Database

__all__ = ["EngineFactory", "EngineHost"]

log = logging.getLogger("beacon.engine.host")

EngineFactory = Callable[[Settings, Database], EngineService]


class EngineHost:
    """Replacements run on one control thread, so they never overlap; ``_lock`` guards only
    the two references (service, control thread) and is never held while workers start or
    stop, so a request reading or asking for a replacement never waits for one."""

    def __init__(self, db: Database, factory: EngineFactory) -> None:
        self.db = db
        self.factory = factory
        self._service: EngineService | None = None
        self._control: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def service(self) -> EngineService | None:
        """The current service (None before ``start``, after ``stop``, or when a replacement
        could not be built). Read it once per use."""
        return self._service

    def start(self, settings: Settings, service: EngineService | None = None) -> None:
        """Adopt ``service`` (or build one for ``settings``) and start its workers."""
        with self._lock:
            if self._control is None:
                self._control = ThreadPoolExecutor(max_workers=1, thread_name_prefix="beacon-engine-control")
            if self._service is None:
                self._service = service or self.factory(settings, self.db)
            current = self._service
        current.start()

    def replace_soon(self, settings: Settings) -> Future[None]:
        """Replace the service with one for ``settings``, in the background."""
        with self._lock:
            if self._control is None:
                raise EngineUnavailable("the analysis engine is not running in this server")
            return self._control.submit(self._replace, settings)

    def settled(self, timeout: float | None = None) -> None:
        """Wait until every replacement asked for so far has finished."""
        with self._lock:
            control = self._control
        if control is not None:
            control.submit(lambda: None).result(timeout)

    def stop(self) -> None:
        """Let a replacement under way finish, then stop the service for good."""
        with self._lock:
            control, self._control = self._control, None
        if control is not None:
            control.shutdown(wait=True)
        with self._lock:
            old, self._service = self._service, None
        if old is not None:
            old.stop()

    def start_run(self) -> int:
        """Queue what lacks an analysis and begin a background run; returns its id.
        Raises AnalysisBusy while one is in progress, EngineUnavailable without an engine."""
        svc = self._service
        if svc is None:
            raise EngineUnavailable("the analysis engine is not running in this server")
        svc.enqueue_missing()
        return svc.start_run_in_background()

    def _replace(self, settings: Settings) -> None:
        """On the control thread only."""
        old = self._service
        try:
            if old is not None:
                old.stop()  # readers still see it (stopping: runs refused) until the new one is in
            new = self.factory(settings, self.db)
        except Exception:  # noqa: BLE001 - nobody waits on this thread; the system page shows no engine
            log.exception("engine restart failed")
            with self._lock:
                self._service = None
            return
        with self._lock:
            self._service = new
        try:
            new.start()
        except Exception:  # noqa: BLE001 - the next run tries again and fails visibly
            log.exception("engine restart: the workers did not start")
            return
        log.info("engine restarted: mode=%s batch=%d budget=%d version=%s",
                 settings.nlp_mode, settings.batch_size, settings.memory_budget, pipeline_version(settings))
