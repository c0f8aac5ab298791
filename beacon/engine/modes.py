"""Choosing the executor from the settings (``BEACON_NLP_MODE``)."""

from __future__ import annotations

from collections.abc import Callable

from beacon.engine.executor import Executor
from beacon.engine.inprocess import InProcessExecutor
from beacon.engine.launch import SpawnStarter, make_starter
from beacon.engine.metrics import MetricsRecorder
from beacon.engine.pool import PoolExecutor, worker_count
from beacon.settings import Settings

__all__ = ["make_executor"]


def make_executor(settings: Settings, recorder: MetricsRecorder | None = None, *,
                  also_count: Callable[[], list[int]] = list) -> Executor:
    """``also_count``: pids beyond this process's own tree that the budget covers (the web
    process, when the engine runs in a process of its own)."""
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
                            slots=worker_count(settings), max_tasks=1, prestart=False, also_count=also_count)
    return PoolExecutor(settings, recorder, mode="pool", starter=make_starter(settings, settings.pool_start),
                        slots=worker_count(settings), max_tasks=settings.worker_max_tasks, prestart=True,
                        also_count=also_count)
