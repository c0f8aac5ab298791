"""Reading the analysed mail: ``beacon inbox`` (the prioritised table) and ``beacon rescore``."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

import typer
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from beacon.analysis.version import pipeline_version
from beacon.cli.context import CliContext
from beacon.store.analyses import load_scored
from beacon.errors import InvalidInput
from beacon.query.snippet import snippet
from beacon.store.app_settings import current_settings
from beacon.store.inbox import InboxFilter, inbox, inbox_count, require_index
from beacon.store.emails import count_emails
from beacon.store.schema import AnalysisRow, EmailRow, utcnow
from beacon.store.tenancy import EVERYONE, is_everyone
from beacon.triage.due import DueStatus, due_at
from beacon.triage.models import EmailState
from beacon.triage.rescore import rescore_due, rescore_scope
from beacon.triage.states import load_states
from beacon.triage.threads import thread_counts

LEVEL_STYLE = {"HIGH": "bold red", "MEDIUM": "yellow", "LOW": "dim"}
DUE_STYLE = {DueStatus.OVERDUE: "bold red", DueStatus.TODAY: "red", DueStatus.TOMORROW: "yellow",
             DueStatus.SOON: "yellow", DueStatus.LATER: "default"}


def inbox_cmd(
    ctx: typer.Context,
    level: str = typer.Option(None, "--level", "-l", help="HIGH, MEDIUM or LOW."),
    kind: str = typer.Option(None, "--kind", "-k", help="personal, notification, newsletter, marketing or spam."),
    category: str = typer.Option(None, "--category", "-c"),
    needs_reply: bool = typer.Option(None, "--needs-reply/--no-needs-reply"),
    search: str = typer.Option(None, "--query", "-q", "--search", "-s",
                               help='A search (words, "phrases", from:, subject:, has:attachment…; see beacon search --help).'),
    account: str = typer.Option(None, "--account", "-a"),
    limit: int = typer.Option(None, "--limit", "-n", help="At most N emails (table default: 30; --json: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array (for scripts) instead of a table."),
    everything: bool = typer.Option(False, "--all", help="Every analysed email, also those hidden from the inbox."),
    threads: bool = typer.Option(False, "--threads", help="Conversations: one row per thread (its most important "
                                                          "open message) with its message count."),
) -> None:
    """The prioritised inbox: level, score, sender, subject, the top reason and the deadline
    (judged against now: "overdue", "due today")."""
    c: CliContext = ctx.obj
    f = _filter(c, dict(level=level, kind=kind, category=category, needs_reply=needs_reply, search=search,
                        account=account, include_hidden=everything, threads=threads))
    catch_up(c)
    now = utcnow()
    if as_json:
        with c.db.session() as s:
            rows = inbox(s, f, limit=limit)
            states = load_states(s, [e.id for e, _ in rows])
            counts = thread_counts(s, [e for e, _a in rows]) if threads else {}
            items = [inbox_json(e, a, now, states[e.id], counts.get(e.id)) for e, a in rows]
        sys.stdout.write(json.dumps(items, ensure_ascii=False, indent=1) + "\n")
        return
    with c.db.session() as s:
        rows = inbox(s, f, limit=30 if limit is None else limit)
        total = inbox_count(s, f)
        counts = thread_counts(s, [e for e, _a in rows]) if threads else {}
    order = "relevance" if f.effective_sort == "relevance" else "priority"
    what = "conversations" if threads else "analysed"
    t = Table(title=f"Inbox by {order} ({len(rows)} of {total} {what})")
    cols: list[tuple[str, dict[str, Any]]] = [
        ("ID", {}), ("Level", {}), ("Score", {"justify": "right"}), ("From", {"max_width": 24}),
        ("Subject", {"max_width": 48}), ("Top reason", {"max_width": 40}), ("Due", {})]
    if threads:
        cols.insert(5, ("Msgs", {"justify": "right"}))
    for col, kw in cols:
        t.add_column(col, overflow="ellipsis", **kw)
    for e, a in rows:
        scored = load_scored(a)
        due = due_at(scored.analysis, e.date, now)
        cells = [str(e.id), f"[{LEVEL_STYLE[a.level]}]{a.level}[/]", str(a.score), e.from_name or e.from_addr,
                 e.subject or "(no subject)", scored.priority.top_reason,
                 f"[{DUE_STYLE[due.status]}]{due.label}[/]" if due else ""]
        if threads:
            cells.insert(5, str(counts.get(e.id, 1)))
        t.add_row(*cells)
    c.console.print(t)
    if not total:
        c.console.print("Nothing analysed yet: run [bold]beacon analyze[/bold].")


def catch_up(c: CliContext) -> None:
    """Rescore what time has changed since the last pass (a deadline crossing a day, a snooze
    waking) before reading scores: with no server running, nobody else does. One index range
    when nothing is due."""
    with c.db.session() as s:
        engine_wide = current_settings(s, c.env)  # each account's owner's settings are added per email
    rescore_due(c.db, engine_wide)


def _filter(c: CliContext, kw: dict[str, Any]) -> InboxFilter:
    """The filter over ``--user``'s mail, or exit 2 with the reason when the query cannot be read
    (or searches words while the index waits for ``beacon reindex``)."""
    try:
        f = InboxFilter(pipeline_version=pipeline_version(c.settings), scope=c.scope,
                        own_addresses=tuple(c.settings.own_addresses), **kw)
        with c.db.session() as s:
            require_index(s, f)
        return f
    except InvalidInput as exc:
        c.err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc


def search_cmd(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="What to find (see below)."),
    limit: int = typer.Option(20, "--limit", "-n", help="At most N results."),
    sort: str = typer.Option(None, "--sort", help="relevance (default with words), priority, date or oldest."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array (with snippets) instead of a table."),
) -> None:
    """Search the analysed mail: the web search box's language.

    Words must all appear (accents and case do not matter); "a phrase"; -word excludes;
    a OR b; meet* (prefix); from: to: cc: subject: list: filename: has:attachment
    is:needs-reply|unread|read|important|not-important|replied|done|snoozed|flagged|answered
    level: kind: category:
    before:/after:YYYY-MM-DD older_than:/newer_than:3d|2w|6m|1y due:today|week|overdue
    account:NAME. A query that cannot be read exits with status 2 and says why.
    """
    c: CliContext = ctx.obj
    f = _filter(c, dict(search=query, sort=sort))
    catch_up(c)
    with c.db.session() as s:
        rows = inbox(s, f, limit=limit)
        total = inbox_count(s, f)
        terms = f.terms()
        found = [(e, a, snippet((e.data or {}).get("text", ""), terms, width=140) if terms else None) for e, a in rows]
        states = load_states(s, [e.id for e, _ in rows])
    if as_json:
        out = [{**inbox_json(e, a, utcnow(), states[e.id]), "snippet": sn.text if sn else None,
                "highlights": sn.highlights if sn else []} for e, a, sn in found]
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
        return
    t = Table(title=f"{total} found" + (f", the first {len(rows)}" if len(rows) < total.n else ""))
    for col, kw in (("ID", {}), ("Level", {}), ("From", {"max_width": 24}), ("Subject", {"max_width": 40}),
                    ("Date", {}), ("Snippet", {"max_width": 60})):
        t.add_column(col, overflow="fold" if col == "Snippet" else "ellipsis", **kw)
    for e, a, sn in found:
        t.add_row(str(e.id), f"[{LEVEL_STYLE[a.level]}]{a.level}[/]", e.from_name or e.from_addr,
                  e.subject or "(no subject)", e.date.strftime("%Y-%m-%d"), _marked(sn) if sn else "")
    c.console.print(t)


def _marked(sn: Any) -> Text:
    out = Text(sn.text)
    for start, end in sn.highlights:
        out.stylize("bold reverse", start, end)
    return out


def reindex_cmd(ctx: typer.Context) -> None:
    """Rebuild the full-text search index from the stored mail (after a restore or a crash)."""
    from beacon.store import search_index, statistics

    c: CliContext = ctx.obj
    # The index is one for the installation (FTS5 rebuilds it whole): system work, which needs
    # no user; with --user the report counts that user's mail alone.
    scope = c.scope if c.username else EVERYONE
    with c.db.sql_engine.begin() as conn, Progress(console=c.err, transient=True) as bar:
        task = bar.add_task("Indexing", total=None)
        result = search_index.reindex(conn, sqlite_cache=int(c.env.sqlite_reindex_cache),
                                       sqlite_batch=c.env.sqlite_reindex_batch,
                                       progress=lambda done, total: bar.update(task, completed=done, total=total))
        statistics.refresh(conn)  # a bulk rebuild: the planner's statistics anew
    if is_everyone(scope):
        c.console.print(f"Indexed {result.emails:,} emails in {result.seconds:.1f} s "
                        f"(index: {result.index_bytes / 1e6:,.1f} MB).")
        return
    with c.db.session() as s:
        mine = count_emails(s, scope)
    c.console.print(f"Indexed {mine:,} emails of {c.username}'s in {result.seconds:.1f} s "
                    "(the index is rebuilt for every user's mail).")


def inbox_json(e: EmailRow, a: AnalysisRow, now: datetime, state: EmailState = EmailState(),
               thread_count: int | None = None) -> dict[str, Any]:
    """One inbox entry of ``beacon inbox --json`` (the README documents the fields); with
    ``thread_count`` (``--threads``) it stands for its conversation."""
    scored = load_scored(a)
    due = due_at(scored.analysis, e.date, now)
    sender = f"{e.from_name} <{e.from_addr}>" if e.from_name and e.from_addr else (e.from_addr or e.from_name)
    out = {
        "id": e.id, "thread_id": e.thread_id, "score": a.score, "level": a.level, "kind": a.kind,
        "needs_reply": a.needs_reply, "subject": e.subject, "from": sender, "from_addr": e.from_addr,
        "date": e.date.isoformat(), "source": e.source, "category": a.category, "language": scored.analysis.language,
        "top_reason": scored.priority.top_reason, "due": due.at.isoformat() if due else None,
        "due_status": due.status.value if due else None, "due_label": due.label if due else None,
        "hidden": bool(e.deleted), "state": state.out(now).model_dump(mode="json"),
    }
    if thread_count is not None:
        out["thread_count"] = thread_count
    return out


def analyze_text_cmd(
    ctx: typer.Context,
    batch: int = typer.Option(32, "--batch", help="Lines sent to the engine at a time."),
) -> None:
    """Analyse JSON lines from stdin ({"text", "subject", "from", "date"}): one JSON line out per line in.

    Each output line is the Analysis JSON (as the API gives it) plus "priority" (score, level,
    factors) and "needs_reply"; a line that cannot be read gives {"line": N, "error": ...} and
    the rest go on. Runs through the engine in the configured mode (BEACON_NLP_MODE).
    """
    from beacon.cli.text_analysis import analyze_lines

    c: CliContext = ctx.obj
    failed = analyze_lines(sys.stdin, sys.stdout, c.env, batch)
    if failed:
        raise typer.Exit(1)


def rescore_cmd(
    ctx: typer.Context,
    due: bool = typer.Option(False, "--due", help="Only what time has changed since the last pass (deadlines "
                                                  "crossing a day, snoozes waking): the web server's periodic pass."),
    now: str = typer.Option(None, "--now", help="Judge deadlines at this ISO-8601 time instead of now.",
                            hidden=True),
) -> None:
    """Recompute priorities against the current time without re-running NLP: after changing
    weights, VIPs or own addresses (every email), or as days pass (--due)."""
    c: CliContext = ctx.obj
    at = _instant(c, now) if now else utcnow()
    if due:
        result = rescore_due(c.db, c.settings, at)
    else:
        with c.db.session() as s:
            result = rescore_scope(s, c.settings, c.scope, at)
    c.console.print(f"Re-scored {result.emails} analyses in {result.threads} conversations "
                    f"({result.changed} changed).")


def _instant(c: CliContext, value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        c.err.print(f"[red]error:[/red] --now {value!r} is not an ISO-8601 time", highlight=False)
        raise typer.Exit(2) from exc
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def register(app: typer.Typer) -> None:
    app.command("inbox")(inbox_cmd)
    app.command("analyze-text")(analyze_text_cmd)
    app.command("rescore")(rescore_cmd)
    app.command("search")(search_cmd)
    app.command("reindex")(reindex_cmd)
