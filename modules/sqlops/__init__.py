"""sqlops: SQL from the script (OpenSIPS module `sqlops`): raw queries and structured
select/update/insert/delete/replace, results into AVPs or variables, several databases by id.

Return codes as OpenSIPS 3.6: 1 success, -2 a query that returned no row, -1 any error (logged).
The statements run through pysips.db, so on MySQL/PostgreSQL only the calling message waits.
sql_avp_load/store/delete keep user preferences in `usr_preferences` (pysips.db.usr_prefs, shared
with 2.x avpops's avp_db_* functions).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pysips.db.api import Database, DbError, Row
from pysips.db.avp_results import into_avps, into_vars, split_pv_list
from pysips.db.dbset import DbSet, parse_db_urls
from pysips.db.usr_prefs import NameSpec, PrefsColumns, Source, parse_name, parse_source
from pysips.db.usr_prefs import delete as prefs_delete
from pysips.db.usr_prefs import load as prefs_load
from pysips.db.usr_prefs import store as prefs_store
from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
)
from pysips.script.module_runtime import module_runtime
from pysips.script.pv_base import PVAccessor
from pysips.script.pvparam import compile_param_pv

from . import filters

log = logging.getLogger("pysips.modules.sqlops")

NO_ROWS = -2


class SqlOps:
    """The runtime: the databases by id and the user preferences table layout."""

    __slots__ = ("columns", "dbs")

    def __init__(self, dbs: DbSet, columns: PrefsColumns) -> None:
        self.dbs = dbs
        self.columns = columns


def _runtime(ctx: MsgContext) -> SqlOps:
    return module_runtime(ctx.process, "sqlops", SqlOps)


def _ops(ctx: MsgContext) -> DbSet:
    return _runtime(ctx).dbs


def _targets(value: Any, fctx: FixupContext) -> list[PVAccessor]:
    """'$avp(a);$var(b)' -> writable accessors (a load error names a bad one)."""
    names = split_pv_list(str(value))
    if not names:
        raise FixupError("no result variable given")
    return [compile_param_pv(n, "sqlops result variable", None, writable=True) for n in names]


def _default_avps(count: int) -> list[PVAccessor]:
    return [compile_param_pv(f"$avp({i})", "sqlops result", None, writable=True) for i in range(1, count + 1)]


def _run(ctx: MsgContext, db_id: int | None, what: str, work: Any) -> Any:
    db = _ops(ctx).db(db_id)
    if db is None:
        return None
    try:
        return work(db)
    except DbError as exc:
        log.error("sqlops: %s failed: %s", what, exc)
        return None


def _store(ctx: MsgContext, rows: list[Row] | None, targets: Sequence[PVAccessor] | None, one: bool) -> int:
    if rows is None:
        return -1
    if not rows:
        return NO_ROWS
    if one:
        return 1 if into_vars(ctx, rows[0], targets or []) else -1
    width = len(rows[0])
    return 1 if into_avps(ctx, rows, targets or _default_avps(width)) else -1


def _raw(ctx: MsgContext, query: str, targets: list[PVAccessor] | None, db_id: int | None, one: bool) -> int:
    found = _run(ctx, db_id, "query", lambda db: db.execute(query))
    if found is None:
        return -1
    names, rows = found
    if not names:
        return 1  # not a SELECT: done
    return _store(ctx, rows, targets, one)


def w_sql_query(ctx: MsgContext, query: str, targets: list[PVAccessor] | None = None,
                db_id: int | None = None) -> int:
    return _raw(ctx, query, targets, db_id, one=False)


def w_sql_query_one(ctx: MsgContext, query: str, targets: list[PVAccessor] | None = None,
                    db_id: int | None = None) -> int:
    return _raw(ctx, query, targets, db_id, one=True)


def _select(ctx: MsgContext, cols: str | None, table: str, where: str | None, order: str | None,
            targets: list[PVAccessor] | None, db_id: int | None, one: bool) -> int:
    def work(db: Database) -> list[Row]:
        names = filters.columns(cols) if cols else db.columns_of(table)
        if not names:
            raise DbError(f"table {table!r} has no columns (does it exist?)")
        return db.query(table, names, filters.where(where), order_by=order or None)
    return _store(ctx, _run(ctx, db_id, f"select from {table}", work), targets, one)


def w_sql_select(ctx: MsgContext, cols: str | None, table: str, where: str | None = None,
                 order: str | None = None, targets: list[PVAccessor] | None = None,
                 db_id: int | None = None) -> int:
    return _select(ctx, cols, table, where, order, targets, db_id, one=False)


def w_sql_select_one(ctx: MsgContext, cols: str | None, table: str, where: str | None = None,
                     order: str | None = None, targets: list[PVAccessor] | None = None,
                     db_id: int | None = None) -> int:
    return _select(ctx, cols, table, where, order, targets, db_id, one=True)


def w_sql_update(ctx: MsgContext, cols: str, table: str, where: str | None = None,
                 db_id: int | None = None) -> int:
    done = _run(ctx, db_id, f"update of {table}",
                lambda db: db.update(table, filters.where(where), filters.pairs(cols, "columns")))
    return -1 if done is None else 1


def w_sql_insert(ctx: MsgContext, table: str, cols: str, db_id: int | None = None) -> int:
    done = _run(ctx, db_id, f"insert into {table}",
                lambda db: db.insert(table, filters.pairs(cols, "columns")))
    return -1 if done is None else 1


def w_sql_replace(ctx: MsgContext, table: str, cols: str, db_id: int | None = None) -> int:
    def work(db: Database) -> bool:
        db.replace(table, filters.pairs(cols, "columns"))
        return True
    return 1 if _run(ctx, db_id, f"replace into {table}", work) else -1


def w_sql_delete(ctx: MsgContext, table: str, where: str | None = None, db_id: int | None = None) -> int:
    done = _run(ctx, db_id, f"delete from {table}", lambda db: db.delete(table, filters.where(where)))
    return -1 if done is None else 1


def w_sql_avp_load(ctx: MsgContext, source: Source, name: NameSpec, db_id: int | None = None,
                   prefix: str | None = None) -> int:
    cols = _runtime(ctx).columns
    found = _run(ctx, db_id, "sql_avp_load", lambda db: prefs_load(ctx, db, cols, source, name, prefix or ""))
    return -1 if found is None else int(found)


def w_sql_avp_store(ctx: MsgContext, source: Source, name: NameSpec, db_id: int | None = None) -> int:
    cols = _runtime(ctx).columns
    found = _run(ctx, db_id, "sql_avp_store", lambda db: prefs_store(ctx, db, cols, source, name))
    return -1 if found is None else int(found)


def w_sql_avp_delete(ctx: MsgContext, source: Source, name: NameSpec, db_id: int | None = None) -> int:
    cols = _runtime(ctx).columns
    found = _run(ctx, db_id, "sql_avp_delete", lambda db: prefs_delete(ctx, db, cols, source, name))
    return -1 if found is None else int(found)


def _check_urls(value: Any) -> Any:
    parse_db_urls([value])
    return value


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> SqlOps:
    return SqlOps(DbSet(parse_db_urls(params.get("db_url") or [])),
                  PrefsColumns.from_params(params, "usr_table"))


def _destroy(runtime: object) -> None:
    if isinstance(runtime, SqlOps):
        runtime.dbs.close()


_ANY = RouteType.ALL
_QUERY = ArgSpec(ArgKind.STR, "query")
_TARGETS = ArgSpec(ArgKind.STR, "res_col_avps", optional=True, static=True, raw=True, fixup=_targets)
_DB_ID = ArgSpec(ArgKind.INT, "db_id", optional=True)
_TABLE = ArgSpec(ArgKind.STR, "table")
_FILTER = ArgSpec(ArgKind.STR, "filter", optional=True)
_COLS_OPT = ArgSpec(ArgKind.STR, "columns", optional=True)
_COLS = ArgSpec(ArgKind.STR, "columns")
_ORDER = ArgSpec(ArgKind.STR, "order", optional=True)
_SOURCE = ArgSpec(ArgKind.STR, "source", static=True, raw=True, fixup=parse_source)
_NAME = ArgSpec(ArgKind.STR, "name", static=True, raw=True, fixup=parse_name)
_PREFIX = ArgSpec(ArgKind.STR, "prefix", optional=True)
_AVPS = "stores the rows into AVPs; 1, -2 no row, -1 error"

exports = ModuleExports(
    "sqlops",
    params=(
        ParamExport("db_url", ParamType.STR, multi=True, check=_check_urls,
                    doc="a database URL, optionally preceded by its numeric id (\"1 mysql://...\")"),
        ParamExport("usr_table", ParamType.STR, "usr_preferences", doc="user preferences table (sql_avp_*)"),
        ParamExport("use_domain", ParamType.INT, 0, doc="match the domain too in sql_avp_* operations"),
        ParamExport("uuid_column", ParamType.STR, "uuid"),
        ParamExport("username_column", ParamType.STR, "username"),
        ParamExport("domain_column", ParamType.STR, "domain"),
        ParamExport("attribute_column", ParamType.STR, "attribute"),
        ParamExport("value_column", ParamType.STR, "value"),
        ParamExport("type_column", ParamType.STR, "type"),
        ParamExport("ps_id_max_buf_len", ParamType.INT, 1024, doc="kept for compatibility"),
        ParamExport("bigint_to_str", ParamType.INT, 0, doc="kept for compatibility (integers are exact)"),
    ),
    functions=(
        FunctionExport("sql_avp_load", w_sql_avp_load, (_SOURCE, _NAME, _DB_ID, _PREFIX), _ANY,
                       doc="loads user preferences into AVPs; 1 when one was loaded"),
        FunctionExport("sql_avp_store", w_sql_avp_store, (_SOURCE, _NAME, _DB_ID), _ANY,
                       doc="stores AVPs as user preferences"),
        FunctionExport("sql_avp_delete", w_sql_avp_delete, (_SOURCE, _NAME, _DB_ID), _ANY,
                       doc="deletes user preferences"),
        FunctionExport("sql_query", w_sql_query, (_QUERY, _TARGETS, _DB_ID), _ANY,
                       doc=f"a raw SQL statement; {_AVPS}"),
        FunctionExport("sql_query_one", w_sql_query_one, (_QUERY, _TARGETS, _DB_ID), _ANY,
                       doc="a raw SQL query; its first row into the variables"),
        FunctionExport("sql_select", w_sql_select, (_COLS_OPT, _TABLE, _FILTER, _ORDER, _TARGETS, _DB_ID),
                       _ANY, doc=f"a structured SELECT (JSON columns and filter); {_AVPS}"),
        FunctionExport("sql_select_one", w_sql_select_one,
                       (_COLS_OPT, _TABLE, _FILTER, _ORDER, _TARGETS, _DB_ID), _ANY,
                       doc="a structured SELECT; its first row into the variables"),
        FunctionExport("sql_update", w_sql_update, (_COLS, _TABLE, _FILTER, _DB_ID), _ANY,
                       doc="a structured UPDATE (JSON column values and filter)"),
        FunctionExport("sql_insert", w_sql_insert, (_TABLE, _COLS, _DB_ID), _ANY,
                       doc="a structured INSERT (JSON column values)"),
        FunctionExport("sql_replace", w_sql_replace, (_TABLE, _COLS, _DB_ID), _ANY,
                       doc="a structured REPLACE (MySQL, SQLite; not PostgreSQL)"),
        FunctionExport("sql_delete", w_sql_delete, (_TABLE, _FILTER, _DB_ID), _ANY,
                       doc="a structured DELETE (JSON filter)"),
    ),
    init=_init,
    destroy=_destroy,
    doc="SQL operations from the script",
)
