"""The one owner of a long-lived process's engine (``beacon serve``): start, replace, resume, stop.

Request threads, the IMAP scheduler and ``/metrics`` read :attr:`EngineHost.service` once and
use that object for the whole request: a swap never changes it under them. Replacing the
service (a settings change) runs on the host's own thread, one at a time in the order asked
(the last settings saved win), off the request path, because stopping workers can take
minutes. The old service is stopped (its workers reaped) before the new one is built, and a
stopped service never starts again (:class:`~beacon.engine.service.ServiceState`), so at most
one engine's processes exist at any moment and a reader still holding the old one gets
:class:`~beacon.errors.EngineUnavailable` instead of starting workers nobody would stop.

Work is never dropped at these seams: a run the replacement interrupted, and any jobs a dead
process left, are resumed by the new service as soon as it is in (:meth:`EngineHost.resume`,
also called when the server starts); a start asked for while the old service is stopping waits
(briefly) for the new one instead of failing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from beacon.analysis.version import pipeline_version
from beacon.engine.service import EngineService
from beacon.errors import AnalysisBusy, EngineError, EngineUnavailable, NothingToAnalyse
from beacon.settings import Settings
from beacon.store.db import Database

__all__ = ["EngineFactory", "EngineHost", "REPLACE_WAIT"]

log = logging.getLogger("beacon.engine.host")

EngineFactory = Callable[[Settings, Database], EngineService]

# How long a start asked for during a replacement waits for the new service before it is
# refused (503): stopping idle workers takes well under a second, a busy batch longer.
REPLACE_WAIT = 10.0


class EngineHost:
    """Replacements run on one control thread, so they never overlap; ``_cond`` guards only
    the references (service, control thread, counters) and is never held while workers start
    or stop, so a request reading or asking for a replacement never waits for one."""

    def __init__(self, db: Database, factory: EngineFactory) -> None:
        self.db = db
        self.factory = factory
        self._service: EngineService | None = None
        self._control: ThreadPoolExecutor | None = None
        self._cond = threading.Condition()
        self._generation = 0  # bumped each time a service is put in (or taken out)
        self._replacing = 0  # replacements asked for and not finished

    @property
    def service(self) -> EngineService | None:
        """The current service (None before ``start``, after ``stop``, or when a replacement
        could not be built). Read it once per use."""
        return self._service

    @property
    def replacing(self) -> bool:
        return self._replacing > 0

    def start(self, settings: Settings, service: EngineService | None = None) -> None:
        """Adopt ``service`` (or build one for ``settings``) and start its workers. Workers
        that fail to start do not stop the server: the mail is still readable, ``/readyz``
        says why the engine is not, and the next run tries again."""
        with self._cond:
            if self._control is None:
                self._control = ThreadPoolExecutor(max_workers=1, thread_name_prefix="beacon-engine-control")
            if self._service is None:
                self._service = self._watched(service or self.factory(settings, self.db))
                self._generation += 1
            current = self._service
        try:
            current.start()
        except EngineError as exc:
            log.error("the analysis engine did not start: %s", exc)

    def replace_soon(self, settings: Settings) -> Future[None]:
        """Replace the service with one for ``settings``, in the background."""
        with self._cond:
            if self._control is None:
                raise EngineUnavailable("the analysis engine is not running in this server")
            self._replacing += 1
            return self._control.submit(self._replace, settings)

    def settled(self, timeout: float | None = None) -> None:
        """Wait until every replacement asked for so far has finished."""
        with self._cond:
            control = self._control
        if control is not None:
            control.submit(lambda: None).result(timeout)

    def stop(self, grace: float | None = None) -> None:
        """Let a replacement under way finish, then stop the service for good (``grace``: see
        :meth:`EngineService.stop`)."""
        with self._cond:
            control, self._control = self._control, None
        if control is not None:
            control.shutdown(wait=True, cancel_futures=True)
        with self._cond:
            old, self._service = self._service, None
            self._generation += 1
            self._cond.notify_all()
        if old is not None:
            old.stop(grace)

    def start_run(self) -> int:
        """Queue what lacks an analysis and begin a background run; returns its id.
        Raises AnalysisBusy while one is in progress, NothingToAnalyse when every email has
        its analysis, EngineUnavailable without an engine (or when a replacement takes longer
        than ``REPLACE_WAIT``)."""
        deadline = time.monotonic() + REPLACE_WAIT
        while True:
            with self._cond:
                svc, generation, replacing = self._service, self._generation, self._replacing > 0
            if svc is not None:
                try:
                    svc.enqueue_missing()
                    return svc.start_run_in_background()
                except EngineUnavailable:
                    if svc is self._service and not self.replacing:
                        raise
            elif not replacing:
                raise EngineUnavailable("the analysis engine is not running in this server")
            # The service is being replaced: the run starts on its successor.
            with self._cond:
                changed = self._cond.wait_for(lambda: self._generation != generation,
                                              max(0.0, deadline - time.monotonic()))
            if not changed:
                raise EngineUnavailable("the analysis engine is restarting with new settings; try again shortly")

    def resume(self) -> int | None:
        """Begin a run of the jobs already pending (a run interrupted by a restart or a
        settings change, jobs a dead process held); their run id, or None when there are none
        (or a run is already going, which takes them)."""
        svc = self._service
        if svc is None:
            return None
        try:
            run_id = svc.start_run_in_background()
        except (NothingToAnalyse, AnalysisBusy, EngineUnavailable):
            return None
        log.info("analysis resumed: run %d", run_id)
        return run_id

    def _watched(self, service: EngineService) -> EngineService:
        """An engine in a process of its own (``engine_process``) that dies by itself is
        replaced by a new one, which resumes the run it left."""
        if hasattr(service, "on_exit"):
            service.on_exit = lambda: self._died(service)
        return service

    def _died(self, service: EngineService) -> None:
        with self._cond:
            current = service is self._service and self._control is not None
        if current and not getattr(service, "started", True):
            # Died before its workers ever came up: a new one would too (and again); /readyz says why.
            log.error("the engine process died before it started: not starting another one")
        elif current:
            try:
                self.replace_soon(service.settings)
            except EngineUnavailable:
                pass  # the server is stopping

    def _replace(self, settings: Settings) -> None:
        """On the control thread only."""
        try:
            self._swap(settings)
        finally:
            with self._cond:
                self._replacing -= 1
                self._cond.notify_all()

    def _swap(self, settings: Settings) -> None:
        old = self._service
        try:
            if old is not None:
                old.stop()  # readers still see it (stopping: runs refused) until the new one is in
            new = self.factory(settings, self.db)
        except Exception:  # noqa: BLE001 - nobody waits on this thread; the system page shows no engine
            log.exception("engine restart failed")
            with self._cond:
                self._service = None
                self._generation += 1
                self._cond.notify_all()
            return
        with self._cond:
            self._service = self._watched(new)
            self._generation += 1
            self._cond.notify_all()
        try:
            new.start()
        except Exception:  # noqa: BLE001 - the next run tries again and fails visibly
            log.exception("engine restart: the workers did not start")
            return
        log.info("engine restarted: mode=%s batch=%d budget=%d version=%s",
                 settings.nlp_mode, settings.batch_size, settings.memory_budget, pipeline_version(settings))
        # The run the old service handed back (if any) goes on with the new settings.
        self.resume()
