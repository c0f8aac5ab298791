"""Entry point: ``beacon`` and its sub-commands (each group lives in its own module)."""

from __future__ import annotations

import os

import typer

from beacon.cli import engine, imap, inbox, mail, settings, triage, web, worker
from beacon.cli.context import CliContext, setup_logging
from beacon.store.private import PRIVATE_UMASK

app = typer.Typer(
    name="beacon",
    help="Self-hosted email triage: import, analyse and prioritise your mail.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More logging (-v, -vv)."),
    user: str = typer.Option(None, "--user", "-u", envvar="BEACON_USER",
                             help="Whose mail and personal settings (needed once there are several users)."),
) -> None:
    setup_logging(verbose)
    os.umask(PRIVATE_UMASK)  # before any file is made: mail and keys are the owner's alone
    ctx.obj = CliContext(username=user)


mail.register(app)
engine.register(app)
inbox.register(app)
imap.register(app)
settings.register(app)
triage.register(app)
web.register(app)
worker.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
