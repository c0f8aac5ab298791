"""``beacon analyze-text``: JSON lines in, one analysis JSON line out per line, through the engine.

Lines are read and sent to the engine in chunks (the configured mode: in-process, one-shot or
the worker pool), so a long input starts printing early and never waits on one process per
line. Results come out in input order. A line that is not valid input, or whose email the
engine cannot analyse (after a retry on its own), gives ``{"line": N, "error": "..."}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, TextIO

from beacon.analysis import priority as prio
from beacon.cli.textinput import LineError, parse_line
from beacon.engine.analyzer import EngineAnalyzer
from beacon.errors import BatchFailed
from beacon.models import Email
from beacon.settings import Settings


def _result(email: Email, analysis: Any, settings: Settings) -> dict[str, Any]:
    p = prio.score(email, analysis, prio.PriorityContext(), settings)
    out = analysis.model_dump(mode="json")
    out["priority"] = p.model_dump(mode="json")
    out["needs_reply"] = prio.needs_reply(email, analysis, settings)
    return out


def _analyse_chunk(analyzer: EngineAnalyzer, emails: list[Email]) -> list[Any]:
    """Analyses (or an error text) per email; a failed batch is retried one email at a time."""
    try:
        return list(analyzer.analyze(emails))
    except BatchFailed:
        out: list[Any] = []
        for email in emails:
            try:
                out += analyzer.analyze([email])
            except BatchFailed as exc:
                out.append(f"analysis failed: {exc}")
        return out


def analyze_lines(lines: Iterable[str], out: TextIO, settings: Settings, chunk: int = 32) -> int:
    """Process every input line; returns how many gave an error line."""
    failed = 0
    now = datetime.now(timezone.utc)
    analyzer: EngineAnalyzer | None = None
    pending: list[tuple[int, Email | str]] = []

    def flush() -> None:
        nonlocal analyzer, failed
        good = [(n, e) for n, e in pending if isinstance(e, Email)]
        results: dict[int, Any] = {}
        if good:
            if analyzer is None:
                analyzer = EngineAnalyzer(settings)
            for (n, _), res in zip(good, _analyse_chunk(analyzer, [e for _, e in good]), strict=True):
                results[n] = res
        for n, item in pending:
            res = results.get(n, item)
            if isinstance(res, str):
                failed += 1
                out.write(json.dumps({"line": n, "error": res}, ensure_ascii=False) + "\n")
            else:
                email = item if isinstance(item, Email) else None
                assert email is not None
                out.write(json.dumps({"line": n, **_result(email, res, settings)}, ensure_ascii=False) + "\n")
        out.flush()
        pending.clear()

    try:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                pending.append((n, parse_line(line, now)))
            except LineError as exc:
                pending.append((n, str(exc)))
            if len(pending) >= chunk:
                flush()
        flush()
    finally:
        if analyzer is not None:
            analyzer.close()
    return failed
