"""IMAP commands: ``beacon account add | list`` and ``beacon sync``."""

from __future__ import annotations

import os

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from beacon.cli.context import CliContext
from beacon.crypto import PasswordCipher
from beacon.imap.accounts import ImapAccountInput, account_statuses, imap_accounts, save_imap_account
from beacon.imap.connection import SECURITY_CHOICES, ImapEndpoint, check_login
from beacon.errors import ImapAuthError, ImapError, InvalidInput
from beacon.imap.folder_sync import FolderResult
from beacon.imap.sync import SyncResult, sync_account

account_app = typer.Typer(help="Mail accounts (IMAP).", no_args_is_help=True)


def _ctx(ctx: typer.Context) -> CliContext:
    return ctx.obj


def _password(password_env: str | None) -> str:
    if password_env:
        value = os.environ.get(password_env)
        if not value:
            raise typer.BadParameter(f"environment variable {password_env} is not set", param_hint="--password-env")
        return value
    return typer.prompt("IMAP password", hide_input=True)


def add_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A name for the account, e.g. work."),
    host: str = typer.Option(..., "--host", help="IMAP server host name."),
    user: str = typer.Option(..., "--user", "-u", help="IMAP login name."),
    security: str = typer.Option("tls", "--security", help="tls (port 993), starttls or none (port 143)."),
    port: int = typer.Option(None, "--port", help="Default: 993 for tls, 143 otherwise."),
    folders: list[str] = typer.Option(["INBOX"], "--folder", "-f", help="Folder to sync; repeat for more."),
    password_env: str = typer.Option(
        None, "--password-env", help="Read the password from this environment variable instead of a prompt."
    ),
    check: bool = typer.Option(True, "--check/--no-check", help="Log in once before saving."),
    archive_folder: str = typer.Option(
        None, "--archive-folder",
        help="Where 'done' moves mail when the server marks no folder \\Archive (created if missing); "
             "without either, done mail keeps a $BeaconDone keyword. '' clears it.",
    ),
) -> None:
    """Add (or update) an IMAP account; the password is stored encrypted."""
    c = _ctx(ctx)
    if security not in SECURITY_CHOICES:
        raise typer.BadParameter(f"choose one of {', '.join(SECURITY_CHOICES)}", param_hint="--security")
    data = ImapAccountInput(
        name=name, host=host, user=user, password=_password(password_env),
        security=security, port=port, folders=tuple(folders),  # type: ignore[arg-type]
        archive_folder=archive_folder,
    )
    try:
        data.validate()
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc)) from exc
    if check:
        _check(c, data)
    with c.db.session() as s:
        try:
            save_imap_account(s, PasswordCipher.from_settings(c.settings), data, c.user_id)
        except InvalidInput as exc:
            c.err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
    c.console.print(
        f"Saved IMAP account [bold]{name}[/bold] ({user} at {host}:{data.resolved_port}, {security}); "
        f"folders: {', '.join(folders)}. Run [bold]beacon sync[/bold] to fetch mail."
    )


def _check(c: CliContext, data: ImapAccountInput) -> None:
    assert data.password is not None
    ep = ImapEndpoint(
        host=data.host, port=data.resolved_port, security=data.security, user=data.user,
        password=data.password, timeout=c.settings.imap_timeout, ca_file=c.settings.imap_ca_file,
    )
    try:
        found = check_login(ep)
    except ImapError as exc:
        c.err.print(f"[red]error:[/red] {exc}")
        c.err.print("Nothing saved (use --no-check to save anyway).")
        raise typer.Exit(1) from exc
    missing = [f for f in data.folders if f not in found]
    if missing:
        c.err.print(f"[yellow]warning:[/yellow] the server has no folder(s) {', '.join(missing)}")


