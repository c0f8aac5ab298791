"""The one analyzer interface, whatever the mode: emails in, typed analyses out.

``make_analyzer(settings)`` gives the same results in every mode (``inprocess``, ``oneshot``,
``pool``); only where spaCy runs differs. For durable, retried, resumable analysis of the whole
store use :class:`beacon.engine.service.EngineService` instead: this is for ad-hoc calls, and
a failed batch raises :class:`~beacon.errors.BatchFailed` to the caller.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Protocol

from beacon.analysis.context import MailContext
from beacon.analysis.models import Analysis
from beacon.engine.batching import analysed_chars, take_batch
from beacon.engine.executor import Batch, Executor
from beacon.engine.modes import make_executor
from beacon.models import Email
from beacon.settings import Settings

__all__ = ["Analyzer", "EngineAnalyzer", "make_analyzer"]


class Analyzer(Protocol):
    def analyze(self, emails: Sequence[Email], contexts: Sequence[MailContext | None] | None = None) -> list[Analysis]: ...
    def close(self) -> None: ...


class EngineAnalyzer:
    def __init__(self, settings: Settings, executor: Executor | None = None) -> None:
        self.settings = settings
        self.executor = executor or make_executor(settings)
        self._owns_executor = executor is None
        self.executor.start()

    def analyze(self, emails: Sequence[Email], contexts: Sequence[MailContext | None] | None = None) -> list[Analysis]:
        """Analyses in input order; ``contexts`` (one per email) carry what a store would know."""
        ctx = list(contexts) if contexts is not None else [None] * len(emails)
        queue = deque((i, analysed_chars(e, self.settings)) for i, e in enumerate(emails))
        futures = []
        while queue:
            batch = take_batch(queue, size=self.settings.batch_size, max_chars=self.executor.max_batch_chars(),
                               chars=lambda item: item[1])
            futures.append(self.executor.submit(Batch(
                [emails[i].model_dump(mode="json", by_alias=True) for i, _ in batch], sum(c for _, c in batch),
                contexts=[c.model_dump(mode="json") if (c := ctx[i]) is not None else None for i, _ in batch],
            )))
        return [Analysis.model_validate(a) for fut in futures for a in fut.result().analyses]

    def close(self) -> None:
        if self._owns_executor:
            self.executor.stop()

    def __enter__(self) -> EngineAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_analyzer(settings: Settings) -> EngineAnalyzer:
    return EngineAnalyzer(settings)
