"""What every command needs: the settings, a migrated database, a console."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import NoReturn

from rich.console import Console

from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.private import private_dir
from beacon.store.tenancy import EVERYONE, UserScope


class CliContext:
    """Built once per invocation by the app callback and handed to commands via ctx.obj."""

    def __init__(self, settings: Settings | None = None, username: str | None = None) -> None:
        self.env = settings or Settings()  # the environment alone
        self.username = username  # --user: whose mail and personal settings
        self.console = Console()
        self.err = Console(stderr=True)

    @cached_property
    def db(self) -> Database:
        private_dir(self.env.data_dir)
        db = Database(self.env.database_url_resolved)
        db.migrate()
        return db

    @cached_property
    def user_id(self) -> int | None:
        """The user commands act for: ``--user``; without it the only user, or nobody while
        there is no user yet. With several users and no ``--user`` a command that needs one
        stops with an error (exit 2)."""
        from sqlalchemy import select

        from beacon.store.schema import User

        with self.db.session() as s:
            if self.username:
                found = s.scalar(select(User.id).where(User.username == self.username))
                if found is None:
                    self._fail(f"no user {self.username!r} (see `beacon user list`)")
                return found
            ids = list(s.scalars(select(User.id).limit(2)))
        if len(ids) > 1:
            self._fail("there are several users: say whose mail with --user NAME")
        return ids[0] if ids else None

    @property
    def scope(self) -> UserScope:
        """Whose data queries see: the user's, or everything while there is no user."""
        return EVERYONE if self.user_id is None else self.user_id

    def _fail(self, message: str) -> NoReturn:
        import typer

        self.err.print(f"[red]error:[/red] {message}")
        raise typer.Exit(2)

    @cached_property
    def settings(self) -> Settings:
        """The settings in force: the environment's, with the ones changed in the web UI and
        the user's personal ones."""
        from beacon.store.app_settings import current_settings

        with self.db.session() as s:
            return current_settings(s, self.env, self.user_id)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic announces every migration at INFO; only interesting with -vv.
    logging.getLogger("alembic").setLevel(logging.WARNING if verbose < 2 else logging.INFO)
