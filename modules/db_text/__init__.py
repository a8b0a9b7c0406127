"""db_text: OpenSIPS's flat-file database (module `db_text`), `text:///path/to/folder` URLs.

Loading it makes such URLs usable by every module taking a `db_url` (usrloc, auth_db, acc,
avpops, sqlops's structured functions). The files are OpenSIPS's format; see pysips/db/dbtext.py
for how pysips keeps them current (each write reaches the file at once).
"""

from __future__ import annotations

from pysips.db.api import register_driver
from pysips.db.dbtext import open_text
from pysips.script.exports import ModuleExports, ParamExport, ParamType

# Registered at import: modules that connect in their own init may be loaded in any order.
register_driver("text", open_text)

exports = ModuleExports(
    "db_text",
    params=(
        ParamExport("db_mode", ParamType.INT, 0,
                    doc="kept for compatibility: pysips re-reads a table whose file changed, and "
                        "writes each change at once"),
        ParamExport("buffer_size", ParamType.INT, 4096, doc="kept for compatibility (no line limit)"),
    ),
    doc="flat-file database driver (OpenSIPS's db_text format)",
)