def list_cmd(ctx: typer.Context) -> None:
    """IMAP accounts with their last sync and last error."""
    c = _ctx(ctx)
    with c.db.session() as s:
        statuses = account_statuses(s, c.scope)
    if not statuses:
        c.console.print("No IMAP accounts yet: [bold]beacon account add NAME --host ... --user ...[/bold]")
        return
    t = Table(title="IMAP accounts")
    for col in ("Name", "Server", "User", "Folders (stored / last UID)", "Last sync", "Last error"):
        t.add_column(col, overflow="fold")
    for a in statuses:
        by_name = {f.name: f for f in a.folder_status}
        folders = ", ".join(
            f"{n} ({by_name[n].messages}/{by_name[n].last_uid})" if n in by_name else f"{n} (never)"
            for n in a.folders
        )
        t.add_row(
            a.name,
            f"{a.host}:{a.port} {a.security}",
            a.user,
            folders,
            a.last_sync_at.strftime("%Y-%m-%d %H:%M") if a.last_sync_at else "never",
            f"[red]{a.last_error}[/red]" if a.last_error else "",
        )
    c.console.print(t)


def sync_cmd(
    ctx: typer.Context,
    account: str = typer.Option(None, "--account", "-a", help="Only this account (default: all IMAP accounts)."),
    analyze: bool = typer.Option(True, "--analyze/--no-analyze", help="Analyse new mail afterwards."),
) -> None:
    """Fetch new mail, flags and deletions from IMAP; then analyse the new mail."""
    c = _ctx(ctx)
    with c.db.session() as s:
        ids = {a.name: a.id for a in imap_accounts(s, c.scope)}
    names = list(ids)
    if account is not None:
        if account not in names:
            c.err.print(f"[red]error:[/red] no IMAP account named {account!r}")
            raise typer.Exit(2)
        names = [account]
    if not names:
        c.err.print("No IMAP accounts: add one with [bold]beacon account add[/bold].")
        raise typer.Exit(2)
    cipher = PasswordCipher.from_settings(c.settings)
    results: list[SyncResult] = []
    failed = False
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[stats]}"), TimeElapsedColumn()]
    with Progress(*columns, console=c.err) as progress:
        for name in names:
            task = progress.add_task(name, total=None, stats="connecting…")

            def on_progress(r: SyncResult, fr: FolderResult, task: TaskID = task, name: str = name) -> None:
                # Totals over the folders seen so far: the bar never runs backwards.
                progress.update(
                    task, description=f"{name} · {fr.folder}", total=r.total("pending") or None,
                    completed=r.total("fetched") + r.total("remapped"),
                    stats=f"new {r.total('new')} · reconnects {r.reconnects}",
                )

            try:
                results.append(sync_account(c.db, c.settings, name, cipher=cipher, on_progress=on_progress,
                                            account_id=ids[name]))
            except ImapError as exc:
                failed = True
                kind = "authentication" if isinstance(exc, ImapAuthError) else "sync"
                progress.update(task, stats=f"[red]{kind} failed[/red]")
                c.err.print(f"[red]error:[/red] {name}: {exc}")
    for r in results:
        _print_result(c, r)
    if analyze and any(r.new_email_ids for r in results):
        from beacon.cli.engine import analyze_with_progress  # the engine loads spaCy: only when needed

        analyze_with_progress(c)
    if failed:
        raise typer.Exit(1)


def _print_result(c: CliContext, r: SyncResult) -> None:
    t = Table(title=f"Sync of '{r.account}'")
    for col in ("Folder", "New", "Already stored", "Relinked", "Flag changes", "Gone", "Failed", "Note"):
        t.add_column(col)
    for f in r.folders.values():
        note = f.error or ("UIDVALIDITY changed: resynced" if f.uidvalidity_changed else "")
        t.add_row(f.folder, str(f.new), str(f.existing), str(f.remapped), str(f.flags_changed),
                  str(f.deleted), str(f.failed), note)
    c.console.print(t)
    p = r.push
    if p.actions or p.levels:
        c.console.print(
            f"Written to the server: {p.actions} action(s), {p.stored} message(s) re-flagged, {p.moved} moved, "
            f"{p.levels} level keyword(s); {p.conflicts} conflict(s) won by the server."
        )
    if r.reconnects:
        c.console.print(f"Reconnected {r.reconnects} time(s) after network faults.")


def register(app: typer.Typer) -> None:
    account_app.command("add")(add_cmd)
    account_app.command("list")(list_cmd)
    app.add_typer(account_app, name="account")
    app.command("sync")(sync_cmd)

