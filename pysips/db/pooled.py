"""Client-server SQL databases (MySQL/MariaDB, PostgreSQL) behind the synchronous `Database` API.

Why threads: the drivers (PyMySQL, psycopg) are blocking DB-API drivers, and the `Database` API is
synchronous because its callers are both script functions and start-up/timer code. Inside a
script greenlet a statement runs on a worker thread of this process and the script waits on it
through `pysips.core.suspend.wait()`: only that message waits, the event loop goes on. Outside
script code (module init, MI, timers, the CLI) the statement simply runs in the calling thread.

Per process: connections are opened on demand into a small pool; a pool created before a fork is
left alone in the child (its sockets belong to the parent), which opens its own. A connection that
fails with a connection-level error is discarded and the statement is tried once more on a new
one, so a server restart costs no failed request once the server is back. Values are always bound
as parameters; identifiers come from module code and script parameters and are checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import decimal
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from greenlet import getcurrent

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
from pysips.db.schema import VERSION, Column, Table
from pysips.db.url import DbUrl

log = logging.getLogger("pysips.db")

T = TypeVar("T")


@dataclass(slots=True)
class PoolSettings:
    """Module parameters of db_mysql/db_postgres, applied to new connections."""

    timeout_s: float = 5.0  # connect timeout, and read/write (statement) timeout
    pool_size: int = 4  # connections (and worker threads) per process and URL
    retries: int = 1  # new connections tried after a connection-level failure


class Dialect:
    """What differs between servers: driver calls, quoting, catalog queries, DDL types."""

    name = ""
    quote = '"'
    table_options = ""  # after CREATE TABLE's closing parenthesis (MySQL's storage engine)

    def connect(self, url: DbUrl, settings: PoolSettings) -> Any:
        raise NotImplementedError

    def is_connection_error(self, exc: BaseException, conn: Any) -> bool:
        """True when `conn` is unusable after `exc` (server gone, restarted, network)."""
        raise NotImplementedError

    def table_exists_sql(self) -> str:
        raise NotImplementedError

    def columns_sql(self) -> str:
        raise NotImplementedError

    def insert_id(self, cursor: Any, table: str, key: str | None) -> int:
        raise NotImplementedError

    def column_ddl(self, column: Column) -> str:
        raise NotImplementedError

    def ddl(self, schema: Table, name: str) -> list[str]:
        """CREATE TABLE with the OpenSIPS unique constraints (`<table>_idx<i>`), then the plain
        indexes (`<table>_key<i>`); the column types are the dialect's."""
        parts = [self.column_ddl(c) for c in schema.columns]
        for i, cols in enumerate(schema.unique):
            parts.append(f"CONSTRAINT {self.ident(f'{name}_idx{i}')} UNIQUE"
                         f" ({', '.join(self.ident(c) for c in cols)})")
        body = ",\n    ".join(parts)
        statements = [f"CREATE TABLE {self.ident(name)} (\n    {body}\n){self.table_options}"]
        for i, cols in enumerate(schema.indexes):
            statements.append(f"CREATE INDEX {self.ident(f'{name}_key{i}')} ON {self.ident(name)}"
                              f" ({', '.join(self.ident(c) for c in cols)})")
        return statements

    def replace_verb(self) -> str:
        """The statement that inserts or replaces a row, '' when there is none."""
        return ""

    def key_sql(self) -> str:
        """A query (one table-name parameter) for the auto-increment column, '' if not needed."""
        return ""

    def ident(self, name: str) -> str:
        if not name or not all(c.isalnum() or c in "_-." for c in name):
            raise DbError(f"bad SQL identifier {name!r}")
        return f"{self.quote}{name}{self.quote}"


def _plain(value: Any) -> DbValue:
    """Driver values in the API's types: DATETIME as OpenSIPS writes it, DECIMAL as float."""
    if value is None or isinstance(value, (str, int, float, bytes)):
        return value
    if isinstance(value, datetime.datetime):
        return DbDateTime(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, datetime.date):
        return DbDateTime(value.strftime("%Y-%m-%d"))
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return str(value)


class _Pool:
    """The connections of one process for one URL."""

    def __init__(self, pid: int, size: int) -> None:
        self.pid = pid
        self.idle: list[Any] = []
        self.lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max_workers=max(1, size), thread_name_prefix="pysips-db")


