"""db_postgres: PostgreSQL (OpenSIPS module `db_postgres`), on psycopg 3 with per-process pools.

Loading it makes `postgres://user:password@host[:port]/database` URLs usable by every module
taking a `db_url`. Statements of script code run on worker threads, the message's script waiting
on them (pysips.db.pooled), so a slow query never holds up other messages.
"""

from __future__ import annotations

from typing import Any

from pysips.db.api import register_driver
from pysips.db.postgres import SETTINGS, open_postgres
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> None:
    SETTINGS.timeout_s = float(params.get("timeout") or 5)
    SETTINGS.pool_size = max(1, int(params.get("pool_size") or 4))


register_driver("postgres", open_postgres)
register_driver("postgresql", open_postgres)

exports = ModuleExports(
    "db_postgres",
    params=(
        ParamExport("exec_query_threshold", ParamType.INT, 0,
                    doc="microseconds after which a query is logged as slow (kept for compatibility)"),
        ParamExport("max_db_queries", ParamType.INT, 2, doc="tries of a query (kept for compatibility)"),
        ParamExport("timeout", ParamType.INT, 5, doc="seconds to connect, and per statement"),
        ParamExport("use_tls", ParamType.INT, 0, doc="TLS to the server (not supported: must be 0)"),
        ParamExport("pool_size", ParamType.INT, 4, doc="connections (and worker threads) per process"),
    ),
    init=_init,
    doc="PostgreSQL database driver",
)
