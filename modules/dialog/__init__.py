"""dialog: calls as dialogs (OpenSIPS module `dialog`).

create_dialog([flags]) on an initial INVITE makes a dialog that follows the call: its state
(1 unconfirmed .. 5 deleted), its lifetime (default_timeout, $DLG_timeout; "bye-on-timeout"
ends the call with BYE both ways), in-dialog pinging ("options-ping-caller"...), values
($dlg_val, store_dlg_value) and profiles. Sequential requests find it through the `did` parameter
of our Record-Route (rr's loose_route hook) or match_dialog(). db_mode 1-3 keeps it in the
`dialog` table. See docs/dialog.md.
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.services import DIALOGS, RECORD_ROUTE, SHARED_STATE, TRANSACTIONS, dialog_match_mode
from pysips.script.context import MsgContext, ProcessState, RouteType
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
    RouteRef,
    StatExport,
)
from pysips.script.flags import FlagKind
from pysips.script.pv_base import PVAccessor
from pysips.sip.message import SipMessage

from . import mi
from .db import DialogDb
from .dlgjson import dialog_json
from .model import DIR_NONE, FlagError, parse_create_flags
from .profile_sharing import ProfileSharing
from .profiles import parse_profiles
from .pvars import PVARS
from .runtime import CURRENT, DialogConfig, Dialogs

NAME = "dialog"
dialogs_log = logging.getLogger("pysips.dialog")

_SEQ_ROUTES = RouteType.REQUEST | RouteType.FAILURE | RouteType.ONREPLY | RouteType.BRANCH
_VAL_ROUTES = _SEQ_ROUTES | RouteType.LOCAL


def dialogs_of(ctx: MsgContext) -> Dialogs:
    found = ctx.process.modules.get(NAME)
    if not isinstance(found, Dialogs):
        raise RuntimeError("dialog: module not initialised in this process")
    return found


def _fix_flags(value: Any, fctx: FixupContext) -> int:
    try:
        return parse_create_flags(str(value))
    except FlagError as err:
        raise FixupError(str(err), fctx.pos) from None


def w_create_dialog(ctx: MsgContext, flags: int | None = None) -> int:
    return dialogs_of(ctx).create(ctx, flags or 0)


def _fix_match_mode(value: Any, fctx: FixupContext) -> int:
    try:
        return dialog_match_mode(str(value))
    except ValueError as exc:
        raise FixupError(str(exc), fctx.pos) from None


def w_match_dialog(ctx: MsgContext, mode: int | None = None) -> int:
    return dialogs_of(ctx).match(ctx, mode)


def w_validate_dialog(ctx: MsgContext) -> int:
    return dialogs_of(ctx).validate(ctx)


def w_fix_route_dialog(ctx: MsgContext) -> int:
    return dialogs_of(ctx).fix_route(ctx)


def w_set_dlg_profile(ctx: MsgContext, name: str, value: str | None = None, clear: int | None = None) -> int:
    dialogs = dialogs_of(ctx)
    dlg = dialogs.current(ctx)
    profile = dialogs.profile(name)
    if dlg is None:
        dialogs_log.error("no dialog found for this request")
        return -1
    if profile is None:
        dialogs_log.error("profile <%s> not defined", name)
        return -1
    if profile.has_value and value is None:
        dialogs_log.error("profile <%s> needs a value", name)
        return -1
    if clear and profile.has_value:
        dialogs.unset_profile(dlg, profile, None)
    dialogs.set_profile(dlg, profile, value or "")
    return 1


def w_unset_dlg_profile(ctx: MsgContext, name: str, value: str | None = None) -> int:
    dialogs = dialogs_of(ctx)
    dlg = dialogs.current(ctx)
    profile = dialogs.profile(name)
    if dlg is None or profile is None:
        return -1
    return 1 if dialogs.unset_profile(dlg, profile, value) else -1


def w_is_in_profile(ctx: MsgContext, name: str, value: str | None = None) -> int:
    dialogs = dialogs_of(ctx)
    dlg = dialogs.current(ctx)
    profile = dialogs.profile(name)
    if dlg is None or profile is None:
        return -1
    return 1 if dialogs.in_profile(dlg, profile, value) else -1


def w_get_profile_size(ctx: MsgContext, name: str, value: str | None, result: PVAccessor) -> int:
    profile = dialogs_of(ctx).profile(name)
    if profile is None:
        dialogs_log.error("profile <%s> not defined", name)
        return -1
    result.set(ctx, profile.size(value))
    return 1


def w_store_dlg_value(ctx: MsgContext, name: str, value: PVAccessor) -> int:
    dlg = dialogs_of(ctx).current(ctx)
    if dlg is None:
        return -1
    val = value.get(ctx)
    if val is None:
        dlg.vals.pop(name, None)
    else:
        dlg.vals[name] = val
    dlg.db_dirty = True
    return 1


def w_fetch_dlg_value(ctx: MsgContext, name: str, result: PVAccessor) -> int:
    dlg = dialogs_of(ctx).current(ctx)
    if dlg is None or name not in dlg.vals:
        return -1
    result.set(ctx, dlg.vals[name])
    return 1


def _flag_bit(value: Any, fctx: FixupContext) -> int:
    """A dialog flag name (3.x named flags, numbered at load in their own namespace)."""
    return fctx.flags.bit(FlagKind.DIALOG, str(value))


def w_set_dlg_flag(ctx: MsgContext, bit: int) -> int:
    dlg = dialogs_of(ctx).current(ctx)
    if dlg is None:
        return -1
    dlg.user_flags |= 1 << bit
    dlg.db_dirty = True
    return 1


def w_reset_dlg_flag(ctx: MsgContext, bit: int) -> int:
    dlg = dialogs_of(ctx).current(ctx)
    if dlg is None:
        return -1
    dlg.user_flags &= ~(1 << bit)
    dlg.db_dirty = True
    return 1


def w_test_and_set_dlg_flag(ctx: MsgContext, bit: int, value: int) -> int:
    """test_and_set_dlg_flag(flag, value): when the flag is `value` (0/1), flips it and returns 1;
    -1 when it is not; -2 without a dialog."""
    dlg = dialogs_of(ctx).current(ctx)
    if dlg is None:
        return -2
    mask = 1 << bit
    if bool(dlg.user_flags & mask) != bool(value):
        return -1
    dlg.user_flags ^= mask
    dlg.db_dirty = True
    return 1


def w_is_dlg_flag_set(ctx: MsgContext, bit: int) -> int:
    dlg = dialogs_of(ctx).current(ctx)
    if dlg is None:
        return -1
    return 1 if dlg.user_flags & (1 << bit) else -1


def _fix_leg(value: Any, fctx: FixupContext) -> bool:
    text = str(value).strip().lower()
    if text not in ("caller", "callee"):
        raise FixupError(f"unsupported dialog indetifier <{value}>", fctx.pos)
    return text == "caller"


def w_dlg_send_sequential(ctx: MsgContext, method: str, to_caller: bool, body: str | None = None,
                          content_type: str | None = None, headers: str | None = None) -> int:
    dialogs = dialogs_of(ctx)
    dlg = dialogs.current(ctx)
    if dlg is None or dlg.ended:
        dialogs_log.warning("no current dialog found. Make sure you call this "
                            "function inside a dialog  context")
        return -1
    if body and not content_type:
        dialogs_log.warning("body without content type! This request might be rejected by uac!")
    lines = tuple(h for h in (headers or "").replace("\r\n", "\n").split("\n") if h.strip())
    # in an onreply_route the reply names the early dialog (its To tag) and what a PRACK acks
    reply = ctx.msg if isinstance(ctx.msg, SipMessage) and not ctx.msg.is_request else None
    return dialogs.send_sequential(dlg, method.upper(), to_caller, (body or "").encode(),
                                   content_type or None, lines, reply)


def _dialog_route_setter(which: str, *, before_answer: bool) -> Any:
    def handler(ctx: MsgContext, route: RouteRef | None = None) -> int:
        dlg = dialogs_of(ctx).current(ctx)
        if dlg is None:
            dialogs_log.warning("no current dialog found. Have you created one?")
            return -1
        if before_answer and dlg.state > 2:
            dialogs_log.warning("too late to set the route, dialog already established")
            return -1
        if route is None:
            dlg.routes.pop(which, None)  # no route: reset
        else:
            dlg.routes[which] = route
        return 1

    return handler


def w_get_dialog_info(ctx: MsgContext, attr: str, out: PVAccessor, key: str, key_val: PVAccessor,
                      number: PVAccessor | None = None) -> int:
    """get_dialog_info(attr, $avp, key, $key_val[, $n]): for every live dialog whose value `key`
    equals $key_val, its value `attr` is added to $avp; $n gets how many. -1 when none."""
    wanted = key_val.get(ctx)
    found = 0
    for dlg in dialogs_of(ctx).all():
        if dlg.state > 4 or key not in dlg.vals or str(dlg.vals[key]) != str(wanted):
            continue
        if attr not in dlg.vals:
            dialogs_log.error("failed to fetch dialog value <%s>", attr)
            return -1
        out.set(ctx, dlg.vals[attr])
        found += 1
    if not found:
        return -1
    if number is not None:
        number.set(ctx, found)
    return found


def _put_jsons(ctx: MsgContext, dialogs: Any, matching: list[Any], out: PVAccessor,
               number: PVAccessor) -> int:
    if not matching:
        return -1
    for dlg in matching:
        out.set(ctx, dialog_json(dialogs, dlg, True))
    number.set(ctx, len(matching))
    return len(matching)


def w_get_dialogs_by_val(ctx: MsgContext, attr: str, attr_val: PVAccessor, out: PVAccessor,
                         number: PVAccessor) -> int:
    """get_dialogs_by_val(name, $val, $out, $n): the JSON of every live dialog whose value `name`
    equals $val, each added to $out (an AVP); returns and sets in $n how many, -1 none."""
    dialogs = dialogs_of(ctx)
    wanted = str(attr_val.get(ctx))
    matching = [d for d in dialogs.all() if d.state <= 4 and attr in d.vals and str(d.vals[attr]) == wanted]
    return _put_jsons(ctx, dialogs, matching, out, number)


def w_get_dialogs_by_profile(ctx: MsgContext, name: str, value: str | None, out: PVAccessor,
                             number: PVAccessor) -> int:
    """get_dialogs_by_profile(profile[, value], $out, $n): the same for a profile's dialogs."""
    dialogs = dialogs_of(ctx)
    profile = dialogs.profile(name)
    if profile is None:
        return -1
    matching = [d for d in dialogs.all() if d.state <= 4 and dialogs.in_profile(d, profile, value)]
    return _put_jsons(ctx, dialogs, matching, out, number)


