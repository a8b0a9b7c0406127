"""The PostgreSQL dialect (psycopg 3), registered by the db_postgres module for `postgres://` URLs.

psycopg's blocking API is used on `PooledDatabase`'s worker threads: the same code then serves
script functions (which wait off the event loop) and start-up, timer and CLI code.
"""

from __future__ import annotations

from typing import Any

import psycopg

from pysips.db.pooled import Dialect, PooledDatabase, PoolSettings
from pysips.db.schema import Column
from pysips.db.url import DbUrl


class PostgresDialect(Dialect):
    name = "postgres"
    quote = '"'

    def connect(self, url: DbUrl, settings: PoolSettings) -> Any:
        timeout_ms = int(settings.timeout_s * 1000)
        return psycopg.connect(
            host=url.host or "localhost", port=url.port or 5432, user=url.user or "",
            password=url.password or "", dbname=url.database, autocommit=True,
            connect_timeout=max(1, round(settings.timeout_s)),
            options=f"-c statement_timeout={timeout_ms}",
        )

    def is_connection_error(self, exc: BaseException, conn: Any) -> bool:
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            # a cancelled (timed out) statement leaves the connection usable
            return bool(getattr(conn, "broken", False) or getattr(conn, "closed", False))
        return isinstance(exc, (ConnectionError, TimeoutError))

    def table_exists_sql(self) -> str:
        return ("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema()"
                " AND table_name = %s")

    def columns_sql(self) -> str:
        return ("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = %s ORDER BY ordinal_position")

    def key_sql(self) -> str:
        return ("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = %s AND column_default LIKE 'nextval%%'")

    def insert_id(self, cursor: Any, table: str, key: str | None) -> int:
        if key is None:
            return 0
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    def column_ddl(self, column: Column) -> str:
        if column.primary_key:
            kind = "BIGSERIAL" if column.sql_type.upper() == "BIGINT" else "SERIAL"
            return f"{self.ident(column.name)} {kind} PRIMARY KEY NOT NULL"
        sql_type = column.sql_type.upper()
        if sql_type.startswith("CHAR("):
            sql_type = "VARCHAR" + sql_type[4:]
        elif sql_type.startswith("TEXT"):
            sql_type = "TEXT"
        elif sql_type.startswith("FLOAT"):
            sql_type = "REAL"
        elif sql_type == "DATETIME":
            sql_type = "TIMESTAMP WITHOUT TIME ZONE"
        text = f"{self.ident(column.name)} {sql_type}"
        if column.default is not None:
            text += f" DEFAULT {column.default}"
        if not column.nullable:
            text += " NOT NULL"
        return text


def open_postgres(url: DbUrl, settings: PoolSettings | None = None) -> PooledDatabase:
    return PooledDatabase(url, PostgresDialect(), settings or SETTINGS)


SETTINGS = PoolSettings(timeout_s=5.0, retries=1)  # the db_postgres module parameters
