"""The engine's state as plain JSON for the API and the System page."""

from __future__ import annotations

import dataclasses
from typing import Any

from beacon.engine.memory import rss
from beacon.web.state import WebState


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def engine_snapshot(st: WebState) -> dict[str, Any]:
    """Status and metrics of the engine (memory history included), or why there is none."""
    if st.engine is None:
        return {"available": False, "main_rss": rss(), "imports_running": st.imports.running()}
    metrics = _plain(st.engine.metrics())
    # JSON object keys are strings; the plot wants the worker pids as keys anyway.
    for point in metrics.get("history", []):
        point["workers"] = {str(k): v for k, v in point.get("workers", {}).items()}
    return {
        "available": True,
        "status": _plain(st.engine.status()),
        "metrics": metrics,
        "imports_running": st.imports.running(),
    }
