"""db_mysql: MySQL and MariaDB (OpenSIPS module `db_mysql`), on PyMySQL with per-process pools.

Loading it makes `mysql://user:password@host[:port]/database` URLs usable by every module taking
a `db_url`. Statements of script code run on worker threads, the message's script waiting on them
(pysips.db.pooled), so a slow query never holds up other messages.
"""

from __future__ import annotations

from typing import Any

from pysips.db.api import register_driver
from pysips.db.mysql import PARAMS, configure, open_mysql
from pysips.script.exports import ModuleExports, ModuleInitContext


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> None:
    configure(params)


# Registered at import: modules that connect in their own init may be loaded in any order.
register_driver("mysql", open_mysql)

exports = ModuleExports("db_mysql", params=PARAMS, init=_init, doc="MySQL/MariaDB database driver")