class PooledDatabase:
    """A `Database` on a client-server SQL engine, shared by every caller of one process."""

    def __init__(self, url: DbUrl, dialect: Dialect, settings: PoolSettings) -> None:
        self.url = url
        self.dialect = dialect
        self.settings = settings
        self._pool: _Pool | None = None
        self._pinned: dict[Any, Any] = {}  # greenlet -> connection held by its transaction()
        self._keys: dict[str, str | None] = {}  # table -> auto-increment column
        # fail at start-up, naming the URL, when the server cannot be reached
        self._run(lambda cur: None)

    # ------------------------------------------------------------------ connections

    def _current_pool(self) -> _Pool:
        pool = self._pool
        pid = os.getpid()
        if pool is None or pool.pid != pid:
            # after fork the parent's sockets and threads are not ours: start afresh
            pool = self._pool = _Pool(pid, self.settings.pool_size)
        return pool

    def _acquire(self, pool: _Pool) -> Any:
        with pool.lock:
            if pool.idle:
                return pool.idle.pop()
        try:
            return self.dialect.connect(self.url, self.settings)
        except Exception as exc:
            raise DbError(f"{self.url}: cannot connect: {exc}") from exc

    def _release(self, pool: _Pool, conn: Any) -> None:
        with pool.lock:
            if pool.pid == os.getpid() and len(pool.idle) < self.settings.pool_size:
                pool.idle.append(conn)
                return
        self._discard(conn)

    def _drop_idle(self, pool: _Pool) -> None:
        with pool.lock:
            idle, pool.idle = pool.idle, []
        for conn in idle:
            self._discard(conn)

    @staticmethod
    def _discard(conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.close()

    def _execute_on(self, conn: Any, work: Callable[[Any], T]) -> T:
        with conn.cursor() as cur:
            return work(cur)

    def _blocking(self, work: Callable[[Any], T], pinned: Any) -> T:
        """Runs `work(cursor)` on a pooled (or the transaction's) connection, in this thread."""
        if pinned is not None:
            try:
                return self._execute_on(pinned, work)
            except Exception as exc:
                raise self._error(exc) from exc
        pool = self._current_pool()
        attempts = 1 + max(0, self.settings.retries)
        for attempt in range(attempts):
            conn = self._acquire(pool)
            try:
                result = self._execute_on(conn, work)
            except Exception as exc:
                if self.dialect.is_connection_error(exc, conn):
                    self._discard(conn)
                    # the server went away: the other idle connections are as dead as this one
                    self._drop_idle(pool)
                    if attempt + 1 < attempts:
                        log.warning("%s: connection lost (%s), reconnecting", self.url, exc)
                        continue
                else:
                    self._release(pool, conn)
                raise self._error(exc) from exc
            self._release(pool, conn)
            return result
        raise DbError(f"{self.url}: no connection")  # not reached: the loop returns or raises

    def _error(self, exc: Exception) -> DbError:
        if isinstance(exc, DbError):
            return exc
        return DbError(f"{self.url}: {exc}")

    def _run(self, work: Callable[[Any], T]) -> T:
        """`work(cursor)`; inside script code on a worker thread, the script waiting on it."""
        from pysips.core import suspend  # pysips.core imports the db API: avoid the import cycle

        pinned = self._pinned.get(getcurrent())
        if not suspend.in_script():
            return self._blocking(work, pinned)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._blocking(work, pinned)
        pool = self._current_pool()
        future = loop.run_in_executor(pool.executor, self._blocking, work, pinned)
        try:
            return suspend.wait(future)
        except TimeoutError as exc:
            raise DbError(f"{self.url}: timed out") from exc

    # ------------------------------------------------------------------ SQL

    def _where(self, where: Where) -> tuple[str, list[DbValue]]:
        parts: list[str] = []
        args: list[DbValue] = []
        for column, op, value in conditions(where):
            col = self.dialect.ident(column)
            if value is None and op in ("=", "!="):
                parts.append(f"{col} IS {'NOT ' if op == '!=' else ''}NULL")
                continue
            parts.append(f"{col} {op} %s")
            args.append(value)
        return (" WHERE " + " AND ".join(parts)) if parts else "", args

    def execute(self, sql: str, args: Sequence[DbValue] = ()) -> tuple[list[str], list[Row]]:
        """Raw SQL (sqlops): column names and rows of a query, ([], []) for other statements."""
        def work(cur: Any) -> tuple[list[str], list[Row]]:
            cur.execute(sql, list(args) if args else None)
            if cur.description is None:
                return [], []
            names = [str(d[0]) for d in cur.description]
            return names, [tuple(_plain(v) for v in row) for row in cur.fetchall()]
        return self._run(work)

    def query(self, table: str, columns: Sequence[str], where: Where = None,
              order_by: str | None = None) -> list[Row]:
        q = self.dialect.ident
        clause, args = self._where(where)
        sql = f"SELECT {', '.join(q(c) for c in columns)} FROM {q(table)}{clause}"
        if order_by:
            sql += f" ORDER BY {q(order_by)}"

        def work(cur: Any) -> list[Row]:
            cur.execute(sql, args)
            return [tuple(_plain(v) for v in row) for row in cur.fetchall()]
        return self._run(work)

    def insert(self, table: str, values: Mapping[str, DbValue]) -> int:
        q = self.dialect.ident
        cols = ", ".join(q(c) for c in values)
        marks = ", ".join(["%s"] * len(values))
        key = self._key_of(table)
        sql = f"INSERT INTO {q(table)} ({cols}) VALUES ({marks})"
        if key is not None and self.dialect.name == "postgres":
            sql += f" RETURNING {q(key)}"
        args = list(values.values())

        def work(cur: Any) -> int:
            cur.execute(sql, args)
            return self.dialect.insert_id(cur, table, key)
        return self._run(work)

    def replace(self, table: str, values: Mapping[str, DbValue]) -> None:
        verb = self.dialect.replace_verb()
        if not verb:
            raise DbError(f"{self.url}: the {self.dialect.name} driver has no REPLACE")
        q = self.dialect.ident
        sql = (f"{verb} {q(table)} ({', '.join(q(c) for c in values)})"
               f" VALUES ({', '.join(['%s'] * len(values))})")
        args = list(values.values())
        self._run(lambda cur: cur.execute(sql, args))

    def update(self, table: str, where: Where, values: Mapping[str, DbValue]) -> int:
        q = self.dialect.ident
        sets = ", ".join(f"{q(c)} = %s" for c in values)
        clause, args = self._where(where)
        sql = f"UPDATE {q(table)} SET {sets}{clause}"
        params = [*values.values(), *args]

        def work(cur: Any) -> int:
            cur.execute(sql, params)
            return int(cur.rowcount)
        return self._run(work)

    def delete(self, table: str, where: Where = None) -> int:
        clause, args = self._where(where)
        sql = f"DELETE FROM {self.dialect.ident(table)}{clause}"

        def work(cur: Any) -> int:
            cur.execute(sql, args)
            return int(cur.rowcount)
        return self._run(work)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        me = getcurrent()
        if me in self._pinned:
            yield
            return
        pool = self._current_pool()
        conn = self._run_acquire(pool)
        self._pinned[me] = conn
        ok = False
        try:
            self._run(lambda cur: cur.execute("BEGIN"))
            yield
            ok = True
        finally:
            try:
                self._run(lambda cur: cur.execute("COMMIT" if ok else "ROLLBACK"))
            except DbError:
                del self._pinned[me]
                self._discard(conn)
                if ok:
                    raise
            else:
                del self._pinned[me]
                self._release(pool, conn)

    def _run_acquire(self, pool: _Pool) -> Any:
        """A connection for a transaction; opening one waits off the event loop in script code."""
        from pysips.core import suspend

        if suspend.in_script():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return self._acquire(pool)
            return suspend.wait(loop.run_in_executor(pool.executor, self._acquire, pool))
        return self._acquire(pool)

    def _key_of(self, table: str) -> str | None:
        """The auto-increment column of `table` (its new value is what insert() returns)."""
        if table in self._keys:
            return self._keys[table]
        from pysips.db.schema import TABLES

        known = TABLES.get(table)
        key: str | None = None
        if known is not None:
            key = next((c.name for c in known.columns if c.primary_key), None)
        else:
            key = self._probe_key(table)
        self._keys[table] = key
        return key

    def _probe_key(self, table: str) -> str | None:
        sql = self.dialect.key_sql()
        if not sql:
            return None

        def work(cur: Any) -> str | None:
            cur.execute(sql, [table])
            row = cur.fetchone()
            return str(row[0]) if row else None
        return self._run(work)

    def _exists(self, table: str) -> bool:
        sql = self.dialect.table_exists_sql()

        def work(cur: Any) -> bool:
            cur.execute(sql, [table])
            return cur.fetchone() is not None
        return self._run(work)

    def ensure_table(self, schema: Table, name: str | None = None) -> None:
        table = name or schema.name
        self.dialect.ident(table)
        if not self._exists(VERSION.name):
            for stmt in self.dialect.ddl(VERSION, VERSION.name):
                self.execute(stmt)
        if self._exists(table):
            return
        with self.transaction():
            for stmt in self.dialect.ddl(schema, table):
                self.execute(stmt)
            record_version(self, table, schema.version)

    def drop_table(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.dialect.ident(name)}")

    def table_version(self, table: str) -> int | None:
        if not self._exists(VERSION.name):
            return None
        return recorded_version(self, table)

    def columns_of(self, table: str) -> list[str]:
        sql = self.dialect.columns_sql()

        def work(cur: Any) -> list[str]:
            cur.execute(sql, [table])
            return [str(r[0]) for r in cur.fetchall()]
        return self._run(work)

    def close(self) -> None:
        """destroy: the connections of this process close; the worker threads end."""
        pool, self._pool = self._pool, None
        if pool is None or pool.pid != os.getpid():
            return
        self._drop_idle(pool)
        pool.executor.shutdown(wait=False)
