"""``beacon settings show | set | reset``: the stored settings, without the web.

The same checks as the web's settings form apply (``SettingsUpdate``: a model must load, sizes
and numbers have bounds). Personal settings (addresses, VIPs, thresholds) are the ``--user``'s
(the only user's, when there is one); engine-wide ones are the installation's. ``reset`` is the way back from any stored value: the environment's
applies again. A running ``beacon serve`` reads scoring settings at once; engine settings
take effect when it restarts.
"""

from __future__ import annotations

import json

import typer
from pydantic import ValidationError
from rich.table import Table

from beacon.cli.context import CliContext
from beacon.errors import InvalidSettings
from beacon.store.app_settings import (
    EDITABLE, SettingsUpdate, apply_update, current_settings, load_overrides, reset, stored_problems,
)

settings_app = typer.Typer(help="Show and change the stored settings.", no_args_is_help=True)

_LISTS = {"own_addresses", "vip_senders"}
_JSON = {"priority_weights"}


def show_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The settings in force, where each comes from, and stored values that are ignored."""
    c: CliContext = ctx.obj
    with c.db.session() as s:
        stored = load_overrides(s, c.user_id)
        problems = stored_problems(s, c.user_id)
        settings = current_settings(s, c.env, c.user_id)
    rows = [{"key": k, "value": getattr(settings, k),
             "source": "ignored (environment)" if k in problems else "stored" if k in stored else "environment",
             "problem": problems.get(k)} for k in EDITABLE]
    if as_json:
        c.console.print_json(json.dumps(rows, default=str))
        return
    table = Table("setting", "value", "from", "problem")
    for r in rows:
        table.add_row(r["key"], str(r["value"]), r["source"], r["problem"] or "")
    c.console.print(table)


def set_cmd(
    ctx: typer.Context,
    key: str = typer.Argument(..., help=f"One of: {', '.join(EDITABLE)}."),
    value: str = typer.Argument(..., help="The new value (lists comma separated)."),
) -> None:
    """Store a new value, checked as the web checks it."""
    c: CliContext = ctx.obj
    if key not in EDITABLE:
        c.err.print(f"[red]error:[/red] unknown setting {key!r}; one of: {', '.join(EDITABLE)}")
        raise typer.Exit(2)
    raw: object = [p.strip() for p in value.split(",") if p.strip()] if key in _LISTS else value
    if key in _JSON:
        try:
            raw = json.loads(value)
        except json.JSONDecodeError as exc:
            c.err.print(f"[red]error:[/red] {key}: give a JSON object, like '{{\"vip\": 20}}'")
            raise typer.Exit(2) from exc
    try:
        update = SettingsUpdate.model_validate({key: raw})
        with c.db.session() as s:
            new = apply_update(s, c.env, update, c.user_id)
    except ValidationError as exc:
        c.err.print(f"[red]error:[/red] {key}: {str(exc.errors()[0]['msg']).removeprefix('Value error, ')}")
        raise typer.Exit(2) from exc
    except InvalidSettings as exc:
        c.err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    c.console.print(f"{key} = {getattr(new, key)}")


def reset_cmd(
    ctx: typer.Context,
    keys: list[str] = typer.Argument(None, help="Settings to reset (none: all of them)."),
) -> None:
    """Forget stored values: the environment's apply again."""
    c: CliContext = ctx.obj
    unknown = [k for k in keys or [] if k not in EDITABLE]
    if unknown:
        c.err.print(f"[red]error:[/red] unknown setting(s) {', '.join(unknown)}")
        raise typer.Exit(2)
    with c.db.session() as s:
        gone = reset(s, keys or None, c.user_id)
    c.console.print(f"reset: {', '.join(gone)}" if gone else "nothing stored to reset")


def register(app: typer.Typer) -> None:
    settings_app.command("show")(show_cmd)
    settings_app.command("set")(set_cmd)
    settings_app.command("reset")(reset_cmd)
    app.add_typer(settings_app, name="settings")
