"""Engine commands: ``beacon analyze`` (also ``beacon engine run``), ``beacon engine status |
requeue``.

``analyze`` is the one way the CLI drives the engine: enqueue what lacks an analysis, run the
jobs, show a Rich progress bar fed by the run's events.
"""

from __future__ import annotations

from datetime import datetime

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from beacon.cli.context import CliContext
from beacon.engine.memory import mb
from beacon.engine.metrics import EngineMetrics
from beacon.engine.runner import RunSummary
from beacon.engine.service import EngineService
from beacon.errors import EngineError, InvalidInput, NothingToAnalyse, NotFound
from beacon.store import jobs
from beacon.store.runs import RunEventData, RunStatus
from beacon.store.tenancy import EVERYONE

engine_app = typer.Typer(help="The NLP engine: status, runs and quarantined emails.", no_args_is_help=True)


def analyze_cmd(
    ctx: typer.Context,
    account: str = typer.Option(None, "--account", "-a", help="Only this account's mail."),
) -> None:
    """Analyse every email that has no analysis at the current pipeline version (resumable)."""
    c: CliContext = ctx.obj
    try:
        summary = analyze_with_progress(c, account)
    except NothingToAnalyse:
        c.console.print("Nothing to analyse: every email has its analysis.")
        return
    except (NotFound, InvalidInput) as exc:
        c.err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except EngineError as exc:
        c.err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if summary.error or summary.status == RunStatus.FAILED:
        raise typer.Exit(1)


def analyze_with_progress(c: CliContext, account: str | None = None) -> RunSummary:
    svc = EngineService(c.settings, c.db)
    try:
        queued = svc.enqueue_missing(account, c.scope if account is not None else EVERYONE)
        columns = [TextColumn("[bold]Analysing"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[stats]}"), TimeElapsedColumn()]
        with Progress(*columns, console=c.err) as progress:
            task = progress.add_task("analyse", total=None, stats="starting workers…")

            def on_event(ev: RunEventData) -> None:
                d = ev.data
                if "total" in d:
                    progress.update(task, total=d["total"] or None,
                                    completed=d.get("done", 0) + d.get("quarantined", 0),
                                    stats=f"{d.get('rate', 0):.1f}/s · quarantined {d.get('quarantined', 0)}")

            summary = svc.run(on_event=on_event)
        _print_summary(c, summary, queued)
        return summary
    finally:
        svc.stop()


def _print_summary(c: CliContext, s: RunSummary, queued: int) -> None:
    t = Table(title=f"Analysis run {s.run_id}: {s.status}", show_header=False)
    for label, value in [
        ("newly queued", queued), ("analysed", s.done), ("quarantined", s.quarantined),
        ("retried", s.retried), ("time", f"{s.elapsed:.1f} s"), ("rate", f"{s.rate:.1f} emails/s"),
        ("worker kills", _fmt_counts(s.kills)), ("worker recycles", _fmt_counts(s.recycles)),
    ]:
        t.add_row(label, str(value))
    c.console.print(t)
    if s.error:
        c.err.print(f"[red]error:[/red] {s.error}")


def _fmt_counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"


def status_cmd(ctx: typer.Context) -> None:
    """Mode, budget, job queue, last run and quarantined emails (starts no workers)."""
    c: CliContext = ctx.obj
    svc = EngineService(c.settings, c.db)
    st = svc.status()
    m = svc.metrics()
    t = Table(title="Beacon engine", show_header=False)
    t.add_row("mode", f"{st.mode}" + (f" (workers: {m.start_method})" if st.mode == "pool" else ""))
    t.add_row("pipeline version", st.pipeline_version)
    t.add_row("memory budget", f"{mb(m.budget):.0f} MB ({m.budget_source})")
    if m.worker_hard_limit:
        t.add_row("per-worker limits", f"soft {mb(m.worker_soft_limit):.0f} MB · hard {mb(m.worker_hard_limit):.0f} MB USS")
    t.add_row("workers", f"{c.settings.workers or 'CPU count'} · batch {c.settings.batch_size} emails"
              f" / {c.settings.batch_max_chars} chars · timeout {c.settings.batch_timeout:.0f} s")
    t.add_row("jobs", " · ".join(f"{k} {v}" for k, v in st.jobs.items()))
    t.add_row("this process RSS", f"{mb(m.main_rss):.1f} MB")
    if st.last_run:
        r = st.last_run
        started = r["started_at"]
        when = started.strftime("%Y-%m-%d %H:%M") if isinstance(started, datetime) else str(started)
        summary = r.get("summary") or {}
        t.add_row("last run", f"#{r['id']} {r['status']} at {when}: {r['done']} done, {r['failed']} quarantined"
                  + (f", {summary.get('rate')} emails/s" if summary.get("rate") else ""))
        if summary:
            t.add_row("last run kills / recycles",
                      f"{_fmt_counts(summary.get('kills') or {})} / {_fmt_counts(summary.get('recycles') or {})}")
            if summary.get("peak_total_pss"):
                t.add_row("last run peak memory", f"{mb(summary['peak_total_pss']):.0f} MB (all processes, PSS)")
    c.console.print(t)
    _print_nodes(c, m)
    _print_workers(c, m)
    if st.quarantined:
        q = Table(title="Quarantined emails")
        for col in ("email", "attempts", "error"):
            q.add_column(col, overflow="fold")
        for row in st.quarantined:
            q.add_row(str(row["email_id"]), str(row["attempts"]), str(row["error"]))
        c.console.print(q)


def _print_nodes(c: CliContext, m: EngineMetrics) -> None:
    """Celery mode: the `beacon worker` nodes, as their heartbeats describe them."""
    if not m.nodes:
        return
    t = Table(title="Worker nodes")
    for col in ("node", "state", "busy / slots", "PSS MB", "budget MB", "emails", "kills", "recycles"):
        t.add_column(col, justify="right")
    for n in m.nodes:
        t.add_row(n.name, n.state, f"{n.busy} / {n.slots}", f"{mb(n.total_pss):.0f}", f"{mb(n.budget):.0f}",
                  str(n.done), _fmt_counts(n.kills), _fmt_counts(n.recycles))
    c.console.print(t)


def _print_workers(c: CliContext, m: EngineMetrics) -> None:
    if not m.workers:
        return
    w = Table(title="Workers")
    for col in ("pid", "state", "RSS MB", "USS MB", "batches", "emails"):
        w.add_column(col, justify="right")
    for x in m.workers:
        w.add_row(f"{x.node} / {x.pid}" if x.node else str(x.pid), x.state, f"{mb(x.rss):.0f}", f"{mb(x.uss):.0f}", str(x.tasks), str(x.emails))
    c.console.print(w)


def requeue_cmd(ctx: typer.Context) -> None:
    """Give quarantined emails another chance (e.g. after a fix)."""
    c: CliContext = ctx.obj
    svc = EngineService(c.settings, c.db)
    with c.db.session() as s:
        n = jobs.requeue_quarantined(s, svc.version)
    c.console.print(f"Re-queued {n} quarantined email(s); run [bold]beacon engine run[/bold].")


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze_cmd)
    engine_app.command("status")(status_cmd)
    engine_app.command("run")(analyze_cmd)
    engine_app.command("requeue")(requeue_cmd)
    app.add_typer(engine_app, name="engine")
