"""avpops: OpenSIPS 2.x's AVP operations module (kept, shrinking, up to 3.4). OpenSIPS 3.6 has
no avpops: its database functions live on in sqlops (sql_avp_load/store/delete, sql_query) and
the others gave way to script assignments and transformations. 2.x scripts still load it, so
pysips keeps it (and `pysips -c` says it is a 2.x module).

User preferences come from `usr_preferences` (OpenSIPS's layout), through pysips.db: values are
bound as parameters, and on MySQL/PostgreSQL only the calling message waits for the server.
"""

from __future__ import annotations

from typing import Any

from pysips.db.avp_results import split_pv_list
from pysips.db.dbset import DbSet, parse_db_urls
from pysips.db.usr_prefs import PrefsColumns, parse_name, parse_source
from pysips.script.context import RouteType
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
    check_bool,
)
from pysips.script.pv_base import PVAccessor
from pysips.script.pvparam import compile_param_pv

from . import ops
from .db import AvpOps, w_avp_db_delete, w_avp_db_load, w_avp_db_query, w_avp_db_store


def _check_urls(value: Any) -> Any:
    parse_db_urls([value], "avpops")
    return value


def _no_scheme(value: Any) -> Any:
    raise FixupError("db_scheme (reading other table layouts into AVPs) is not supported by pysips; "
                     "use avp_db_query() or sqlops's sql_select() instead")


def _targets(value: Any, fctx: FixupContext) -> list[PVAccessor] | None:
    names = split_pv_list(str(value))
    if not names:
        return None
    return [compile_param_pv(n, "avp_db_query result", None, writable=True) for n in names]


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> AvpOps:
    return AvpOps(DbSet(parse_db_urls(params.get("db_url") or [], "avpops"), "avpops"),
                  PrefsColumns.from_params(params, "avp_table"))


def _destroy(runtime: object) -> None:
    if isinstance(runtime, AvpOps):
        runtime.dbs.close()


def _raw(name: str, fixup: Any, optional: bool = False) -> ArgSpec:
    return ArgSpec(ArgKind.STR, name, optional=optional, static=True, raw=True, fixup=fixup)


_ANY = RouteType.ALL
_SOURCE = _raw("source", parse_source)
_NAME = _raw("name", parse_name)
_DB_ID = ArgSpec(ArgKind.INT, "db_id", optional=True)
_LEGACY = ("avpops is an OpenSIPS 2.x module (kept up to 3.4) that OpenSIPS 3.6 no longer has: its "
           "avp_db_* functions are sqlops's sql_avp_load/store/delete and sql_query there, and the "
           "other avp_* functions are script assignments and transformations; pysips still runs them")

exports = ModuleExports(
    "avpops",
    params=(
        ParamExport("db_url", ParamType.STR, multi=True, check=_check_urls,
                    doc="a database URL, optionally preceded by its numeric id (\"1 mysql://...\")"),
        ParamExport("avp_table", ParamType.STR, "usr_preferences", doc="the user preferences table"),
        ParamExport("use_domain", ParamType.INT, 0, check=check_bool,
                    doc="match the domain too when the source is a URI"),
        ParamExport("uuid_column", ParamType.STR, "uuid"),
        ParamExport("username_column", ParamType.STR, "username"),
        ParamExport("domain_column", ParamType.STR, "domain"),
        ParamExport("attribute_column", ParamType.STR, "attribute"),
        ParamExport("value_column", ParamType.STR, "value"),
        ParamExport("type_column", ParamType.STR, "type"),
        ParamExport("db_scheme", ParamType.STR, multi=True, check=_no_scheme, doc="not supported"),
        ParamExport("buf_size", ParamType.INT, 1024, doc="kept for compatibility"),
    ),
    functions=(
        FunctionExport("avp_db_load", w_avp_db_load,
                       (_SOURCE, _NAME, _DB_ID, ArgSpec(ArgKind.STR, "prefix", optional=True)), _ANY,
                       doc="loads the source's preferences into AVPs; 1 when one was loaded"),
        FunctionExport("avp_db_store", w_avp_db_store, (_SOURCE, _NAME, _DB_ID), _ANY,
                       doc="stores AVPs as the source's preferences"),
        FunctionExport("avp_db_delete", w_avp_db_delete, (_SOURCE, _NAME, _DB_ID), _ANY,
                       doc="deletes the source's preferences"),
        FunctionExport("avp_db_query", w_avp_db_query,
                       (ArgSpec(ArgKind.STR, "query"), _raw("dest", _targets, optional=True), _DB_ID), _ANY,
                       doc="a raw SQL statement, rows into AVPs; 1, -2 no row, -1 error",
                       async_capable=True),
        FunctionExport("avp_printf", ops.w_avp_printf,
                       (_raw("dest", ops.fix_writable_pv), ArgSpec(ArgKind.STR, "format")), _ANY,
                       doc="adds the formatted text to the destination AVP"),
        FunctionExport("avp_subst", ops.w_avp_subst,
                       (_raw("avps", ops.fix_subst_pair), ArgSpec(ArgKind.STR, "subst")), _ANY,
                       doc="sed-like substitution on AVP values"),
        FunctionExport("avp_check", ops.w_avp_check,
                       (_raw("name", ops.fix_any_pv), _raw("op_value", ops.fix_check)), _ANY,
                       doc="compares the value(s) with an operator and value"),
        FunctionExport("avp_copy", ops.w_avp_copy,
                       (_raw("old_name", ops.fix_copy_src), _raw("new_name", ops.fix_copy_dst)), _ANY,
                       doc="copies (or moves, /d) AVP values under another name"),
        FunctionExport("avp_pushto", ops.w_avp_pushto,
                       (_raw("destination", ops.fix_push_target), _raw("name", ops.fix_any_pv)), _ANY,
                       doc="writes the value(s) into the R-URI, $du or new branches"),
        FunctionExport("avp_op", ops.w_avp_op,
                       (_raw("name", ops.fix_op_pair), _raw("op_value", ops.fix_arith)), _ANY,
                       doc="integer arithmetic on AVP values"),
        FunctionExport("avp_delete", ops.w_avp_delete, (_raw("name", ops.fix_selection),), _ANY,
                       doc="deletes the newest value (all with /g; every AVP with *)"),
        FunctionExport("avp_shuffle", ops.w_avp_shuffle, (_raw("name", ops.fix_copy_src),), _ANY,
                       doc="puts the AVP's values in a random order"),
        FunctionExport("avp_insert", ops.w_avp_insert,
                       (_raw("name", ops.fix_avp_name), ArgSpec(ArgKind.STR, "value"),
                        ArgSpec(ArgKind.INT, "index")), _ANY,
                       doc="inserts a value at a position (2.4)"),
        FunctionExport("is_avp_set", ops.w_is_avp_set, (_raw("name", ops.fix_selection),), _ANY,
                       doc="whether the AVP has a value (/e empty, /s string, /n number)"),
    ),
    init=_init,
    destroy=_destroy,
    legacy=_LEGACY,
    doc="AVP operations and user preferences (OpenSIPS 2.x)",
)
