"""Choosing the executor from the settings (``BEACON_NLP_MODE``)."""

from __future__ import annotations

from beacon.engine.executor import Executor
from beacon.engine.inprocess import InProcessExecutor
from beacon.engine.launch import SpawnStarter, make_starter
from beacon.engine.metrics import MetricsRecorder
from beacon.engine.pool import PoolExecutor, worker_count
from beacon.settings import Settings

__all__ = ["make_executor"]


def make_executor(settings: Settings, recorder: MetricsRecorder | None = None, *,
                  web_pid: int | None = None) -> Executor:
    """``web_pid``: the web process, when this is the engine process of ``engine_process``
    (the budget covers it and what it started; see PoolExecutor)."""
    recorder = recorder or MetricsRecorder()
    if settings.nlp_mode == "inprocess":
        return InProcessExecutor(settings, recorder)
    if settings.nlp_mode == "celery":
        # Imported here: only celery mode needs Celery and a broker.
        from beacon.engine.celery.executor import CeleryExecutor

        return CeleryExecutor(settings, recorder)
    if settings.nlp_mode == "oneshot":
        # A fresh interpreter per batch: it loads the model, answers over its pipe and exits.
        return PoolExecutor(settings, recorder, mode="oneshot", starter=SpawnStarter(settings),
                            slots=worker_count(settings), max_tasks=1, prestart=False, web_pid=web_pid)
    return PoolExecutor(settings, recorder, mode="pool", starter=make_starter(settings, settings.pool_start),
                        slots=worker_count(settings), max_tasks=settings.worker_max_tasks, prestart=True,
                        web_pid=web_pid)
