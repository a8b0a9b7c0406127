"""The database interface modules share (OpenSIPS's db API): rows by column names, no SQL text.

A driver module (db_sqlite, ...) registers a `Driver` for its URL scheme when it is imported;
`connect(url)` then opens a `Database`. Calls are synchronous: SQLite is embedded, and a module
that must not block (usrloc write-back) batches its writes in a timer instead.

Conditions are `{"column": value}` (all equal, `None` meaning IS NULL) or a sequence of
`(column, operator, value)` with operator one of = != < <= > >=.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from pysips.db.schema import VERSION, Table
from pysips.db.url import DbUrl, parse_db_url

DbValue = str | int | float | bytes | None
Row = tuple[DbValue, ...]
Condition = tuple[str, str, DbValue]
Where = Mapping[str, DbValue] | Sequence[Condition] | None

OPERATORS = frozenset(("=", "!=", "<", "<=", ">", ">="))


class DbDateTime(str):
    """A DATE/DATETIME/TIMESTAMP column's value, as the text OpenSIPS writes ('YYYY-MM-DD HH:MM:SS').

    A `str` for every caller; marked so that code which must turn it into what OpenSIPS's own db
    layer makes of it (a time_t: sqlops and avpops results) can tell it from a text column."""

    __slots__ = ()

    def epoch(self) -> int | None:
        """Seconds since the epoch, the text read as local time (as OpenSIPS's db_str2time does)."""
        import time

        text = self.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
            try:
                return int(time.mktime(time.strptime(text[:19], pattern)))
            except (ValueError, OverflowError):
                continue
        return None


class DbError(Exception):
    """A database operation failed (the message says which and why)."""


class Database(Protocol):
    url: DbUrl

    def query(self, table: str, columns: Sequence[str], where: Where = None,
              order_by: str | None = None) -> list[Row]: ...

    def insert(self, table: str, values: Mapping[str, DbValue]) -> int:
        """Returns the new row id (the AUTOINCREMENT key) when the table has one."""
        ...

    def update(self, table: str, where: Where, values: Mapping[str, DbValue]) -> int:
        """Returns the number of rows changed."""
        ...

    def delete(self, table: str, where: Where = None) -> int: ...

    def replace(self, table: str, values: Mapping[str, DbValue]) -> None:
        """Inserts, or replaces the row with the same unique key (MySQL REPLACE; SQLite INSERT OR
        REPLACE). DbError where the server has no such statement (PostgreSQL, as in OpenSIPS)."""
        ...

    def execute(self, sql: str, args: Sequence[DbValue] = ()) -> tuple[list[str], list[Row]]:
        """Raw SQL written by the script's author (sqlops): the column names and rows of a query,
        ([], []) for other statements. `args` are bound to the driver's placeholders."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Groups writes: committed together at exit, rolled back on an exception."""
        ...

    def ensure_table(self, schema: Table, name: str | None = None) -> None:
        """Creates the table (and its `version` row) when missing."""
        ...

    def table_version(self, table: str) -> int | None: ...

    def columns_of(self, table: str) -> list[str]:
        """The column names, [] when the table does not exist."""
        ...

    def drop_table(self, name: str) -> None:
        """Drops the table when it exists (`pysips db drop`)."""
        ...

    def close(self) -> None: ...


Driver = Callable[[DbUrl], Database]

_drivers: dict[str, Driver] = {}
_driver_modules = {"sqlite": "db_sqlite", "mysql": "db_mysql", "postgres": "db_postgres",
                   "postgresql": "db_postgres", "text": "db_text"}


def register_driver(scheme: str, driver: Driver) -> None:
    _drivers[scheme.lower()] = driver


def has_driver(scheme: str) -> bool:
    return scheme.lower() in _drivers


def connect(url: str | DbUrl) -> Database:
    """Opens a connection; DbError naming the module to load when no driver serves the scheme."""
    parsed = parse_db_url(url) if isinstance(url, str) else url
    driver = _drivers.get(parsed.scheme)
    if driver is None:
        module = _driver_modules.get(parsed.scheme, f"db_{parsed.scheme}")
        available = ", ".join(sorted(_drivers)) or "none"
        raise DbError(
            f"no database driver for {parsed.scheme!r} URLs ({parsed}): load the {module} module"
            f" (drivers loaded: {available})"
        )
    return driver(parsed)


def conditions(where: Where) -> Iterator[Condition]:
    """The normalised (column, operator, value) triples of a condition argument."""
    if where is None:
        return
    if isinstance(where, Mapping):
        for column, value in where.items():
            yield column, "=", value
        return
    for column, op, value in where:
        if op not in OPERATORS:
            raise DbError(f"unsupported operator {op!r} on column {column!r}")
        yield column, op, value


def row_dict(columns: Sequence[str], row: Row) -> dict[str, Any]:
    return dict(zip(columns, row, strict=True))


def record_version(db: Database, table: str, version: int) -> None:
    """The table's row in `version`, as OpenSIPS's tools keep it (one row per table; none for a
    schema without a version)."""
    if version:
        db.delete(VERSION.name, {"table_name": table})
        db.insert(VERSION.name, {"table_name": table, "table_version": version})


def recorded_version(db: Database, table: str) -> int | None:
    """The version `version` records for `table` (call it once the version table exists)."""
    rows = db.query(VERSION.name, ("table_version",), {"table_name": table})
    return int(rows[0][0]) if rows and rows[0][0] is not None else None
