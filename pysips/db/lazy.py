"""A module's database connection, opened when first used (so in the worker that uses it, after
the fork, rather than in the parent at load) and closed by the module's destroy."""

from __future__ import annotations

from pysips.db.api import Database, connect
from pysips.db.url import DbUrl


class LazyDatabase:
    __slots__ = ("_db", "url")

    def __init__(self, url: str | DbUrl) -> None:
        self.url = url
        self._db: Database | None = None

    def get(self) -> Database:
        """The connection, opened now if it is not yet (DbError when that fails)."""
        if self._db is None:
            self._db = connect(self.url)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