def w_get_dialog_vals(ctx: MsgContext, names: PVAccessor, values: PVAccessor, callid: str) -> int:
    """get_dialog_vals($avp_names, $avp_values, callid): every value of that call's dialog."""
    same = dialogs_of(ctx).by_callid.get(callid)
    if not same:
        return -1
    for name, value in same[0].vals.items():
        names.set(ctx, name)
        values.set(ctx, value)
    return 1


LOADED = "dialog.loaded"  # ctx.extra: what load_dialog_ctx() replaced (to put back on unload)


def _fix_load_mode(value: Any, fctx: FixupContext) -> str:
    text = str(value).strip().lower()
    if text not in ("callid", "did"):
        raise FixupError(f"unsupported dialog indetifier <{value}>", fctx.pos)
    return text


def w_load_dialog_ctx(ctx: MsgContext, ident: str, mode: str | None = None) -> int:
    """load_dialog_ctx(id[, "callid"|"did"]): that dialog becomes the message's until unloaded."""
    if LOADED in ctx.extra:
        dialogs_log.error("nested call of load dlg ctx")
        return -1
    dialogs = dialogs_of(ctx)
    if mode == "did":
        dlg = dialogs.by_did(ident)
    else:
        same = dialogs.by_callid.get(ident)
        dlg = same[0] if same else None
    if dlg is None:
        return -1
    ctx.extra[LOADED] = ctx.extra.get(CURRENT)
    ctx.extra[CURRENT] = (dlg, DIR_NONE)
    return 1


