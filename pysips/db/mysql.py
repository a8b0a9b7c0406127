"""The MySQL/MariaDB dialect (PyMySQL), registered by the db_mysql module for `mysql://` URLs.

PyMySQL is pure Python and maintained alongside the MySQL protocol's changes; it blocks, so
`PooledDatabase` runs it on worker threads (see pysips.db.pooled for why not an asyncio driver).
"""

from __future__ import annotations

from typing import Any

import pymysql

from pysips.db.pooled import Dialect, PooledDatabase, PoolSettings
from pysips.db.schema import Column
from pysips.db.url import DbUrl
from pysips.script.exports import ParamExport, ParamType

# client errors 2xxx (can't connect, gone away, lost) and server shutdown / killed connection
_CONNECTION_CODES = frozenset((1053, 1927, 2002, 2003, 2006, 2013, 2055, 4031))


class MysqlDialect(Dialect):
    name = "mysql"
    quote = "`"
    table_options = " ENGINE=InnoDB"

    def connect(self, url: DbUrl, settings: PoolSettings) -> Any:
        timeout = max(1, round(settings.timeout_s))
        return pymysql.connect(
            host=url.host or "localhost", port=url.port or 3306, user=url.user or "",
            password=url.password or "", database=url.database, charset="utf8mb4",
            autocommit=True, connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout,
        )

    def is_connection_error(self, exc: BaseException, conn: Any) -> bool:
        if isinstance(exc, pymysql.err.InterfaceError):
            return True
        if isinstance(exc, pymysql.err.OperationalError):
            code = exc.args[0] if exc.args else 0
            return code in _CONNECTION_CODES
        return isinstance(exc, (ConnectionError, TimeoutError))

    def replace_verb(self) -> str:
        return "REPLACE INTO"

    def table_exists_sql(self) -> str:
        return ("SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE()"
                " AND table_name = %s")

    def columns_sql(self) -> str:
        return ("SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE()"
                " AND table_name = %s ORDER BY ordinal_position")

    def insert_id(self, cursor: Any, table: str, key: str | None) -> int:
        return int(cursor.lastrowid or 0)

    def column_ddl(self, column: Column) -> str:
        if column.primary_key:
            kind = "BIGINT" if column.sql_type.upper() == "BIGINT" else "INT"
            return f"{self.ident(column.name)} {kind}(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL"
        sql_type = column.sql_type.upper()
        if sql_type == "INTEGER":
            sql_type = "INT(11)"
        elif sql_type.startswith("TEXT"):
            sql_type = "TEXT"
        text = f"{self.ident(column.name)} {sql_type}"
        if column.default is not None and not sql_type.startswith("TEXT"):
            text += f" DEFAULT {column.default}"
        if not column.nullable:
            text += " NOT NULL"
        return text


def open_mysql(url: DbUrl, settings: PoolSettings | None = None) -> PooledDatabase:
    return PooledDatabase(url, MysqlDialect(), settings or SETTINGS)


# The module parameters (db_mysql, and `mysql`, its 1.x name, share them)
SETTINGS = PoolSettings(timeout_s=2.0, retries=3)

PARAMS = (
    ParamExport("exec_query_threshold", ParamType.INT, 0,
                doc="microseconds after which a query is logged as slow (kept for compatibility)"),
    ParamExport("timeout_interval", ParamType.INT, 2,
                doc="seconds to connect, and to wait for each read or write"),
    ParamExport("max_db_queries", ParamType.INT, 2, doc="tries of a query (kept for compatibility)"),
    ParamExport("max_db_retries", ParamType.INT, 3,
                doc="new connections tried when the connection was lost"),
    ParamExport("ps_max_col_size", ParamType.INT, 1024, doc="kept for compatibility"),
    ParamExport("use_tls", ParamType.INT, 0, doc="TLS to the server (not supported: must be 0)"),
    ParamExport("pool_size", ParamType.INT, 4, doc="connections (and worker threads) per process"),
)


def configure(params: dict[str, Any]) -> None:
    SETTINGS.timeout_s = float(params.get("timeout_interval") or 2)
    SETTINGS.retries = max(0, int(params.get("max_db_retries") or 0))
    SETTINGS.pool_size = max(1, int(params.get("pool_size") or 4))
