"""`pysips db create|drop URL`: the OpenSIPS 3.6 tables in MySQL, PostgreSQL or SQLite.

Like `opensips-cli -x database create`, it creates the `version` table and the tables of the
standard modules with their `version` rows; tables that exist already are left as they are, so an
existing OpenSIPS database is used unchanged. The database itself (and its user) must exist: that
takes the server's administrator, which pysips never asks for.
"""

from __future__ import annotations

from collections.abc import Sequence

from pysips.db.api import Database, DbError
from pysips.db.schema import MODULE_TABLES, VERSION, Table
from pysips.db.url import DbUrl, parse_db_url


def open_url(text: str) -> Database:
    """A connection without loading a script module: the driver is chosen by the URL's scheme."""
    url: DbUrl = parse_db_url(text)
    if url.scheme == "sqlite":
        from pysips.db.sqlite import open_sqlite

        return open_sqlite(url)
    if url.scheme == "mysql":
        from pysips.db.mysql import open_mysql

        return open_mysql(url)
    if url.scheme == "text":
        from pysips.db.dbtext import open_text

        return open_text(url)
    if url.scheme in ("postgres", "postgresql"):
        from pysips.db.postgres import open_postgres

        return open_postgres(url)
    raise DbError(f"no database driver for {url.scheme!r} URLs ({url})")


def tables_of(modules: Sequence[str]) -> list[Table]:
    """The tables of the named modules (all known ones when none is named)."""
    names = list(modules) or list(MODULE_TABLES)
    unknown = [m for m in names if m not in MODULE_TABLES]
    if unknown:
        raise DbError(f"no tables known for {', '.join(unknown)} (known: {', '.join(MODULE_TABLES)})")
    # avpops and sqlops share usr_preferences: each table once
    return list({table.name: table for m in names for table in MODULE_TABLES[m]}.values())


def create(db: Database, modules: Sequence[str] = ()) -> list[str]:
    """Creates the missing tables; returns the names of those it created."""
    created = []
    for table in tables_of(modules):
        existed = table.name in _existing(db)
        db.ensure_table(table)
        if not existed:
            created.append(table.name)
    return created


def drop(db: Database, modules: Sequence[str] = ()) -> list[str]:
    """Drops the tables of the modules and their `version` rows (all of them: `version` too)."""
    dropped = []
    present = _existing(db)
    for table in tables_of(modules):
        if table.name in present:
            db.drop_table(table.name)
            dropped.append(table.name)
        if VERSION.name in present:
            db.delete(VERSION.name, {"table_name": table.name})
    if not modules and VERSION.name in present:
        db.drop_table(VERSION.name)
        dropped.append(VERSION.name)
    return dropped


def _existing(db: Database) -> set[str]:
    return {name for name in [VERSION.name, *(t.name for ts in MODULE_TABLES.values() for t in ts)]
            if db.columns_of(name)}