def w_unload_dialog_ctx(ctx: MsgContext) -> int:
    if LOADED not in ctx.extra:
        return -1
    previous = ctx.extra.pop(LOADED)
    if previous is None:
        ctx.extra.pop(CURRENT, None)
    else:
        ctx.extra[CURRENT] = previous
    return 1


def _not_built(ctx: MsgContext, *args: object) -> int:
    raise RuntimeError("a missing function is refused when the script loads")


def w_set_dlg_sharing_tag(ctx: MsgContext, tag: str) -> int:
    """OpenSIPS answers 1 at once when dialog_replication_cluster is not set, which is always the
    case here (pysips has no clusterer): a single node owns every dialog."""
    return 1


def _check_db_mode(value: Any) -> int:
    mode = int(value)
    if mode not in (0, 1, 2, 3):
        raise FixupError(f"db_mode {mode} unknown (0 none, 1 realtime, 2 delayed, 3 on shutdown)")
    return mode


def _check_prack_timeout(value: Any) -> int:
    seconds = int(value)
    if seconds <= 0:
        raise FixupError(f"auto_prack_fr_timeout must be a positive number of seconds, not {seconds}")
    return seconds


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Dialogs:
    headers = tuple(h.strip() for h in str(params["dlg_extra_hdrs"] or "").split("\r\n") if h.strip())
    config = DialogConfig(
        rr_param=str(params["rr_param"]),
        default_timeout=int(params["default_timeout"]),
        options_ping_interval=int(params["options_ping_interval"]),
        reinvite_ping_interval=int(params["reinvite_ping_interval"]),
        hash_size=int(params["hash_size"]),
        dlg_match_mode=int(params["dlg_match_mode"]),
        delete_delay=int(params["delete_delay"]),
        extra_headers=headers,
        auto_prack_fr_timeout=int(params["auto_prack_fr_timeout"]),
        auto_prack_hangup_on_failure=bool(int(params["auto_prack_hangup_on_failure"])),
    )
    profiles = parse_profiles(str(params["profiles_with_value"] or ""), True)
    profiles += parse_profiles(str(params["profiles_no_value"] or ""), False)
    dialogs = Dialogs(ictx.process, ictx.require(TRANSACTIONS), ictx.get(RECORD_ROUTE), config, profiles)
    dialogs.flag_names = ictx.flags
    shared = ictx.get(SHARED_STATE)
    if shared is not None:  # worker processes: profile sizes count every worker's dialogs
        dialogs.share_profiles(ProfileSharing(dialogs.profiles, shared).changed)
    tm = dialogs.tm
    tm.on_created(dialogs.transaction_created)
    tm.on_reply_in(dialogs.reply_in)
    tm.on_reply_out(dialogs.reply_out)
    tm.on_completed(dialogs.completed)
    tm.on_deleted(dialogs.deleted)
    if dialogs.rr is not None:
        dialogs.rr.on_loose_route(dialogs.loose_route)
    if ictx.process.core is not None:
        ictx.process.core.hooks.request_done.append(dialogs.request_done)
    mode = int(params["db_mode"])
    if mode:
        url = str(params["db_url"] or "")
        if not url:
            raise FixupError("dialog: db_mode needs db_url")
        dialogs.db = DialogDb(dialogs, url, str(params["table_name"]), mode, int(params["db_update_period"]))
        if ictx.process.core is not None:
            dialogs.db.load()
    ictx.provide(DIALOGS, dialogs)
    return dialogs


