"""The databases of sqlops and avpops: `db_url` may be given several times, each with an optional
numeric id ("1 postgres://..."); functions pick one by `db_id` (default 0)."""

from __future__ import annotations

import logging
from typing import Any

from pysips.db.api import Database, DbError, connect
from pysips.db.url import DbUrlError, parse_db_url
from pysips.script.errors import FixupError

log = logging.getLogger("pysips.db")


def parse_db_urls(values: Any, module: str = "sqlops") -> dict[int, str]:
    """'[1 ]scheme://...' strings -> {id: url}; a bad URL or a repeated id is a load error."""
    urls: dict[int, str] = {}
    items = values if isinstance(values, list) else [values] if values else []
    for item in items:
        text = str(item).strip()
        head, _, rest = text.partition(" ")
        if head.isdigit() and rest.strip():
            db_id, url = int(head), rest.strip()
        else:
            db_id, url = 0, text
        try:
            parse_db_url(url)
        except DbUrlError as exc:
            raise FixupError(f"{module} db_url: {exc}") from None
        if db_id in urls:
            raise FixupError(f"{module} db_url: id {db_id} given twice")
        urls[db_id] = url
    return urls


class DbSet:
    """The connections, opened at start (a server down then is a start error naming the URL)."""

    __slots__ = ("dbs", "module")

    def __init__(self, urls: dict[int, str], module: str = "sqlops") -> None:
        self.module = module
        self.dbs: dict[int, Database] = {}
        for db_id, url in urls.items():
            try:
                self.dbs[db_id] = connect(url)
            except DbError as exc:
                self.close()
                raise RuntimeError(f"{module}: db_url {db_id}: {exc}") from None

    def db(self, db_id: int | None) -> Database | None:
        found = self.dbs.get(db_id or 0)
        if found is None:
            log.error("%s: no db_url with id %s", self.module, db_id or 0)
        return found

    def close(self) -> None:
        for db in self.dbs.values():
            db.close()
        self.dbs.clear()
