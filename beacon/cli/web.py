"""Web commands: ``beacon serve`` (the web app under uvicorn) and ``beacon user add``."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from beacon.cli.context import CliContext, setup_logging
from beacon.errors import NothingToAnalyse, UserError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from beacon.engine.host import EngineFactory
    from beacon.engine.service import EngineService
    from beacon.settings import Settings
    from beacon.store.db import Database

user_app = typer.Typer(help="Manage the web app's login users.", no_args_is_help=True)


def _ctx(ctx: typer.Context) -> CliContext:
    if ctx.obj is None:  # run as ``python -m beacon.cli.web`` without the main callback
        ctx.obj = CliContext()
    return ctx.obj


def serve_cmd(
    ctx: typer.Context,
    host: str = typer.Option(None, "--host", help="Address to listen on (default: settings, 127.0.0.1)."),
    port: int = typer.Option(None, "--port", "-p", help="Port (default: settings, 8000)."),
    demo: bool = typer.Option(False, "--demo", help="Import and analyse the bundled demo mailbox first."),
    analyze: bool = typer.Option(True, "--analyze/--no-analyze", help="Run the analysis engine in this server."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn and Beacon log level."),
) -> None:
    """Run the web app: inbox, API, live progress, metrics (Ctrl-C stops it)."""
    import logging

    import uvicorn

    from beacon.web.app import create_app, request_grace
    from beacon.web.runtime import engine_factory, ensure_user, scheduler_factory, setup_demo, uvicorn_options
    from beacon.store.app_settings import current_settings

    c = _ctx(ctx)
    setup_logging(1)
    logging.getLogger("beacon").setLevel(log_level.upper())
    # The environment is the base; the app applies the web-changed settings on top itself.
    env = c.env.model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v})
    db = c.db  # migrated
    engine = None
    if demo:
        d = setup_demo(db, env)
        c.err.print(f"Demo mailbox: {d.imported} imported, {d.duplicates} already stored.")
        if analyze:
            engine = _analyse_demo(c, db, env, engine_factory())
    first = ensure_user(db, demo=demo)
    app = create_app(
        env, db,
        engine_factory=engine_factory() if analyze else None,
        scheduler_factory=scheduler_factory(),
        engine=engine,
    )
    url = f"http://{env.host}:{env.port}/"
    c.console.print(f"\n[bold green]Beacon is running at {url}[/bold green]", soft_wrap=True)
    if first is not None:
        c.console.print(f"Log in as [bold]{first.username}[/bold] with password [bold]{first.password}[/bold]"
                        + ("" if demo else "  (shown once; change it with `beacon user passwd`)"))
    else:
        c.console.print("Log in with your Beacon user (`beacon user add NAME` makes one).")
    with db.session() as s:
        settings = current_settings(s, env)
    c.console.print(f"API docs at {url}docs · metrics at {url}metrics · engine mode {settings.nlp_mode}\n",
                    soft_wrap=True)
    # SIGTERM: stop accepting, answer the requests in flight (SSE streams send their last
    # event), then the lifespan stops the engine; all within ``shutdown_timeout``.
    uvicorn.run(app, host=env.host, port=env.port, log_level=log_level, access_log=False,
                timeout_graceful_shutdown=max(1, int(request_grace(env))),
                **uvicorn_options(env))  # type: ignore[arg-type]


def _analyse_demo(c: CliContext, db: Database, env: Settings, factory: EngineFactory) -> EngineService:
    """Analyse the demo mail before serving, so the first page shows a finished inbox."""
    from beacon.store.app_settings import current_settings

    with db.session() as s:
        settings = current_settings(s, env)
    engine = factory(settings, db)
    engine.start()
    queued = engine.enqueue_missing()
    if queued == 0:
        c.err.print("Demo mailbox already analysed.")
        return engine
    c.err.print(f"Analysing {queued} demo emails ({settings.nlp_mode} mode)…")
    try:
        summary = engine.run()
    except NothingToAnalyse:
        c.err.print("Demo mailbox already analysed.")
        return engine
    c.err.print(f"Analysis {summary.status}: {summary.done} done, {summary.quarantined} quarantined "
                f"in {summary.elapsed:.1f}s.")
    return engine


def user_add_cmd(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="Login name."),
    password: str = typer.Option(None, "--password", help="Password (prompted when omitted; avoid on shared machines)."),
    admin: bool = typer.Option(None, "--admin/--no-admin", help="An admin (default: only the first user is)."),
) -> None:
    """Create a login user for the web app (password hashed with argon2id)."""
    from beacon.web.auth import create_user

    c = _ctx(ctx)
    if password is None:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            c.err.print("[red]error:[/red] the passwords differ")
            raise typer.Exit(2)
    _change_user(c, lambda s, n, p: create_user(s, n, p, admin=admin), username, password)
    c.console.print(f"User [bold]{username}[/bold] created.")


def user_passwd_cmd(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="Login name."),
    password: str = typer.Option(None, "--password", help="New password (prompted when omitted)."),
) -> None:
    """Set a new password for a web user."""
    from beacon.web.auth import set_password

    c = _ctx(ctx)
    if password is None:
        password = getpass.getpass("New password: ")
    _change_user(c, set_password, username, password)
    c.console.print(f"Password of [bold]{username}[/bold] changed; their existing web sessions are logged out.")


def _change_user(c: CliContext, change: Callable[[Session, str, str], object], username: str, password: str) -> None:
    try:
        with c.db.session() as s:
            change(s, username, password)
    except UserError as exc:
        c.err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def user_list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every user, their role and whether they may log in."""
    import json

    from rich.table import Table

    from beacon.web.auth import list_users

    c = _ctx(ctx)
    with c.db.session() as s:
        rows = [{"id": u.id, "username": u.username, "admin": u.is_admin, "disabled": u.disabled,
                 "created_at": u.created_at.isoformat()} for u in list_users(s)]
    if as_json:
        c.console.print_json(json.dumps(rows))
        return
    table = Table("id", "user", "role", "state", "created")
    for r in rows:
        table.add_row(str(r["id"]), r["username"], "admin" if r["admin"] else "user",
                      "disabled" if r["disabled"] else "active", r["created_at"][:16])
    c.console.print(table)


