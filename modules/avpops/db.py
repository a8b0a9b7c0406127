"""avp_db_load/store/delete/query: user preferences and raw queries into AVPs.

The preferences logic is pysips.db.usr_prefs (shared with sqlops's sql_avp_* functions); this
file picks the database by id and turns database failures into -1 with a log line, so the
script goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pysips.db.api import Database, DbError
from pysips.db.avp_results import into_avps
from pysips.db.dbset import DbSet
from pysips.db.usr_prefs import NameSpec, PrefsColumns, Source, delete, load, store
from pysips.script.context import MsgContext
from pysips.script.module_runtime import module_runtime
from pysips.script.pv_base import PVAccessor
from pysips.script.pvparam import compile_param_pv

log = logging.getLogger("pysips.modules.avpops")


class AvpOps:
    """The runtime: the databases by id and the preferences table layout."""

    __slots__ = ("columns", "dbs")

    def __init__(self, dbs: DbSet, columns: PrefsColumns) -> None:
        self.dbs = dbs
        self.columns = columns


def runtime(ctx: MsgContext) -> AvpOps:
    return module_runtime(ctx.process, "avpops", AvpOps)


def _with_db(ctx: MsgContext, db_id: int | None, what: str,
             work: Callable[[Database, PrefsColumns], int]) -> int:
    ops = runtime(ctx)
    db = ops.dbs.db(db_id)
    if db is None:
        return -1
    try:
        return work(db, ops.columns)
    except DbError as exc:
        log.error("avpops: %s failed: %s", what, exc)
        return -1


def w_avp_db_load(ctx: MsgContext, source: Source, name: NameSpec, db_id: int | None = None,
                  prefix: str | None = None) -> int:
    return _with_db(ctx, db_id, "avp_db_load",
                    lambda db, cols: load(ctx, db, cols, source, name, prefix or ""))


def w_avp_db_store(ctx: MsgContext, source: Source, name: NameSpec, db_id: int | None = None) -> int:
    return _with_db(ctx, db_id, "avp_db_store", lambda db, cols: store(ctx, db, cols, source, name))


def w_avp_db_delete(ctx: MsgContext, source: Source, name: NameSpec, db_id: int | None = None) -> int:
    return _with_db(ctx, db_id, "avp_db_delete", lambda db, cols: delete(ctx, db, cols, source, name))


def _default_avps(count: int) -> list[PVAccessor]:
    return [compile_param_pv(f"$avp({i})", "result", None, writable=True) for i in range(1, count + 1)]


def w_avp_db_query(ctx: MsgContext, query: str, targets: list[PVAccessor] | None = None,
                   db_id: int | None = None) -> int:
    """1 done, -2 a query with no row, -1 an error; rows into the AVPs ($avp(1);$avp(2)... by
    default), the first row in front."""
    def work(db: Database, cols: PrefsColumns) -> int:
        names, rows = db.execute(query)
        if not names:
            return 1
        if not rows:
            return -2
        return 1 if into_avps(ctx, rows, targets or _default_avps(len(rows[0]))) else -1
    return _with_db(ctx, db_id, "avp_db_query", work)
