"""The one analyzer interface, whatever the mode: emails in, typed analyses out.

``make_analyzer(settings)`` gives the same results in every mode (``inprocess``, ``oneshot``,
``pool``); only where spaCy runs differs. For durable, retried, resumable analysis of the whole
store use :class:`beacon.engine.service.EngineService` instead: this is for ad-hoc calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from beacon.analysis.context import MailContext
from beacon.analysis.models import Analysis
from beacon.analysis.text import select_text
from beacon.engine.executor import Batch, BatchFailed
from beacon.engine.modes import Engine, make_executor
from beacon.models import Email
from beacon.settings import Settings


class Analyzer(Protocol):
    def analyze(self, emails: Sequence[Email], contexts: Sequence[MailContext | None] | None = None) -> list[Analysis]: ...
    def close(self) -> None: ...


class AnalysisFailed(RuntimeError):
    def __init__(self, failure: BatchFailed) -> None:
        super().__init__(str(failure))
        self.reason = failure.reason


def analysed_chars(email: Email, settings: Settings) -> int:
    """Characters the pipeline will analyse for this email (the memory cost driver)."""
    return len(select_text(email, settings.max_text_chars).text)


def plan_batches(emails: Sequence[Email], settings: Settings, max_chars: int) -> list[tuple[list[int], int]]:
    """Indices of ``emails`` grouped into batches of at most ``batch_size`` emails and
    ``max_chars`` characters (an email bigger than that goes alone), with each batch's chars."""
    batches: list[tuple[list[int], int]] = []
    current: list[int] = []
    chars = 0
    for i, email in enumerate(emails):
        c = analysed_chars(email, settings)
        if current and (len(current) >= settings.batch_size or chars + c > max_chars):
            batches.append((current, chars))
            current, chars = [], 0
        current.append(i)
        chars += c
    if current:
        batches.append((current, chars))
    return batches


class EngineAnalyzer:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_executor(settings)
        self._owns_engine = engine is None
        self.engine.start()

    def analyze(self, emails: Sequence[Email], contexts: Sequence[MailContext | None] | None = None) -> list[Analysis]:
        """Analyses in input order; ``contexts`` (one per email) carry what a store would know."""
        plan = plan_batches(emails, self.settings, self.engine.max_batch_chars())
        ctx = list(contexts) if contexts is not None else [None] * len(emails)
        futures = [
            self.engine.submit(Batch(
                [emails[i].model_dump(mode="json", by_alias=True) for i in idx], chars,
                contexts=[ctx[i].model_dump(mode="json") if ctx[i] is not None else None for i in idx],  # type: ignore[union-attr]
            ))
            for idx, chars in plan
        ]
        out: list[Analysis] = []
        for fut in futures:
            try:
                result = fut.result()
            except BatchFailed as exc:
                raise AnalysisFailed(exc) from exc
            out += [Analysis.model_validate(a) for a in result.analyses]
        return out

    def close(self) -> None:
        if self._owns_engine:
            self.engine.stop()

    def __enter__(self) -> EngineAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_analyzer(settings: Settings) -> EngineAnalyzer:
    return EngineAnalyzer(settings)
