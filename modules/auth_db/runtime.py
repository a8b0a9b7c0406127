"""The auth_db runtime of one process: its database connection and settings."""

from __future__ import annotations

import logging

from pysips.db.api import Database, DbError, connect
from pysips.script.context import MsgContext
from pysips.script.module_runtime import module_runtime

from .config import SUBSCRIBER_VERSION, URI_VERSION, AuthDbConfig

log = logging.getLogger("pysips.modules.auth_db")


class AuthDb:
    __slots__ = ("config", "db")

    def __init__(self, config: AuthDbConfig, db: Database) -> None:
        self.config = config
        self.db = db

    @classmethod
    def open(cls, config: AuthDbConfig, tables: dict[str, str]) -> AuthDb:
        """Connects and checks the version of each table the script names (table -> kind)."""
        try:
            db = connect(config.db_url)
        except DbError as exc:
            raise RuntimeError(f"auth_db: {exc}") from None
        if not config.skip_version_check:
            for table, kind in tables.items():
                wanted = SUBSCRIBER_VERSION if kind == "subscriber" else URI_VERSION
                try:
                    found = db.table_version(table)
                except DbError as exc:
                    raise RuntimeError(f"auth_db: {exc}") from None
                if found != wanted:
                    raise RuntimeError(
                        f"auth_db: table {table!r} of {config.db_url} has version {found}, expected"
                        f" {wanted} (set skip_version_check for a custom table)"
                    )
        return cls(config, db)


def auth_db_of(ctx: MsgContext) -> AuthDb:
    return module_runtime(ctx.process, "auth_db", AuthDb)
