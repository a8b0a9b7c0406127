"""mysql: the OpenSIPS 1.x name of db_mysql, for old scripts (`loadmodule "mysql.so"`)."""

from __future__ import annotations

from typing import Any

from pysips.db.api import register_driver
from pysips.db.mysql import PARAMS, configure, open_mysql
from pysips.script.exports import ModuleExports, ModuleInitContext


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> None:
    configure(params)


register_driver("mysql", open_mysql)

exports = ModuleExports("mysql", params=PARAMS, init=_init,
                        doc="MySQL/MariaDB database driver (the OpenSIPS 1.x name of db_mysql)")
