"""Everything a request handler needs, built once per app by ``create_app``.

Lives on ``app.state.beacon``; handlers reach it through ``deps.state``. One object per app
(no module globals), so tests can run several apps side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from fastapi.templating import Jinja2Templates
from prometheus_client import CollectorRegistry

from beacon.engine.host import EngineHost
from beacon.engine.processes import ProcessTree
from beacon.ingest.roots import ImportRoots
from beacon.ingest.runner import ImportRunner
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.triage.deferred import DeferredHooks
from beacon.web.auth import SessionCodec
from beacon.web.auth_cache import AuthCache
from beacon.web.login_guard import LoginGuard
from beacon.web.memtrace import AllocationTracer
from beacon.web.prometheus import Exposition

__all__ = ["Scheduler", "WebState"]


class Scheduler(Protocol):
    """What the web app uses of the IMAP watcher (``beacon.imap.watcher.ImapWatcher``)."""

    def start(self) -> None: ...
    def stop(self, timeout: float = ...) -> None: ...


@dataclass
class WebState:
    settings: Settings  # from the environment; the ones in force add the stored changes
    db: Database
    codec: SessionCodec
    auth: AuthCache  # the session's user and the settings in force, between changes
    templates: Jinja2Templates
    imports: ImportRunner
    registry: CollectorRegistry
    exposition: Exposition  # /metrics: the registry's text, reused for metrics_max_age
    roots: ImportRoots  # where admins may import from by path
    # The analysis engine's owner; None when this server runs without analysis. Read
    # ``engine.service`` once per request (it is swapped after an engine setting changes).
    engine: EngineHost | None = None
    scheduler: Scheduler | None = None
    rescorer: Scheduler | None = None  # the periodic rescore (beacon.triage.scheduler)
    login_guard: LoginGuard = field(default_factory=LoginGuard)
    tracer: AllocationTracer | None = None  # settings.debug_tracemalloc
    # The processes this server started, walked at most once a second (/api/engine, /metrics).
    processes: ProcessTree = field(default_factory=ProcessTree)
    # The learning and re-scoring after actions, once they are answered (made by create_app).
    deferred: DeferredHooks | None = None
