"""Structured engine logs: one event name plus key=value fields (memory in MB).

The message reads well in a terminal (``batch_end worker=123 rss_mb=180.2 ...``) and the same
fields ride along in ``record.fields`` for a JSON formatter.
"""

from __future__ import annotations

import logging
from typing import Any

from beacon.engine.memory import mb

_MEMORY_KEYS = ("rss", "uss", "pss", "peak", "total", "limit", "budget", "main_rss", "growth")


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return
    shown = {}
    for key, value in fields.items():
        if isinstance(value, int) and any(key == k or key.endswith("_" + k) for k in _MEMORY_KEYS):
            shown[f"{key}_mb"] = mb(value)
        elif isinstance(value, float):
            shown[key] = round(value, 3)
        else:
            shown[key] = value
    text = " ".join(f"{k}={v}" for k, v in shown.items())
    logger.log(level, f"{name} {text}".rstrip(), extra={"event": name, "fields": fields})
