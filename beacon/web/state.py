"""Everything a request handler needs, built once per app by ``create_app``.

Lives on ``app.state.beacon``; handlers reach it through ``deps.state``. One object per app
(no module globals), so tests can run several apps side by side.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, Protocol

from fastapi.templating import Jinja2Templates
from prometheus_client import CollectorRegistry

from beacon.settings import Settings
from beacon.store.db import Database
from beacon.web.auth import SessionCodec
from beacon.web.imports import ImportJobs
from beacon.web.login_guard import LoginGuard


class Engine(Protocol):
    """What the web app uses of ``beacon.engine.service.EngineService``."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def enqueue_missing(self) -> int: ...
    def start_run_in_background(self) -> int: ...
    def metrics(self) -> Any: ...
    def status(self) -> Any: ...


class Scheduler(Protocol):
    """What the web app uses of the IMAP ``SyncScheduler``."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass
class WebState:
    settings: Settings  # from the environment; run-time overrides come from the database
    db: Database
    codec: SessionCodec
    templates: Jinja2Templates
    imports: ImportJobs
    registry: CollectorRegistry
    # Builds an engine for given (effective) settings; None when analysis is not available.
    engine_factory: Callable[[Settings, Database], Engine] | None = None
    engine: Engine | None = None
    scheduler: Scheduler | None = None
    login_guard: LoginGuard = field(default_factory=LoginGuard)
    # Engine restarts run here, one at a time in the order asked, off the request path:
    # stopping workers can take minutes (they finish their batch first).
    engine_control: ThreadPoolExecutor = field(default_factory=lambda: new_engine_control())
    extras: dict[str, Any] = field(default_factory=dict)


def new_engine_control() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="beacon-engine-control")
