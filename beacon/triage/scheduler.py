"""The web server's periodic rescore: one daemon thread that runs
:func:`beacon.triage.rescore.rescore_due` (then learns what the readers ignored:
:mod:`beacon.triage.learning.ignored`) every ``settings.rescore_interval`` seconds, with the
settings in force at each pass. A failed pass is logged and the next one comes as usual."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError

from beacon.errors import BeaconError
from beacon.settings import Settings
from beacon.store.app_settings import current_settings
from beacon.store.db import Database
from beacon.triage.learning.ignored import learn_ignored
from beacon.triage.rescore import RescoreResult, rescore_due

__all__ = ["RescoreScheduler"]

log = logging.getLogger(__name__)


class RescoreScheduler:
    def __init__(self, settings: Settings, db: Database, *, interval: float | None = None) -> None:
        self.settings = settings
        self.db = db
        self.interval = settings.rescore_interval if interval is None else interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0  # completed passes (for tests and status pages)

    def start(self) -> None:
        """Start the thread (the first pass at once); nothing when the interval is 0."""
        if self.interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="beacon-rescore", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)

    def run_once(self) -> RescoreResult:
        try:
            with self.db.session() as s:
                settings = current_settings(s, self.settings)
            result = rescore_due(self.db, settings)
            with self.db.session() as s:
                learn_ignored(s, settings)
        except (SQLAlchemyError, BeaconError) as exc:
            log.warning("rescore pass failed (the next one retries): %s", exc)
            return RescoreResult()
        self.passes += 1
        return result
