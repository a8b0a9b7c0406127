"""acc: transaction accounting to the log and to a database (OpenSIPS module `acc`).

do_accounting(type [, flags [, table]]) marks the transaction: "log" and/or "db", with "missed"
(the first negative final of an INVITE, as "ACC: call missed:") and "failed" (account finals
>= 300 too); the record is written when tm sends the final reply upstream. acc_log_request() and
acc_db_request() account the current request at once from a comment ("404 Not Found").
Extra values: 3.x extra_fields ("log: a->name; b") set through $acc_extra(tag), and the 2.x
log_extra/db_extra lists of pseudo-variables ("ua=$hdr(User-Agent)"); per-leg values: leg_fields
set through $acc_leg(tag)[index], a leg added by acc_new_leg(). CDRs ("cdr" flag) use the dialog
module (runtime.py). The "evi" backend raises E_ACC_EVENT, E_ACC_MISSED_EVENT and E_ACC_CDR through
the event interface. AAA is not available.
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.services import DIALOGS, TRANSACTIONS
from pysips.script.ast import Pos
from pysips.script.context import MsgContext, RouteType, Value
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamResolveContext,
    ParamType,
    PVarExport,
)
from pysips.script.pv_base import FuncPV, PVAccessor, PVError
from pysips.sip.message import SipMessage

from .config import (
    COLUMN_PARAMS,
    LEGACY_FLAG_PARAMS,
    check_db_url,
    check_name,
    config_from,
    parse_extra_fields,
    parse_pv_extra,
)
from .legs import make_acc_current_leg, make_acc_leg, w_acc_new_leg
from .record import (
    ACC_REQUEST,
    BACKENDS,
    CDR,
    DB,
    EVI,
    FAILED,
    LOG,
    MISSED,
    NORMAL,
    extra_values,
    leg_values,
    parse_comment,
    record_for,
)
from .record import write_db as db_write
from .record import write_evi as evi_write
from .record import write_log as log_write
from .runtime import Acc, acc_of

__all__ = ["Acc", "exports"]

log = logging.getLogger("pysips.modules.acc")

_TYPES = {"log": LOG, "db": DB, "evi": EVI}
_FLAGS = {"cdr": CDR, "missed": MISSED, "failed": FAILED}
_UNAVAILABLE = {
    "aaa": "AAA accounting needs an AAA client, which pysips does not have",
    "evi": "not supported: call do_accounting(\"evi\", ...) (3.x)",
    "cdr": "not supported: call do_accounting(type, \"cdr\") (3.x)",
}


def _split(text: str, known: dict[str, int], what: str, pos: Pos) -> int:
    mask = 0
    for item in str(text).split("|"):
        name = item.strip().lower()
        if not name:
            continue
        if name in _UNAVAILABLE and name not in known:
            raise FixupError(f"{what} {name!r}: {_UNAVAILABLE[name]}", pos)
        if name not in known:
            raise FixupError(f"unknown accounting {what} {name!r} (expected {', '.join(known)})", pos)
        mask |= known[name]
    return mask


def _unavailable_flag(backend: str) -> Any:
    """The 2.x flag parameter of a backend pysips does not have: a load error saying why."""

    def check(value: Any) -> Any:
        raise FixupError(f"2.x {backend} accounting flag: {_UNAVAILABLE[backend]}")

    return check


def _fix_type(value: Any, fctx: FixupContext) -> int:
    mask = _split(value, _TYPES, "type", fctx.pos)
    if not mask:
        raise FixupError("do_accounting(): no accounting type given", fctx.pos)
    return mask


def _fix_drop_type(value: Any, fctx: FixupContext) -> int:
    return _split(value, _TYPES, "type", fctx.pos)


def _fix_flags(value: Any, fctx: FixupContext) -> int:
    return _split(value, _FLAGS, "flag", fctx.pos)


def w_do_accounting(ctx: MsgContext, types: int, flags: int | None = None, table: str | None = None) -> int:
    acc = acc_of(ctx)
    state = acc.state(ctx, create=True)
    assert state is not None
    state.flags |= (NORMAL | (flags or 0)) * types
    if table and types & DB:
        state.table = table
    if flags and flags & CDR and not acc.start_call(ctx, state):
        return -1
    return 1


def w_drop_accounting(ctx: MsgContext, types: int | None = None, flags: int | None = None) -> int:
    state = acc_of(ctx).state(ctx, create=False)
    if state is None:
        return 1
    backends = types or BACKENDS
    kinds = flags if flags else (NORMAL | MISSED | FAILED)
    state.flags &= ~(kinds * backends)
    return 1


def _request(ctx: MsgContext) -> SipMessage | None:
    msg = ctx.msg
    return msg if isinstance(msg, SipMessage) and msg.is_request else None


def _now(ctx: MsgContext) -> float:
    if ctx.now:
        return ctx.now
    import time

    return time.time()


def w_acc_log_request(ctx: MsgContext, comment: str) -> int:
    msg = _request(ctx)
    if msg is None:
        return -1
    acc = acc_of(ctx)
    code, reason = parse_comment(comment)
    now = _now(ctx)
    state = acc.state(ctx, create=False)
    rec = record_for(msg, code, reason, None, now)
    log_write(acc.config, ACC_REQUEST, rec, state, extra_values(acc.config.log_extra, state, ctx), now,
              leg_values(acc.config.log_legs, state))
    return 1


def w_acc_db_request(ctx: MsgContext, comment: str, table: str) -> int:
    msg = _request(ctx)
    if msg is None:
        return -1
    acc = acc_of(ctx)
    db = acc.db()
    if db is None:
        log.error("acc_db_request(): set the acc db_url parameter")
        return -1
    code, reason = parse_comment(comment)
    now = _now(ctx)
    state = acc.state(ctx, create=False)
    rec = record_for(msg, code, reason, None, now)
    missed = table == acc.config.table_missed
    extras = extra_values(acc.config.db_extra, state, ctx)
    legs = leg_values(acc.config.db_legs, state)
    return 1 if db_write(acc.config, db, table, rec, state, extras, now, missed, legs) else -1


def w_acc_evi_request(ctx: MsgContext, comment: str) -> int:
    """acc_evi_request(comment): E_ACC_EVENT for the current request, now."""
    msg = _request(ctx)
    if msg is None:
        return -1
    acc = acc_of(ctx)
    code, reason = parse_comment(comment)
    now = _now(ctx)
    state = acc.state(ctx, create=False)
    rec = record_for(msg, code, reason, None, now)
    evi_write(acc.events, acc.config, rec, state, extra_values(acc.config.evi_extra, state, ctx), now, False,
              leg_values(acc.config.evi_legs, state))
    return 1


def _make_acc_extra(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if not subname:
        raise PVError(f"${name} needs a tag: $acc_extra(tag)", pos)
    tag = subname.strip()

    def get(ctx: MsgContext) -> Value:
        runtime = ctx.process.modules.get("acc")
        state = runtime.state(ctx, create=False) if isinstance(runtime, Acc) else None
        return state.extra.get(tag) if state is not None else None

    def set_(ctx: MsgContext, value: Value) -> None:
        state = acc_of(ctx).state(ctx, create=True)
        assert state is not None
        state.extra[tag] = None if value is None else str(value)

    return FuncPV(f"$acc_extra({tag})", get, set_)


def _extra_fields(value: Any) -> Any:
    return parse_extra_fields(str(value))


def _pv_extra(what: str) -> Any:
    def resolve(value: Any, rctx: ParamResolveContext) -> Any:
        return parse_pv_extra(str(value), what, rctx.pv_registry)

    return resolve


def _leg_fields(value: Any) -> Any:
    return parse_extra_fields(str(value), "leg_fields")


_LOADED_FROM_DLG = "acc.loaded_from_dlg"


def w_load_ctx_from_dlg(ctx: MsgContext) -> int:
    """acc_load_ctx_from_dlg(): the accounting values of the message's dialog become the ones
    $acc_extra/$acc_leg read and write (in pysips they already are whenever the message has an
    accounted dialog: this reports whether it has, and refuses nesting, as OpenSIPS does)."""
    acc = acc_of(ctx)
    if ctx.extra.get(_LOADED_FROM_DLG) or acc.dialogs is None:
        return -1
    call = acc.state(ctx, create=False)
    if call is None or call.call is None:
        return -1
    ctx.extra[_LOADED_FROM_DLG] = True
    return 1


def w_unload_ctx_from_dlg(ctx: MsgContext) -> int:
    return 1 if ctx.extra.pop(_LOADED_FROM_DLG, None) else -1


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> Acc:
    cfg = config_from(params)
    acc = Acc(cfg, mctx.process)
    acc.attach_tm(mctx.require(TRANSACTIONS))
    dialogs = mctx.get(DIALOGS)
    if dialogs is not None:
        acc.attach_dialogs(dialogs)
    return acc


def _destroy(runtime: object) -> None:
    if isinstance(runtime, Acc):
        runtime.close()


def _missing(name: str, arity: int, why: str) -> FunctionExport:
    args = tuple(ArgSpec(ArgKind.ANY, f"arg{i + 1}", optional=True) for i in range(arity))
    return FunctionExport(name, lambda ctx, *a: -1, args, RouteType.ALL, missing=why)


_ROUTES = RouteType.REQUEST | RouteType.FAILURE | RouteType.BRANCH | RouteType.LOCAL
_COMMENT = ArgSpec(ArgKind.STR, "comment")

exports = ModuleExports(
    "acc",
    functions=(
        FunctionExport("do_accounting", w_do_accounting,
                       (ArgSpec(ArgKind.STR, "type", static=True, fixup=_fix_type),
                        ArgSpec(ArgKind.STR, "flags", optional=True, static=True, fixup=_fix_flags),
                        ArgSpec(ArgKind.STR, "table", optional=True)), _ROUTES,
                       doc="account the transaction when it completes, or the call when it ends "
                           "(log|db|evi; cdr|missed|failed)"),
        FunctionExport("drop_accounting", w_drop_accounting,
                       (ArgSpec(ArgKind.STR, "type", optional=True, static=True, fixup=_fix_drop_type),
                        ArgSpec(ArgKind.STR, "flags", optional=True, static=True, fixup=_fix_flags)),
                       _ROUTES, doc="undo do_accounting() (all, one backend, or some flags)"),
        FunctionExport("acc_log_request", w_acc_log_request, (_COMMENT,), _ROUTES,
                       doc="log the request now (\"ACC: request accounted: ...\")"),
        FunctionExport("acc_db_request", w_acc_db_request, (_COMMENT, ArgSpec(ArgKind.STR, "table")), _ROUTES,
                       doc="write the request into a table now"),
        _missing("acc_aaa_request", 1, _UNAVAILABLE["aaa"]),
        FunctionExport("acc_evi_request", w_acc_evi_request, (_COMMENT,), _ROUTES,
                       doc="raise E_ACC_EVENT for the request now"),
        FunctionExport("acc_new_leg", w_acc_new_leg, (), RouteType.ALL,
                       doc="start a new leg: $acc_leg values now go to it"),
        FunctionExport("acc_load_ctx_from_dlg", w_load_ctx_from_dlg, (), RouteType.ALL,
                       doc="work on the dialog's accounting values (-1 none, or nested)"),
        FunctionExport("acc_unload_ctx_from_dlg", w_unload_ctx_from_dlg, (), RouteType.ALL,
                       doc="undo acc_load_ctx_from_dlg()"),
    ),
    params=(
        ParamExport("early_media", ParamType.INT_OR_STR, 0),
        ParamExport("report_cancels", ParamType.INT_OR_STR, 0),
        ParamExport("detect_direction", ParamType.INT_OR_STR, 0,
                    doc="accepted; From/To are not swapped for upstream requests yet"),
        ParamExport("extra_fields", ParamType.STR, multi=True, check=_extra_fields,
                    doc="\"backend: tag->name; tag\" values set with $acc_extra(tag)"),
        ParamExport("leg_fields", ParamType.STR, multi=True, check=_leg_fields,
                    doc="\"backend: tag->name; tag\" per-leg values set with $acc_leg(tag)"),
        ParamExport("log_extra", ParamType.STR, multi=True, resolve=_pv_extra("log_extra"),
                    doc="2.x: \"name=$pvar;...\" added to log records"),
        ParamExport("db_extra", ParamType.STR, multi=True, resolve=_pv_extra("db_extra"),
                    doc="2.x: \"column=$pvar;...\" added to database records"),
        *(ParamExport(name, ParamType.MFLAG, None,
                      legacy="3.x calls do_accounting(); pysips still honours the flag",
                      doc="2.x: a message flag set before t_relay() accounts the transaction")
          for name in LEGACY_FLAG_PARAMS),
        *(ParamExport(name, ParamType.STR, None, check=_unavailable_flag(backend),
                      doc=f"2.x: {_UNAVAILABLE[backend]}")
          for name, backend in (("aaa_flag", "aaa"), ("aaa_missed_flag", "aaa"), ("evi_flag", "evi"),
                                ("evi_missed_flag", "evi"), ("cdr_flag", "cdr"))),
        ParamExport("log_level", ParamType.INT, 2, doc="OpenSIPS level of the ACC lines (L_NOTICE)"),
        ParamExport("log_facility", ParamType.STR, "LOG_DAEMON"),
        ParamExport("db_url", ParamType.STR, None, check=check_db_url),
        ParamExport("db_table_acc", ParamType.STR, "acc", check=check_name),
        ParamExport("db_table_missed_calls", ParamType.STR, "missed_calls", check=check_name),
        *(ParamExport(name, ParamType.STR, default, check=check_name)
          for name, default in COLUMN_PARAMS.items()),
    ),
    pvars=(PVarExport("acc_extra", _make_acc_extra, doc="extra accounting value of a tag"),
           PVarExport("acc_leg", make_acc_leg, doc="a leg's accounting value: $(acc_leg(tag)[index])"),
           PVarExport("acc_current_leg", make_acc_current_leg, doc="the index of the last leg")),
    requires=(TRANSACTIONS,),
    uses=(DIALOGS,),
    destroy=_destroy,
    init=_init,
    doc="accounting to the log and to a database",
)
