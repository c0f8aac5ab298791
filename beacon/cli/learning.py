"""``beacon learning show | reset``: what Beacon learned from the reader's actions, and
forgetting it (the ``--user``'s; the only user's when there is one)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from beacon.cli.context import CliContext
from beacon.triage.learning import reset, summary
from beacon.triage.learning.refresh import refresh_learned

learning_app = typer.Typer(help="See and reset what Beacon learned from your actions.", no_args_is_help=True)


def show_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON."),
             limit: int = typer.Option(20, "--limit", min=1, max=500, help="Features to list.")) -> None:
    """The features your model weighs most, with the feedback behind each."""
    c: CliContext = ctx.obj
    with c.db.session() as s:
        view = summary(s, c.user_id, limit=limit)
    if as_json:
        c.console.print_json(json.dumps(view.model_dump(mode="json")))
        return
    if not view.events:
        c.console.print("Nothing learned yet: mark mail important or not important, reply, archive…")
        return
    c.console.print(f"Learned from {view.events} feedback events (last {view.updated_at:%Y-%m-%d %H:%M} UTC).")
    table = Table("mail", "weight", "important", "not important", "feedback")
    for f in view.features:
        table.add_row(f.about, f"{f.weight:+.2f}", str(f.important), str(f.not_important),
                      ", ".join(f"{k} {v}" for k, v in sorted(f.signals.items())))
    c.console.print(table)


def reset_cmd(ctx: typer.Context, yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask.")) -> None:
    """Forget everything learned from your actions; your mail is re-scored without it."""
    c: CliContext = ctx.obj
    if not yes and not typer.confirm("Forget everything Beacon learned from your actions?"):
        raise typer.Exit(1)
    with c.db.session() as s:
        events = reset(s, c.user_id)
        n = refresh_learned(s, c.user_id, None, c.settings)
    c.console.print(f"Forgot {events} feedback events; {n} scores changed.")


def register(app: typer.Typer) -> None:
    learning_app.command("show")(show_cmd)
    learning_app.command("reset")(reset_cmd)
    app.add_typer(learning_app, name="learning")
