"""Mail commands: import, list, show, stats, reparse."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from beacon.cli.context import CliContext
from beacon.cli.render import render_analysis, render_email
from beacon.ingest.importer import ImportSummary, import_items
from beacon.ingest.sources import RawItem, SourceError, detect
from beacon.store import emails as store
from beacon.store.analyses import current_analysis, load_scored
from beacon.store.schema import EmailRow


def _ctx(ctx: typer.Context) -> CliContext:
    return ctx.obj


def import_cmd(
    ctx: typer.Context,
    path: str = typer.Argument(..., help="An .eml file, a directory of them, an mbox, a Maildir, or - for stdin."),
    account: str = typer.Option(None, "--account", "-a", help="Account to file the mail under."),
) -> None:
    """Import mail from PATH (duplicates are recognised and skipped)."""
    c = _ctx(ctx)
    try:
        source = detect(path)
    except SourceError as exc:
        c.err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    account = account or c.settings.default_account
    columns = [TextColumn("[bold]{task.description}"), BarColumn()]
    columns += [MofNCompleteColumn()] if source.unit != "bytes" else []
    columns += [TextColumn("{task.fields[stats]}"), TimeElapsedColumn()]
    with Progress(*columns, console=c.err, transient=False) as progress:
        task = progress.add_task(
            f"Importing {source.kind}", total=source.total or None, stats=""
        )

        def on_item(item: RawItem, s: ImportSummary) -> None:
            advance = item.nbytes if source.unit == "bytes" else 1
            progress.update(
                task,
                advance=advance,
                stats=f"new {s.imported} · dup {s.duplicates} · failed {s.failed}",
            )

        summary = import_items(
            c.db, source.iter_items(c.settings.max_message_bytes), account=account, on_item=on_item,
            workers=c.settings.parse_workers, max_message_bytes=c.settings.max_message_bytes, user_id=c.user_id,
            settings=c.settings)
        if source.total:
            progress.update(task, completed=source.total)
    _print_summary(c, summary, account)
    if summary.failed:
        raise typer.Exit(1)
    if not summary.imported and not summary.duplicates:
        c.err.print(f"[red]error:[/red] no mail found in {path}")
        raise typer.Exit(1)


_LISTED = 20  # skipped and failed entries named one by one; the rest are counted


def _print_summary(c: CliContext, s: ImportSummary, account: str) -> None:
    t = Table(title=f"Import into account '{account}'", show_header=False)
    for label, value in [
        ("messages seen", s.seen),
        ("imported", s.imported),
        ("already stored (duplicates)", s.duplicates),
        ("imported with parse problems", s.with_problems),
        ("skipped (not mail)", s.skipped),
        ("failed", s.failed),
    ]:
        t.add_row(label, str(value))
    c.console.print(t)
    for ref, reason in s.skips[:_LISTED]:
        c.console.print(f"[yellow]skipped[/yellow] {escape(ref)}: {escape(reason)}")
    if s.skipped > _LISTED:
        c.console.print(f"... and {s.skipped - _LISTED} more skipped")
    for ref, reason in s.failures[:_LISTED]:
        c.console.print(f"[red]failed[/red] {escape(ref)}: {escape(reason)}")
    if s.failed:
        named = ", ".join(ref for ref, _ in s.failures[:_LISTED])
        more = f" and {s.failed - _LISTED} more" if s.failed > _LISTED else ""
        c.console.print(f"[red]{s.failed} message(s) failed:[/red] {escape(named)}{more}")


def list_cmd(
    ctx: typer.Context,
    limit: int = typer.Option(30, "--limit", "-n", help="How many to show."),
    offset: int = typer.Option(0, "--offset"),
    account: str = typer.Option(None, "--account", "-a"),
) -> None:
    """List stored mail, newest first."""
    c = _ctx(ctx)
    with c.db.session() as s:
        account_id = None
        if account:
            found = store.find_account(s, account, c.user_id)
            if found is None:
                c.err.print(f"[red]error:[/red] no account named {account!r}")
                raise typer.Exit(2)
            account_id = found.id
        rows = store.recent_emails(s, limit=limit, offset=offset, account_id=account_id, scope=c.scope)
        t = Table(title="Mail, newest first")
        for col in ("ID", "Date", "From", "Subject", "!"):
            t.add_column(col, overflow="fold" if col == "Subject" else "ellipsis")
        for r in rows:
            flags = ("📎" if r.has_attachments else "") + ("⚠" if r.problem_count else "")
            t.add_row(
                str(r.id),
                r.date.strftime("%Y-%m-%d %H:%M"),
                (r.from_name or r.from_addr)[:30],
                r.subject[:80] or "(no subject)",
                flags,
            )
        c.console.print(t)


def show_cmd(ctx: typer.Context, email_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Show one email: headers, text, attachments and parse problems."""
    c = _ctx(ctx)
    with c.db.session() as s:
        row = store.get_email_row(s, email_id, c.scope)
        if row is None:
            c.err.print(f"[red]error:[/red] no email with id {email_id}")
            raise typer.Exit(2)
        email = store.load_email(row)
        attachments = store.list_attachments(s, email_id)
        arow = current_analysis(s, email_id, c.settings)
    render_email(c.console, row, email, attachments)
    if arow is not None:
        render_analysis(c.console, load_scored(arow))
    else:
        c.console.print("[dim]Not analysed yet at the current pipeline version: run beacon analyze.[/dim]")


def stats_cmd(ctx: typer.Context) -> None:
    """Counts of what the store holds."""
    c = _ctx(ctx)
    with c.db.session() as s:
        st = store.stats(s)
    t = Table(title="Beacon store", show_header=False)
    t.add_row("database", c.db.url.split("@")[-1])
    t.add_row("accounts", str(st.accounts))
    t.add_row("emails", str(st.emails))
    t.add_row("with parse problems", str(st.with_problems))
    t.add_row("with attachments", str(st.with_attachments))
    t.add_row("synthetic message ids", str(st.synthetic_ids))
    t.add_row("date not from Date header", str(st.date_fallbacks))
    t.add_row("raw size", f"{st.raw_bytes / 1e6:.1f} MB ({st.compressed_bytes / 1e6:.1f} MB stored)")
    if st.oldest and st.newest:
        t.add_row("date range", f"{st.oldest:%Y-%m-%d} … {st.newest:%Y-%m-%d}")
    c.console.print(t)


def reparse_cmd(ctx: typer.Context) -> None:
    """Parse every stored message again from its raw bytes (after a parser upgrade)."""
    from beacon.parse import parse_message

    c = _ctx(ctx)
    with c.db.session() as s:
        ids = list(s.scalars(select(EmailRow.id).order_by(EmailRow.id)))
    changed = 0
    with Progress(console=c.err) as progress:
        task = progress.add_task("Re-parsing", total=len(ids))
        for start in range(0, len(ids), 200):
            with c.db.session() as s:
                for email_id in ids[start : start + 200]:
                    raw = store.load_raw(s, email_id)
                    row = store.get_email_row(s, email_id)
                    if raw is None or row is None:
                        continue
                    parsed = parse_message(raw, fallback_date=row.imported_at)
                    before = row.data
                    store.update_parsed(s, email_id, parsed)
                    changed += row.data != before
                    progress.advance(task)
    c.console.print(f"Re-parsed {len(ids)} messages; {changed} changed.")


def register(app: typer.Typer) -> None:
    app.command("import")(import_cmd)
    app.command("list")(list_cmd)
    app.command("show")(show_cmd)
    app.command("stats")(stats_cmd)
    app.command("reparse")(reparse_cmd)
