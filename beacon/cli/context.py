"""What every command needs: the settings, a migrated database, a console."""

from __future__ import annotations

import logging
from functools import cached_property

from rich.console import Console

from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.private import private_dir


class CliContext:
    """Built once per invocation by the app callback and handed to commands via ctx.obj."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.env = settings or Settings()  # the environment alone
        self.console = Console()
        self.err = Console(stderr=True)

    @cached_property
    def db(self) -> Database:
        private_dir(self.env.data_dir)
        db = Database(self.env.database_url_resolved)
        db.migrate()
        return db

    @cached_property
    def settings(self) -> Settings:
        """The settings in force: the environment's, with the ones changed in the web UI."""
        from beacon.store.app_settings import current_settings

        with self.db.session() as s:
            return current_settings(s, self.env)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic announces every migration at INFO; only interesting with -vv.
    logging.getLogger("alembic").setLevel(logging.WARNING if verbose < 2 else logging.INFO)
