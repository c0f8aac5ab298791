"""``beacon worker``: a Celery worker node for ``BEACON_NLP_MODE=celery`` (see README "Operators").

It needs the broker (``--broker`` or ``BEACON_BROKER_URL``) and the same analysis code and model
as the main node (the queue name carries the pipeline version); never the database.
"""

from __future__ import annotations

import os

import typer

from beacon.cli.context import CliContext
from beacon.errors import BeaconError


def worker_cmd(
    ctx: typer.Context,
    name: str = typer.Option("beacon", "--name", "-n",
                             help="Node name, unique per broker ('NAME' becomes NAME@this-host)."),
    slots: int = typer.Option(0, "--slots", "-c", help="Worker processes (0: BEACON_WORKERS, else one per core)."),
    broker: str = typer.Option("", "--broker", help="Broker URL (default: BEACON_BROKER_URL)."),
    budget_share: float = typer.Option(0.0, "--budget-share", min=0.0, max=1.0,
                                       help="Share of this machine's memory budget for this node "
                                            "(default: BEACON_NODE_BUDGET_SHARE, 1.0)."),
    loglevel: str = typer.Option("WARNING", "--loglevel", "-l", help="Celery's log level."),
) -> None:
    """Analyse batches for a main Beacon node, taken from the broker, inside a memory budget."""
    from beacon.engine.celery.node import WorkerNode  # Celery only for this command

    c: CliContext = ctx.obj
    update: dict[str, object] = {}
    if broker:
        update["broker_url"] = broker
    if budget_share:
        update["node_budget_share"] = budget_share
    settings = c.env.model_copy(update=update)
    n = slots or (settings.workers if settings.workers > 0 else os.cpu_count() or 1)
    try:
        node = WorkerNode(settings, name, n)
    except BeaconError as exc:
        c.err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    c.err.print(f"beacon worker {node.name}: {n} slot(s), queue {node.queue}, "
                f"budget {node.settings.memory_budget // (1024 * 1024)} MiB, broker {node.app.conf.broker_url.split('@')[-1]}")
    node.run(loglevel)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_cmd)
