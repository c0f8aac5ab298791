"""The worker side: load the pipeline once, then analyse batches sent over a pipe.

Runs in child processes (spawned fresh or forked from the zygote; ``load_analyze`` also in the
``inprocess`` executor). Workers never open the database: Email JSON comes in, Analysis JSON
goes out. After each batch the worker collects garbage and trims the C heap, then reports its
own RSS/USS and the batch's peak.
"""

from __future__ import annotations

import gc
import logging
import os
import pkgutil
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from beacon.engine import memory, _protocol as protocol
from beacon.settings import Settings

log = logging.getLogger("beacon.engine.worker")

TRIM_ABOVE = 32 * 1024 * 1024  # bytes above the post-load RSS before malloc_trim(0)

# (Email JSON, MailContext JSON or None) -> Analysis JSON
AnalyzeFn = Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], list[dict[str, Any]]]


__all__ = ["AnalyzeFn", "load_analyze", "load_pipeline", "serve"]


def load_analyze(settings: Settings) -> AnalyzeFn:
    """The batch function this process runs: ``settings.analysis_loader`` (a dotted path,
    ``package.module:function``, to a function of the settings that returns one; tests use it
    for poison-mail hooks) or, by default, :func:`load_pipeline`."""
    if settings.analysis_loader:
        loader: Callable[[Settings], AnalyzeFn] = pkgutil.resolve_name(settings.analysis_loader)
        return loader(settings)
    return load_pipeline(settings)


def load_pipeline(settings: Settings) -> AnalyzeFn:
    """Load spaCy and the analysis pipeline; return Email JSON -> Analysis JSON.

    ``analyze_to_json`` runs each batch inside ``nlp.memory_zone()`` (one zone at a time: a
    worker is single-threaded), so strings a batch adds to the vocab are freed afterwards and
    a long-lived worker does not grow ~9 MB per 1,000 emails.
    """
    from beacon.analysis.context import MailContext
    from beacon.analysis.pipeline import Pipeline, analyze_to_json
    from beacon.models import Email

    pipeline = Pipeline.load(settings)

    def analyze(emails: list[dict[str, Any]], contexts: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        ctxs = [MailContext.model_validate(c) if c else None for c in contexts] if contexts else None
        return analyze_to_json(pipeline, [Email.model_validate(e) for e in emails], ctxs)

    return analyze


def settings_from_message(msg: protocol.Message) -> Settings:
    return Settings(**msg["settings"])


def serve(conn: Connection, analyze: AnalyzeFn, settings: Settings, load_s: float, data_limit: int = 0) -> None:
    """Answer batches until told to stop or the supervisor goes away."""
    memory.limit_data_growth(data_limit)
    # Its own USS after each batch, walking its page tables at most every 2 s (a walk costs
    # 4-10 ms, 1-2% of a batch): the supervisor's watchdog reads it the same way.
    gauge = memory.MemoryGauge(os.getpid(), full_every=2.0)
    me = gauge.read(time.monotonic())
    baseline = me.rss if me else memory.rss()
    protocol.send(
        conn,
        {"op": protocol.OP_READY, "pid": os.getpid(), "load_s": round(load_s, 3),
         "rss": me.rss if me else 0, "uss": me.uss if me else 0},
    )
    while True:
        try:
            msg = protocol.recv(conn)
        except (EOFError, OSError):
            return  # supervisor gone: nothing left to do
        if msg["op"] == protocol.OP_STOP:
            return
        if msg["op"] != protocol.OP_BATCH:
            continue
        reply = run_batch(msg, analyze, settings, baseline, gauge)
        try:
            protocol.send(conn, reply)
        except OSError:
            return


def run_batch(
    msg: protocol.Message, analyze: AnalyzeFn, settings: Settings, baseline: int, gauge: memory.MemoryGauge
) -> protocol.Message:
    emails: list[dict[str, Any]] = msg["emails"]
    memory.reset_peak()
    before = memory.rss()
    t0 = time.perf_counter()
    try:
        analyses = analyze(emails, msg.get("contexts"))
    except MemoryError:
        # The data limit (RLIMIT_DATA) refused an allocation: the supervisor retires us.
        reply = {"op": protocol.OP_ERROR, "id": msg["id"], "memory": True,
                 "error": "MemoryError: the worker reached its data limit"}
    except Exception as exc:  # noqa: BLE001 - reported to the supervisor, which retries/isolates
        reply: protocol.Message = {
            "op": protocol.OP_ERROR, "id": msg["id"],
            "error": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc(limit=8),
        }
    else:
        reply = {"op": protocol.OP_RESULT, "id": msg["id"], "analyses": analyses}
    elapsed = time.perf_counter() - t0
    peak = memory.peak_rss()
    collected = gc.collect()
    # Hand freed heap back only when the worker holds noticeably more than after loading:
    # trimming after every small batch makes the next one fault the same pages in again.
    trimmed = memory.rss() > baseline + TRIM_ABOVE and memory.malloc_trim()
    after = gauge.read(time.monotonic())
    reply.update(
        elapsed=round(elapsed, 4), rss_before=before, peak=peak, gc=collected, trimmed=trimmed,
        rss=after.rss if after else 0, uss=after.uss if after else 0,
    )
    return reply