def _user_change(ctx: typer.Context, username: str, change: Callable[[Session, str], object], done: str) -> None:
    c = _ctx(ctx)
    try:
        with c.db.session() as s:
            change(s, username)
    except UserError as exc:
        c.err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    c.console.print(done.format(username=username))


_NAME = typer.Argument(..., help="Login name.")


def user_disable_cmd(ctx: typer.Context, username: str = _NAME) -> None:
    """Disable a user: no login, and every session of theirs ends at once."""
    from beacon.web.auth import set_disabled

    _user_change(ctx, username, lambda s, n: set_disabled(s, n, True), "User [bold]{username}[/bold] disabled.")


def user_enable_cmd(ctx: typer.Context, username: str = _NAME) -> None:
    """Let a disabled user log in again."""
    from beacon.web.auth import set_disabled

    _user_change(ctx, username, lambda s, n: set_disabled(s, n, False), "User [bold]{username}[/bold] enabled.")


def user_promote_cmd(ctx: typer.Context, username: str = _NAME) -> None:
    """Make a user an admin (users, engine-wide settings, imports from the server's disk)."""
    from beacon.web.auth import set_admin

    _user_change(ctx, username, lambda s, n: set_admin(s, n, True), "User [bold]{username}[/bold] is an admin.")


def user_demote_cmd(ctx: typer.Context, username: str = _NAME) -> None:
    """Take admin rights away (never from the last admin)."""
    from beacon.web.auth import set_admin

    _user_change(ctx, username, lambda s, n: set_admin(s, n, False), "User [bold]{username}[/bold] is no admin.")


def user_delete_cmd(
    ctx: typer.Context, username: str = _NAME,
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete a user and everything they own: accounts, mail, analyses, jobs, settings."""
    from beacon.web.auth import delete_user

    if not yes and not typer.confirm(f"Delete {username} and all their mail?"):
        raise typer.Exit(1)
    _user_change(ctx, username, delete_user, "User [bold]{username}[/bold] and their mail deleted.")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
    user_app.command("add")(user_add_cmd)
    user_app.command("passwd")(user_passwd_cmd)
    user_app.command("list")(user_list_cmd)
    user_app.command("disable")(user_disable_cmd)
    user_app.command("enable")(user_enable_cmd)
    user_app.command("promote")(user_promote_cmd)
    user_app.command("demote")(user_demote_cmd)
    user_app.command("delete")(user_delete_cmd)
    app.add_typer(user_app, name="user")


if __name__ == "__main__":  # ``python -m beacon.cli.web serve`` before main.py registers us
    standalone = typer.Typer(no_args_is_help=True)

    @standalone.callback()
    def _main(ctx: typer.Context, verbose: int = typer.Option(0, "--verbose", "-v", count=True)) -> None:
        import os

        from beacon.store.private import PRIVATE_UMASK

        setup_logging(verbose)
        os.umask(PRIVATE_UMASK)
        ctx.obj = CliContext()

    register(standalone)
    standalone()
