"""db_sqlite: the embedded SQL database (OpenSIPS module `db_sqlite`), on Python's sqlite3.

Loading it makes `sqlite:///path/to/file.db` URLs usable by every module taking a `db_url`.
"""

from __future__ import annotations

from typing import Any

from pysips.db.api import register_driver
from pysips.db.sqlite import SETTINGS, open_sqlite
from pysips.script.errors import FixupError
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType


def _check_pragma(value: Any) -> Any:
    text = str(value)
    name, eq, _ = text.partition("=")
    if not eq or not name.strip().replace("_", "").isalnum():
        raise FixupError(f"exec_pragma expects \"name=value\", got {text!r}")
    return text


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> None:
    SETTINGS.busy_timeout_ms = int(params.get("busy_timeout") or 500)
    SETTINGS.pragmas = [str(p) for p in params.get("exec_pragma") or []]
    SETTINGS.extensions = [str(p) for p in params.get("load_extension") or []]


# Registered at import: modules that connect in their own init may be loaded in any order.
register_driver("sqlite", open_sqlite)

exports = ModuleExports(
    "db_sqlite",
    params=(
        ParamExport("alloc_limit", ParamType.INT, 10, doc="rows fetched per step (kept for compatibility)"),
        ParamExport("busy_timeout", ParamType.INT, 500, doc="milliseconds to wait on a locked database"),
        ParamExport("exec_pragma", ParamType.STR, multi=True, check=_check_pragma,
                    doc="a PRAGMA (\"name=value\") run on every new connection"),
        ParamExport("load_extension", ParamType.STR, multi=True, doc="an SQLite extension to load"),
    ),
    init=_init,
    doc="SQLite database driver",
)