def _child_init(process: ProcessState, runtime: object) -> None:
    if isinstance(runtime, Dialogs) and process.core is not None:
        runtime.start_pinging()
        if runtime.db is not None:
            runtime.db.start()


def _destroy(runtime: object) -> None:
    if isinstance(runtime, Dialogs):
        if runtime.db is not None:
            runtime.db.shutdown()
        runtime.stop()


_STR_OPT = ArgSpec(ArgKind.STR, "value", optional=True)

exports = ModuleExports(
    NAME,
    functions=(
        FunctionExport("create_dialog", w_create_dialog,
                       (ArgSpec(ArgKind.STR, "flags", optional=True, fixup=_fix_flags),),
                       RouteType.REQUEST, doc="make a dialog for this INVITE (flags: PpBRrE or names)"),
        FunctionExport("match_dialog", w_match_dialog,
                       (ArgSpec(ArgKind.STR, "mode", optional=True, fixup=_fix_match_mode),),
                       RouteType.REQUEST, doc="find the dialog of a sequential request"),
        FunctionExport("validate_dialog", w_validate_dialog, (), RouteType.REQUEST,
                       doc="CSeq and remote target of the sequential request agree with the dialog"),
        FunctionExport("fix_route_dialog", w_fix_route_dialog, (), RouteType.REQUEST,
                       doc="R-URI, Route set and next hop from the dialog"),
        FunctionExport("set_dlg_profile", w_set_dlg_profile,
                       (ArgSpec(ArgKind.STR, "profile"), _STR_OPT,
                        ArgSpec(ArgKind.INT, "clear_values", optional=True)), _SEQ_ROUTES,
                       doc="put the dialog in a profile (with a value for profiles_with_value)"),
        FunctionExport("unset_dlg_profile", w_unset_dlg_profile, (ArgSpec(ArgKind.STR, "profile"), _STR_OPT),
                       _SEQ_ROUTES, doc="take the dialog out of a profile"),
        FunctionExport("is_in_profile", w_is_in_profile, (ArgSpec(ArgKind.STR, "profile"), _STR_OPT),
                       _SEQ_ROUTES, doc="the dialog is in the profile (with that value)"),
        FunctionExport("get_profile_size", w_get_profile_size,
                       (ArgSpec(ArgKind.STR, "profile"), _STR_OPT, ArgSpec(ArgKind.VAR, "size")),
                       RouteType.ALL, doc="how many dialogs the profile (value) holds, into a variable"),
        FunctionExport("store_dlg_value", w_store_dlg_value,
                       (ArgSpec(ArgKind.STR, "name"), ArgSpec(ArgKind.VAR, "value")), _VAL_ROUTES,
                       doc="keep a value in the dialog"),
        FunctionExport("fetch_dlg_value", w_fetch_dlg_value,
                       (ArgSpec(ArgKind.STR, "name"), ArgSpec(ArgKind.VAR, "result")), _VAL_ROUTES,
                       doc="read a value kept in the dialog"),
        FunctionExport("set_dlg_flag", w_set_dlg_flag,
                       (ArgSpec(ArgKind.STR, "flag", static=True, fixup=_flag_bit),), _VAL_ROUTES,
                       doc="set a dialog flag ($DLG_flags)"),
        FunctionExport("reset_dlg_flag", w_reset_dlg_flag,
                       (ArgSpec(ArgKind.STR, "flag", static=True, fixup=_flag_bit),), _VAL_ROUTES,
                       doc="reset a dialog flag"),
        FunctionExport("is_dlg_flag_set", w_is_dlg_flag_set,
                       (ArgSpec(ArgKind.STR, "flag", static=True, fixup=_flag_bit),), _VAL_ROUTES,
                       doc="test a dialog flag"),
        FunctionExport("test_and_set_dlg_flag", w_test_and_set_dlg_flag,
                       (ArgSpec(ArgKind.STR, "flag", static=True, fixup=_flag_bit),
                        ArgSpec(ArgKind.INT, "value")),
                       _VAL_ROUTES, doc="if the dialog flag has this value (0/1), flip it"),
        FunctionExport("get_dialog_info", w_get_dialog_info,
                       (ArgSpec(ArgKind.STR, "attr"), ArgSpec(ArgKind.VAR, "attr_val"),
                        ArgSpec(ArgKind.STR, "key"), ArgSpec(ArgKind.VAR, "key_val"),
                        ArgSpec(ArgKind.VAR, "number_val", optional=True)),
                       RouteType.ALL, doc="a value of the dialogs whose value `key` matches"),
        FunctionExport("get_dialog_vals", w_get_dialog_vals,
                       (ArgSpec(ArgKind.VAR, "names"), ArgSpec(ArgKind.VAR, "values"),
                        ArgSpec(ArgKind.STR, "callid")),
                       RouteType.ALL, doc="every value of the dialog of a Call-ID, into two AVPs"),
        FunctionExport("get_dialogs_by_val", w_get_dialogs_by_val,
                       (ArgSpec(ArgKind.STR, "name"), ArgSpec(ArgKind.VAR, "value"),
                        ArgSpec(ArgKind.VAR, "out"), ArgSpec(ArgKind.VAR, "number")),
                       RouteType.ALL, doc="the JSON of the dialogs whose value matches"),
        FunctionExport("get_dialogs_by_profile", w_get_dialogs_by_profile,
                       (ArgSpec(ArgKind.STR, "profile"), _STR_OPT,
                        ArgSpec(ArgKind.VAR, "out"), ArgSpec(ArgKind.VAR, "number")),
                       RouteType.ALL, doc="the JSON of the dialogs of a profile (value)"),
        FunctionExport("set_dlg_sharing_tag", w_set_dlg_sharing_tag, (ArgSpec(ArgKind.STR, "tag"),),
                       RouteType.REQUEST, doc="accepted: 1 (no dialog replication cluster here)"),
        FunctionExport("dlg_inc_cseq", _not_built,
                       missing="dialog's dlg_inc_cseq() is not implemented in pysips yet"),
        FunctionExport("load_dialog_ctx", w_load_dialog_ctx,
                       (ArgSpec(ArgKind.STR, "id"),
                        ArgSpec(ArgKind.STR, "mode", optional=True, static=True, fixup=_fix_load_mode)),
                       RouteType.ALL, doc="make the dialog with this Call-ID (or did) the current one"),
        FunctionExport("unload_dialog_ctx", w_unload_dialog_ctx, (), RouteType.ALL,
                       doc="undo load_dialog_ctx()"),
        *(FunctionExport(f"dlg_on_{which}", _dialog_route_setter(which, before_answer=which != "hangup"),
                         (ArgSpec(ArgKind.ROUTE, "route", optional=True),), _SEQ_ROUTES,
                         doc=f"a route run (with the dialog's context) when the dialog {what}")
          for which, what in (("timeout", "times out (it may set a new $DLG_timeout)"),
                              ("answer", "is answered"), ("hangup", "is hung up by a BYE"))),
        FunctionExport("dlg_send_sequential", w_dlg_send_sequential,
                       (ArgSpec(ArgKind.STR, "method"), ArgSpec(ArgKind.STR, "leg", fixup=_fix_leg),
                        ArgSpec(ArgKind.STR, "body", optional=True),
                        ArgSpec(ArgKind.STR, "content_type", optional=True),
                        ArgSpec(ArgKind.STR, "headers", optional=True)), RouteType.ALL,
                       doc="send a request of ours to the caller or the callee of the dialog"),
    ),
    params=(
        ParamExport("enable_stats", ParamType.INT, 1),
        ParamExport("hash_size", ParamType.INT, 4096),
        ParamExport("rr_param", ParamType.STR, "did", doc="the Record-Route parameter holding the dialog id"),
        ParamExport("default_timeout", ParamType.INT, 43200, doc="lifetime of a confirmed dialog (s)"),
        ParamExport("options_ping_interval", ParamType.INT, 30, doc="seconds between OPTIONS pings"),
        ParamExport("reinvite_ping_interval", ParamType.INT, 300, doc="seconds between re-INVITE pings"),
        ParamExport("delete_delay", ParamType.INT, 0, doc="seconds a deleted dialog stays listed"),
        ParamExport("dlg_extra_hdrs", ParamType.STR, "", doc="headers added to the requests dialog sends"),
        ParamExport("dlg_match_mode", ParamType.INT, 1,
                    doc="0 match by did only, 1 did then Call-ID/tags, 2 Call-ID/tags only"),
        ParamExport("db_url", ParamType.STR, ""),
        ParamExport("db_mode", ParamType.INT, 0, check=_check_db_mode,
                    doc="0 none, 1 realtime, 2 delayed (db_update_period), 3 on shutdown"),
        ParamExport("table_name", ParamType.STR, "dialog"),
        ParamExport("db_update_period", ParamType.INT, 60),
        ParamExport("profiles_with_value", ParamType.STR, "", doc="profile names separated by ';'"),
        ParamExport("profiles_no_value", ParamType.STR, "", doc="profile names separated by ';'"),
        ParamExport("db_flush_vals_profiles", ParamType.INT, 0),
        ParamExport("timer_bulk_del_no", ParamType.INT, 1),
        ParamExport("race_condition_timeout", ParamType.INT, 5),
        ParamExport("auto_prack_fr_timeout", ParamType.INT, 3, check=_check_prack_timeout,
                    doc="seconds an automatic PRACK waits for its final reply"),
        ParamExport("auto_prack_hangup_on_failure", ParamType.INT, 0,
                    doc="1: a failed automatic PRACK answers the INVITE 502 Bad Gateway"),
    ),
    pvars=PVARS,
    provides=(DIALOGS,),
    requires=(TRANSACTIONS,),
    uses=(RECORD_ROUTE,),
    init=_init,
    child_init=_child_init,
    destroy=_destroy,
    mi_commands=mi.COMMANDS,
    stats=(
        StatExport("active_dialogs", lambda d: int(d.active)),
        StatExport("early_dialogs", lambda d: int(d.early)),
        StatExport("processed_dialogs", lambda d: int(d.processed), lambda d: setattr(d, "processed", 0)),
        StatExport("expired_dialogs", lambda d: int(d.expired), lambda d: setattr(d, "expired", 0)),
        StatExport("failed_dialogs", lambda d: int(d.failed), lambda d: setattr(d, "failed", 0)),
        # dialog replication's counters: no clusterer here, so they stay 0 (listed as OpenSIPS does)
        *(StatExport(name, lambda d: 0, lambda d: None)
          for name in ("create_sent", "update_sent", "delete_sent",
                       "create_recv", "update_recv", "delete_recv")),
    ),
    doc="Calls as dialogs: state, timeouts, pinging, values, profiles, MI.",
)
