"""Reading the analysed mail: ``beacon inbox`` (the prioritised table) and ``beacon rescore``."""

from __future__ import annotations

import typer
from rich.table import Table

from beacon.analysis.version import pipeline_version
from beacon.cli.context import CliContext
from beacon.store.analyses import load_scored, rescore_all
from beacon.store.inbox import InboxFilter, inbox, inbox_count

LEVEL_STYLE = {"HIGH": "bold red", "MEDIUM": "yellow", "LOW": "dim"}


def inbox_cmd(
    ctx: typer.Context,
    level: str = typer.Option(None, "--level", "-l", help="HIGH, MEDIUM or LOW."),
    kind: str = typer.Option(None, "--kind", "-k", help="personal, bulk, marketing, automated, transactional."),
    category: str = typer.Option(None, "--category", "-c"),
    needs_reply: bool = typer.Option(None, "--needs-reply/--no-needs-reply"),
    search: str = typer.Option(None, "--search", "-s", help="Words to find in subject, sender or text."),
    account: str = typer.Option(None, "--account", "-a"),
    limit: int = typer.Option(30, "--limit", "-n"),
) -> None:
    """The prioritised inbox: level, score, sender, subject and the top reason."""
    c: CliContext = ctx.obj
    f = InboxFilter(
        pipeline_version=pipeline_version(c.settings), level=level, kind=kind, category=category,
        needs_reply=needs_reply, search=search, account=account,
    )
    with c.db.session() as s:
        rows = inbox(s, f, limit=limit)
        total = inbox_count(s, f)
    t = Table(title=f"Inbox by priority ({len(rows)} of {total} analysed)")
    for col, kw in (("ID", {}), ("Level", {}), ("Score", {"justify": "right"}), ("From", {"max_width": 24}),
                    ("Subject", {"max_width": 48}), ("Top reason", {"max_width": 40}), ("Due", {})):
        t.add_column(col, overflow="ellipsis", **kw)
    for e, a in rows:
        scored = load_scored(a)
        dues = [x.due for x in scored.analysis.action_items if x.due]
        t.add_row(
            str(e.id),
            f"[{LEVEL_STYLE[a.level]}]{a.level}[/]",
            str(a.score),
            e.from_name or e.from_addr,
            e.subject or "(no subject)",
            scored.priority.top_reason,
            min(dues).strftime("%a %d %b %H:%M") if dues else "",
        )
    c.console.print(t)
    if total == 0:
        c.console.print("Nothing analysed yet: run [bold]beacon analyze[/bold].")


def rescore_cmd(ctx: typer.Context) -> None:
    """Recompute priorities (after changing weights, VIPs or own addresses) without re-running NLP."""
    c: CliContext = ctx.obj
    with c.db.session() as s:
        n = rescore_all(s, c.settings)
    c.console.print(f"Re-scored {n} analyses.")


def register(app: typer.Typer) -> None:
    app.command("inbox")(inbox_cmd)
    app.command("rescore")(rescore_cmd)
