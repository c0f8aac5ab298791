"""Celery mode with real processes: Debian's ``redis-server``, real ``beacon worker`` nodes, the
real model, PostgreSQL as the shared store. Kill -9 of nodes' children and of a whole node, a
poison email per fault, a broker restart mid-run: every email analysed exactly once, nothing
stuck, the job rows checked in PostgreSQL; and the same analyses as ``pool`` mode.

The issue's 2,000-email chaos run is ``python bench/engine.py celery-chaos`` (minutes on this
machine); the run here is smaller with the same kills, so the suite stays bounded."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from beacon.engine.analyzer import make_analyzer
from beacon.engine.service import EngineService
from beacon.models import Email
from beacon.parse import parse_message
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.errors import WorkerStartFailed
from beacon.store.schema import AnalysisJob, EmailRow
from testkit import faults
from testkit.cluster import Node, RedisServer, kill_random_child, start_node
from tests.helpers import engine_settings, import_corpus, outcome, spamassassin_files

@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


class Cluster:
    """Worker nodes started for one test, all stopped at its end."""

    def __init__(self, broker: RedisServer, tmp: Path, env: dict[str, str]) -> None:
        self.broker, self.tmp, self.env = broker, tmp, env
        self.nodes: list[Node] = []

    def start(self, name: str, **kw: object) -> Node:
        node = start_node(name, self.broker.url, {"BEACON_DATA_DIR": str(self.tmp / name), **self.env}, **kw)  # type: ignore[arg-type]
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


def _celery_settings(tmp: Path, db: Database, broker: RedisServer, **kw: object) -> Settings:
    base: dict[str, object] = dict(nlp_mode="celery", broker_url=broker.url, celery_node_timeout=4.0,
                                   celery_requeue_after=8.0, celery_start_timeout=120.0)
    return engine_settings(tmp, db, **{**base, **kw})


def _errors_by_subject(db: Database) -> dict[str, str]:
    with db.session() as s:
        rows = s.execute(select(EmailRow.subject, AnalysisJob.last_error)
                         .join(AnalysisJob, AnalysisJob.email_id == EmailRow.id)
                         .where(AnalysisJob.status == "quarantined")).all()
    return {subject: error for subject, error in rows}


def _max_attempts(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.max(AnalysisJob.attempts))) or 0)


@pytest.mark.postgres
def test_two_nodes_under_kill_9_analyse_every_email_exactly_once(
    postgres_db: Database, broker: RedisServer, tmp_path: Path,
) -> None:
    n = import_corpus(postgres_db, tmp_path, 120)
    # A node is lost after 6 s without a heartbeat: a busy machine can delay a live node's
    # heartbeats by seconds, and a node wrongly judged lost fails the batches it is running.
    settings = _celery_settings(tmp_path, postgres_db, broker, max_attempts=4, celery_node_timeout=6.0)
    cluster = Cluster(broker, tmp_path, {"BEACON_NODE_BUDGET_SHARE": "0.5"})
    cluster.start("node-a")
    cluster.start("node-b")
    rng = random.Random(17)
    run_over = threading.Event()
    done = [0]
    killed: list[str] = []
    # Kills paced by the run's progress (emails saved), never by the clock, so they land mid-run
    # and as densely per email however loaded the machine: a random node's analysis child each
    # time `kill_every` more emails were saved, and the whole of node-b once 46 were (replaced by
    # node-c, as an operator's supervisor would). Children are killed only while two nodes have
    # one: with a single worker left (node-c still loading its model on a busy machine) every
    # kill would land on it, just as it starts the retry of the email the last kill failed, and
    # four in a row quarantine an innocent email. Kills every few seconds did the same to every
    # attempt of a slow email on a loaded machine.
    kill_every, node_moment = 8, 46

    def chaos() -> None:
        next_kill = kill_every
        while not run_over.wait(0.05):
            live = [nd for nd in cluster.nodes if nd.proc.poll() is None]
            if "node-b" not in killed and done[0] >= node_moment:
                next(nd for nd in live if nd.name == "node-b").kill()
                killed.append("node-b")
                cluster.start("node-c")
            elif next_kill <= done[0] < n - kill_every and sum(1 for nd in live if nd.children()) >= 2:
                next_kill = done[0] + kill_every
                pid = kill_random_child(live, rng)
                if pid is not None:
                    killed.append(f"child {pid}")

    def count(ev: object) -> None:
        if getattr(ev, "type", "") == "email_done":
            done[0] = ev.data["done"]  # type: ignore[attr-defined]

    try:
        with EngineService(settings, postgres_db) as svc:
            svc.enqueue_missing()
            t = threading.Thread(target=chaos)
            t.start()
            try:
                summary = svc.run(on_event=count)
            finally:
                run_over.set()
                t.join(30)
            # node-b's last heartbeat is still in Redis: the main node shows it lost.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                metrics = svc.metrics()
                states = {nd.name.split("@")[0]: nd.state for nd in metrics.nodes}
                if states.get("node-b") == "lost":
                    break
                time.sleep(0.2)
    finally:
        cluster.stop()
    assert "node-b" in killed and len(killed) >= 4, killed
    assert (summary.status, summary.done, summary.quarantined) == ("done", n, 0), summary
    # The rows in PostgreSQL: one analysis per email, every job done, none left behind.
    assert outcome(postgres_db) == {"emails": n, "analyses": n, "analysed": n, "done": n,
                                    "quarantined": 0, "pending": 0, "running": 0}
    assert _max_attempts(postgres_db) <= 2 * settings.max_attempts + 1
    assert summary.retried > 0  # the kills did hit batches, and they were retried
    assert metrics.kills.get("crashed", 0) >= 1  # counted by the nodes, reported to the main node
    assert states["node-a"] == "up" and states["node-b"] == "lost", states


@pytest.mark.postgres
def test_poison_emails_are_quarantined_and_a_broker_restart_is_survived(
    postgres_db: Database, broker: RedisServer, tmp_path: Path,
) -> None:
    good = 40
    import_corpus(postgres_db, tmp_path, good, faults=("hang", "alloc", "exit"))
    settings = _celery_settings(tmp_path, postgres_db, broker, max_attempts=2, batch_timeout=8.0)
    # The nodes enforce the memory discipline: each has half of a 1.6 GiB machine budget, and a
    # worker is killed mid-task at 300 MB (well before the node's processes together reach the
    # budget's kill threshold, so the hard limit is what acts).
    cluster = Cluster(broker, tmp_path, {"BEACON_ANALYSIS_LOADER": faults.LOADER, "BEACON_BATCH_TIMEOUT": "8",
                                         "BEACON_MEMORY_BUDGET": "1600M", "BEACON_NODE_BUDGET_SHARE": "0.5",
                                         "BEACON_WORKER_HARD_LIMIT": "300M"})
    cluster.start("node-a")
    cluster.start("node-b")
    restarted = threading.Event()

    def restart_the_broker_mid_run(ev: object) -> None:
        if getattr(ev, "type", "") == "email_done" and ev.data["done"] == 12 and not restarted.is_set():  # type: ignore[attr-defined]
            restarted.set()
            threading.Thread(target=broker.restart, kwargs={"down_for": 2.0}).start()

    try:
        with EngineService(settings, postgres_db) as svc:
            svc.enqueue_missing()
            summary = svc.run(on_event=restart_the_broker_mid_run)
            metrics = svc.metrics()
    finally:
        cluster.stop()
    assert restarted.is_set()
    assert (summary.status, summary.done, summary.quarantined) == ("done", good, 3), summary
    assert outcome(postgres_db) == {"emails": good + 3, "analyses": good, "analysed": good, "done": good,
                                    "quarantined": 3, "pending": 0, "running": 0}
    errors = _errors_by_subject(postgres_db)
    assert set(errors) == {"poison hang", "poison alloc", "poison exit"}
    assert "timeout:" in errors["poison hang"]
    assert "hard_limit:" in errors["poison alloc"]  # killed mid-task by the node's watchdog
    assert "crashed:" in errors["poison exit"]
    assert all(e.startswith("quarantined after 2 failed attempt(s) on its own") for e in errors.values())
    # The nodes' own watchdogs did the killing, and their counts reached the main node.
    assert {"timeout", "hard_limit", "crashed"} <= set(metrics.kills)
    assert all(node.peak_total_pss < 800 * 1024 * 1024 for node in metrics.nodes)


def test_celery_and_pool_give_identical_analyses_over_sqlite(
    sqlite_db: Database, broker: RedisServer, tmp_path: Path,
) -> None:
    emails: list[Email] = [parse_message(p.read_bytes()).email for p in spamassassin_files(12, "hard-ham-1")]
    cluster = Cluster(broker, tmp_path, {})
    cluster.start("node-a", slots=2)
    try:
        results = {}
        for mode in ("pool", "celery"):
            settings = _celery_settings(tmp_path, sqlite_db, broker) if mode == "celery" \
                else engine_settings(tmp_path, sqlite_db, nlp_mode=mode)
            with make_analyzer(settings) as analyzer:
                results[mode] = [a.model_dump(mode="json") for a in analyzer.analyze(emails)]
    finally:
        cluster.stop()
    assert len(results["celery"]) == 12 and any(a["entities"] for a in results["celery"])
    assert results["celery"] == results["pool"]


def test_without_a_node_a_run_fails_clearly_and_hands_its_jobs_back(
    sqlite_db: Database, broker: RedisServer, tmp_path: Path,
) -> None:
    # The engine starts without nodes (a server comes up before its nodes do); a run that
    # finds none for celery_start_timeout ends failed, saying what to do.
    settings = _celery_settings(tmp_path, sqlite_db, broker, celery_start_timeout=2.0, celery_node_timeout=1.0)
    import_corpus(sqlite_db, tmp_path, 2)
    t0 = time.monotonic()
    with EngineService(settings, sqlite_db) as svc:
        svc.enqueue_missing()
        summary = svc.run()
    assert time.monotonic() - t0 < 30
    assert summary.status == "failed", summary
    assert "no `beacon worker` node serves pipeline version" in (summary.error or "")
    assert "start one with `beacon worker`" in (summary.error or "")
    assert outcome(sqlite_db)["pending"] == 2  # handed back for the next run


def test_an_unreachable_broker_fails_the_start_clearly(sqlite_db: Database, tmp_path: Path) -> None:
    dead = RedisServer(tmp_path / "redis")  # never started: nothing listens on its port
    settings = _celery_settings(tmp_path, sqlite_db, dead, celery_start_timeout=1.0)
    with EngineService(settings, sqlite_db) as svc:
        with pytest.raises(WorkerStartFailed, match=f"cannot reach the broker at redis://127.0.0.1:{dead.port}"):
            svc.start()


def test_nodes_memory_and_throughput_reach_metrics_and_the_system_page(
    broker: RedisServer, tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from beacon.web.app import create_app
    from beacon.web.auth import create_user
    from beacon.web.runtime import setup_demo
    from tests.helpers import PASSWORD, Served, wait_job

    cluster = Cluster(broker, tmp_path, {})
    node = cluster.start("node-a", slots=2)
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'beacon.db'}",
                        sync_interval=0, nlp_mode="celery", broker_url=broker.url, celery_start_timeout=120.0)
    db = Database(settings.database_url_resolved)
    db.migrate()
    setup_demo(db, settings)
    with db.session() as s:
        create_user(s, "alice", PASSWORD)
    app = create_app(settings, db, engine_factory=EngineService)
    srv = Served(app, db, settings)
    try:
        with TestClient(app) as lifespan_client:
            c, h = srv.login(lifespan_client)
            job = wait_job(c, c.post("/api/jobs/analyze", headers=h).json()["run_id"], timeout=240)
            assert job["status"] == "done" and job["done"] == 41
            time.sleep(2.5)  # a heartbeat after the last batch
            m = c.get("/api/engine").json()["metrics"]
            prom = c.get("/metrics").text
            page = c.get("/system").text
            settings_page = c.get("/settings").text
            worker_pids = {p.pid for p in node.children()}
    finally:
        cluster.stop()
        db.dispose()
    assert m["mode"] == "celery"
    [n] = m["nodes"]
    assert n["name"].startswith("node-a@") and n["state"] == "up" and n["slots"] == 2 and n["done"] == 41
    assert n["total_pss"] > 50 * 1024 * 1024  # the node's zygote and workers, measured on the node
    assert {w["node"] for w in m["workers"]} == {n["name"]} and len(m["workers"]) == 2
    assert {w["pid"] for w in m["workers"]} == worker_pids
    assert f'beacon_node_up{{host="{n["host"]}",node="{n["name"]}"}} 1.0' in prom
    assert f'beacon_node_emails_analysed_total{{host="{n["host"]}",node="{n["name"]}"}} 41.0' in prom
    for pid in worker_pids:
        assert f'beacon_node_worker_uss_bytes{{node="{n["name"]}",pid="{pid}",state="idle"}}' in prom
    assert 'id="sys-nodes"' in page
    # The settings form keeps the environment's mode rather than offering to switch to pool.
    assert '<option value="" selected>celery (set by the environment)</option>' in settings_page


def test_the_main_node_wakes_when_a_node_stores_a_state_also_after_a_broker_restart(broker: RedisServer) -> None:
    import redis

    from beacon.engine.celery.wakeups import ResultWakeups

    wake = threading.Event()
    wakeups = ResultWakeups(broker.url, wake)
    wakeups.start()
    try:
        assert wake.wait(10)  # subscribed: it looks once for states stored meanwhile
        for restart in (False, True):
            if restart:
                wake.clear()
                broker.restart(down_for=1.0)
                assert wake.wait(20)  # subscribed again
            wake.clear()
            client = redis.Redis.from_url(broker.url)
            client.publish("some-other-channel", "x")
            assert not wake.wait(0.5)  # only Celery's result channels wake it
            deadline = time.monotonic() + 10
            # Celery's Redis backend publishes each stored state on the result key's channel.
            while not wake.is_set() and time.monotonic() < deadline:
                client.publish("celery-task-meta-0123", '{"status": "SUCCESS"}')
                wake.wait(0.2)
            client.close()
            assert wake.is_set()
    finally:
        wakeups.stop()
