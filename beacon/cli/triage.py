"""Acting on mail from the command line: ``beacon done``, ``undone``, ``snooze``, ``mark``, ``undo``.

Each acts for ``--user`` (or BEACON_USER) on their own mail, logs an undoable action (source
``cli``) and prints what it did with the action ids to undo; ``--json`` prints the records.
Exit status 2 for an unknown email or action id and for input that cannot be read, 1 for an
undo refused as the email is now (already undone, or changed since).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from enum import Enum

import typer
from rich.markup import escape
from sqlalchemy.orm import Session

from beacon.cli.context import CliContext
from beacon.errors import Conflict, InvalidInput, NotFound
from beacon.triage.actions import apply_action, undo_action
from beacon.triage.models import Action, ActionOut, ActionRecord, Source
from beacon.triage.when import parse_when

IDS = typer.Argument(..., metavar="ID...", help="Email ids (as `beacon inbox` shows them).")
AS_JSON = typer.Option(False, "--json", help="Print the actions as JSON (for scripts).")


class Mark(str, Enum):
    important = "important"
    not_important = "not-important"
    read = "read"
    unread = "unread"
    replied = "replied"
    clear = "clear-importance"


_MARKS = {Mark.important: Action.IMPORTANT, Mark.not_important: Action.NOT_IMPORTANT, Mark.read: Action.READ,
          Mark.unread: Action.UNREAD, Mark.replied: Action.REPLIED, Mark.clear: Action.CLEAR_IMPORTANCE}


def _run(ctx: typer.Context, work: Callable[[Session, CliContext], list[ActionRecord]], as_json: bool) -> None:
    c: CliContext = ctx.obj
    try:
        with c.db.session() as s:
            records = work(s, c)
    except (NotFound, InvalidInput) as exc:
        c.err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from exc
    except Conflict as exc:
        c.err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc
    now = datetime.now(timezone.utc)
    if as_json:
        out = [{**ActionOut.of(r).model_dump(mode="json"), "state": r.state.out(now).model_dump(mode="json")}
               for r in records]
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
        return
    for r in records:
        what = f"{r.action.value}" + (f" until {r.until.astimezone().strftime('%a %d %b %H:%M')}" if r.until else "")
        verb = "undid" if r.undone_at else "marked"
        tail = "" if r.undone_at else f" (undo: beacon undo {r.id})"
        c.console.print(f"email {r.email_id}: {verb} {what}{tail}", highlight=False)


def _act(ctx: typer.Context, ids: list[int], action: Action, as_json: bool, until: datetime | None = None) -> None:
    _run(ctx, lambda s, c: apply_action(s, c.scope, ids, action, until=until, source=Source.CLI), as_json)


def done_cmd(ctx: typer.Context, ids: list[int] = IDS, as_json: bool = AS_JSON) -> None:
    """Mark emails done (archived): they leave the inbox (`is:done` finds them)."""
    _act(ctx, ids, Action.DONE, as_json)


def undone_cmd(ctx: typer.Context, ids: list[int] = IDS, as_json: bool = AS_JSON) -> None:
    """Bring done emails back to the inbox."""
    _act(ctx, ids, Action.UNDONE, as_json)


def snooze_cmd(
    ctx: typer.Context, ids: list[int] = IDS,
    until: str = typer.Option(..., "--until", "-u", help="When they come back: 2026-12-03T09:00, 2h, 3d, tomorrow, "
                                                           "'tomorrow 9:00', monday, 'monday 8am', tonight, 'next week' "
                                                           "(local time; a day alone means 09:00)."),
    as_json: bool = AS_JSON,
) -> None:
    """Snooze emails: out of the inbox until then, then back on top of it."""
    c: CliContext = ctx.obj
    try:
        when = parse_when(until, datetime.now(timezone.utc), datetime.now().astimezone().tzinfo)
    except InvalidInput as exc:
        c.err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from exc
    _act(ctx, ids, Action.SNOOZE, as_json, until=when)


def unsnooze_cmd(ctx: typer.Context, ids: list[int] = IDS, as_json: bool = AS_JSON) -> None:
    """Wake snoozed emails now."""
    _act(ctx, ids, Action.UNSNOOZE, as_json)


def mark_cmd(
    ctx: typer.Context,
    ids: list[int] = IDS,
    mark: Mark = typer.Argument(..., help="important, not-important, read, unread, replied or clear-importance."),
    as_json: bool = AS_JSON,
) -> None:
    """Mark emails: beacon mark ID... important|not-important|read|unread|replied|clear-importance."""
    _act(ctx, ids, _MARKS[mark], as_json)


def undo_cmd(ctx: typer.Context, action_id: int = typer.Argument(..., metavar="ACTION_ID"),
             as_json: bool = AS_JSON) -> None:
    """Undo an action (its id is printed when it is done, and in --json output)."""
    _run(ctx, lambda s, c: [undo_action(s, c.scope, action_id)], as_json)


def register(app: typer.Typer) -> None:
    app.command("done")(done_cmd)
    app.command("undone")(undone_cmd)
    app.command("snooze")(snooze_cmd)
    app.command("unsnooze")(unsnooze_cmd)
    app.command("mark")(mark_cmd)
    app.command("undo")(undo_cmd)
