"""The embedded SQLite driver (Python's sqlite3), registered by the db_sqlite module.

Statements are built from column names once per shape and cached, so a hot path (usrloc
write-through) pays only for binding values. Identifiers come from module code and the script's
table names, never from SIP messages; they are still checked to be plain names.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from pysips.db.api import (
    DbDateTime,
    DbError,
    DbValue,
    Row,
    Where,
    conditions,
    record_version,
    recorded_version,
)
from pysips.db.schema import VERSION, Table
from pysips.db.url import DbUrl


@dataclass(slots=True)
class SqliteSettings:
    """db_sqlite module parameters, applied to every new connection."""

    busy_timeout_ms: int = 500
    pragmas: list[str] = field(default_factory=list)  # "journal_mode=wal"
    extensions: list[str] = field(default_factory=list)


SETTINGS = SqliteSettings()


def _datetime_text(raw: bytes) -> DbDateTime:
    return DbDateTime(raw.decode("utf-8", "replace"))


# Columns declared with these types come back marked as date/time text (sqlite3 hands converters
# the declared type, case-insensitively; only connections opened with PARSE_DECLTYPES use them).
for _type in ("DATETIME", "DATE", "TIMESTAMP"):
    sqlite3.register_converter(_type, _datetime_text)


def _ident(name: str) -> str:
    """A quoted identifier; table names like "location-internal" are legal in OpenSIPS. Backquotes,
    because SQLite reads an unknown "double-quoted" name as a string literal."""
    if not name or not all(c.isalnum() or c in "_-." for c in name):
        raise DbError(f"bad SQL identifier {name!r}")
    return f"`{name}`"


def _where_sql(where: Where) -> tuple[str, list[DbValue]]:
    parts: list[str] = []
    args: list[DbValue] = []
    for column, op, value in conditions(where):
        col = _ident(column)
        if value is None and op in ("=", "!="):
            parts.append(f"{col} IS {'NOT ' if op == '!=' else ''}NULL")
            continue
        parts.append(f"{col} {op} ?")
        args.append(value)
    return (" WHERE " + " AND ".join(parts)) if parts else "", args


class SqliteDatabase:
    """One connection. Writes outside `transaction()` are committed at once (autocommit)."""

    __slots__ = ("_conn", "_in_transaction", "_statements", "url")

    def __init__(self, url: DbUrl, settings: SqliteSettings | None = None) -> None:
        self.url = url
        opts = settings or SETTINGS
        path = url.database
        if path != ":memory:":
            folder = os.path.dirname(path)
            if folder and not os.path.isdir(folder):
                raise DbError(f"{url}: folder {folder!r} does not exist")
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                         timeout=opts.busy_timeout_ms / 1000.0,
                                         detect_types=sqlite3.PARSE_DECLTYPES)
            for pragma in opts.pragmas:
                name, _, value = pragma.partition("=")
                pname = name.strip()
                if not pname.replace("_", "").isalnum():
                    raise DbError(f"bad PRAGMA name {pname!r}")
                self._conn.execute(f"PRAGMA {pname} = {value.strip()}")
            for ext in opts.extensions:
                self._conn.enable_load_extension(True)
                self._conn.load_extension(ext)
                self._conn.enable_load_extension(False)
        except (sqlite3.Error, AttributeError) as exc:
            raise DbError(f"{url}: cannot open: {exc}") from exc
        self._statements: dict[tuple[str, ...], str] = {}
        self._in_transaction = False

    def _run(self, sql: str, args: Sequence[DbValue] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, args)
        except sqlite3.Error as exc:
            raise DbError(f"{self.url}: {exc} (in {sql.split(' ', 3)[:3]})") from exc

    def query(self, table: str, columns: Sequence[str], where: Where = None,
              order_by: str | None = None) -> list[Row]:
        cols = ", ".join(_ident(c) for c in columns)
        clause, args = _where_sql(where)
        sql = f"SELECT {cols} FROM {_ident(table)}{clause}"
        if order_by:
            sql += f" ORDER BY {_ident(order_by)}"
        return list(self._run(sql, args).fetchall())

    def insert(self, table: str, values: Mapping[str, DbValue]) -> int:
        key = ("insert", table, *values.keys())
        sql = self._statements.get(key)
        if sql is None:
            cols = ", ".join(_ident(c) for c in values)
            marks = ", ".join("?" * len(values))
            sql = self._statements[key] = f"INSERT INTO {_ident(table)} ({cols}) VALUES ({marks})"
        cursor = self._run(sql, list(values.values()))
        return int(cursor.lastrowid or 0)

    def replace(self, table: str, values: Mapping[str, DbValue]) -> None:
        cols = ", ".join(_ident(c) for c in values)
        marks = ", ".join("?" * len(values))
        self._run(f"INSERT OR REPLACE INTO {_ident(table)} ({cols}) VALUES ({marks})", list(values.values()))

    def execute(self, sql: str, args: Sequence[DbValue] = ()) -> tuple[list[str], list[Row]]:
        cursor = self._run(sql, args)
        if cursor.description is None:
            return [], []
        return [str(d[0]) for d in cursor.description], list(cursor.fetchall())

    def update(self, table: str, where: Where, values: Mapping[str, DbValue]) -> int:
        sets = ", ".join(f"{_ident(c)} = ?" for c in values)
        clause, args = _where_sql(where)
        cursor = self._run(f"UPDATE {_ident(table)} SET {sets}{clause}", [*values.values(), *args])
        return int(cursor.rowcount)

    def delete(self, table: str, where: Where = None) -> int:
        clause, args = _where_sql(where)
        return int(self._run(f"DELETE FROM {_ident(table)}{clause}", args).rowcount)

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._transaction("BEGIN")

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[None]:
        if self._in_transaction:
            yield
            return
        self._run(begin)
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._in_transaction = False
            self._run("ROLLBACK")
            raise
        self._in_transaction = False
        self._run("COMMIT")

    def _exists(self, table: str) -> bool:
        rows = self._run("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return rows.fetchone() is not None

    def ensure_table(self, schema: Table, name: str | None = None) -> None:
        table = name or schema.name
        _ident(table)
        # IMMEDIATE: the write lock first. Worker processes starting together each check and
        # create the same tables; two deferred transactions that both read and then write make
        # SQLite answer "database is locked" at once, without waiting out the busy timeout.
        with self._transaction("BEGIN IMMEDIATE"):
            if not self._exists(VERSION.name):
                self._run(VERSION.ddl())
            if self._exists(table):
                return
            self._run(schema.ddl(table))
            record_version(self, table, schema.version)

    def table_version(self, table: str) -> int | None:
        if not self._exists(VERSION.name):
            return None
        return recorded_version(self, table)

    def columns_of(self, table: str) -> list[str]:
        return [str(r[1]) for r in self._run(f"PRAGMA table_info({_ident(table)})").fetchall()]

    def drop_table(self, name: str) -> None:
        self._run(f"DROP TABLE IF EXISTS {_ident(name)}")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()


def open_sqlite(url: DbUrl) -> SqliteDatabase:
    return SqliteDatabase(url)
