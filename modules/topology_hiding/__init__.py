"""topology_hiding: hide each side's Via, Record-Route, Route and Contact from the other (OpenSIPS
module `topology_hiding`).

topology_hiding([flags[, users]]) on an initial request strips the Vias and Record-Routes that
would go downstream and puts a Contact of ours in place of the caller's; the replies get the
caller's Vias and Record-Routes back and a Contact of ours instead of the callee's. With a dialog
(create_dialog() before, or force_dialog) the dialog keeps the routing state and our Contact
carries its did; without one the state is encoded in a Contact parameter (th_contact_encode_param).
topology_hiding_match() routes the sequential requests that come back to those Contacts.
See docs/topology-hiding.md.
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import DIALOGS, RECORD_ROUTE, TRANSACTIONS, dialog_match_mode
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
    PVarExport,
)
from pysips.script.pv_base import FuncPV, PVAccessor

from .headers import FLAG_LETTERS
from .runtime import THConfig, TopologyHiding

NAME = "topology_hiding"
# topology_hiding_match()'s optional mode, as match_dialog()'s


def _runtime(ctx: MsgContext) -> TopologyHiding:
    found = ctx.process.modules.get(NAME)
    if not isinstance(found, TopologyHiding):
        raise RuntimeError("topology_hiding: module not initialised in this process")
    return found


def parse_flags(text: str) -> int:
    """The letters U C D a A; others are skipped (OpenSIPS logs them at debug level)."""
    flags = 0
    for letter in text:
        flags |= FLAG_LETTERS.get(letter, 0)
    return flags


def parse_users(text: str) -> tuple[str | None, str | None]:
    """The second argument: "name" for both sides, "/caller", "//callee", "/caller/callee"."""
    text = text.strip()
    if not text:
        return None, None
    if not text.startswith("/"):
        return text, text
    caller, sep, callee = text[1:].partition("/")
    return caller.strip() or None, (callee.strip() or None) if sep else None


def w_topology_hiding(ctx: MsgContext, flags: str | None = None, users: str | None = None) -> int:
    caller, callee = parse_users(users) if users else (None, None)
    return _runtime(ctx).hide(ctx, parse_flags(flags or ""), caller, callee)


def _fix_mode(value: Any, fctx: FixupContext) -> int:
    try:
        return dialog_match_mode(str(value))
    except ValueError as exc:
        raise FixupError(str(exc), fctx.pos) from None


def w_topology_hiding_match(ctx: MsgContext, mode: int | None = None) -> int:
    return _runtime(ctx).match(ctx, mode)


def _check_scheme(value: Any) -> str:
    text = str(value)
    if text not in ("base64", "base32"):
        raise FixupError("Unsupported value for 'th_contact_encode_scheme' modparam!Use 'base64' or 'base32'")
    return text


def _names(value: Any) -> tuple[str, ...]:
    return tuple(n.strip() for n in str(value or "").split(";") if n.strip())


def _callee_callid_pv(name: str, subname: str | None, pos: Any) -> PVAccessor:
    return FuncPV(name, lambda ctx: _runtime(ctx).callee_callid(ctx))


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> TopologyHiding:
    config = THConfig(
        force_dialog=bool(int(params["force_dialog"])),
        uri_params=_names(params["th_passed_contact_uri_params"]),
        hdr_params=_names(params["th_passed_contact_params"]),
        callid_passwd=str(params["th_callid_passwd"]),
        callid_prefix=str(params["th_callid_prefix"]),
        ct_passwd=str(params["th_contact_encode_passwd"]),
        ct_param=str(params["th_contact_encode_param"]),
        ct_scheme=str(params["th_contact_encode_scheme"]),
        caller_var=str(params["th_contact_caller_username_var"]),
        callee_var=str(params["th_contact_callee_username_var"]),
    )
    dialogs = ictx.get(DIALOGS)
    if config.force_dialog and dialogs is None:
        raise FixupError("cannot force dialog. dialog module not loaded")
    tm = ictx.require(TRANSACTIONS)
    runtime = TopologyHiding(ictx.process, tm, ictx.get(RECORD_ROUTE), dialogs, config,
                             dialogs.rr_param if dialogs is not None else "did")
    tm.on_created(runtime.transaction_created)
    tm.on_request_out(runtime.request_out)
    tm.on_reply_in(runtime.reply_in)
    tm.on_deleted(runtime.transaction_deleted)
    core = ictx.process.core
    if core is not None:
        core.hooks.raw_in.append(runtime.callids.incoming)
        core.hooks.raw_out.append(runtime.callids.outgoing)
    if dialogs is not None:
        dialogs.on_within(runtime.within)
        dialogs.on_ended(runtime.dialog_ended)
    return runtime


_STR_OPT = ArgSpec(ArgKind.STR, "flags", optional=True)

exports = ModuleExports(
    NAME,
    functions=(
        FunctionExport("topology_hiding", w_topology_hiding,
                       (ArgSpec(ArgKind.STR, "flags", optional=True),
                        ArgSpec(ArgKind.STR, "contact_users", optional=True)),
                       route_types=RouteType.REQUEST,
                       doc="hide Via, Record-Route and Contact of an initial request and its replies"),
        FunctionExport("topology_hiding_match", w_topology_hiding_match,
                       (ArgSpec(ArgKind.STR, "dlg_match_mode", optional=True, fixup=_fix_mode),),
                       route_types=RouteType.REQUEST,
                       doc="match and route a sequential request of a hidden call"),
    ),
    params=(
        ParamExport("force_dialog", ParamType.INT, 0, doc="create the dialog when there is none"),
        ParamExport("th_passed_contact_uri_params", ParamType.STR, "", doc="Contact URI params passed on"),
        ParamExport("th_passed_contact_params", ParamType.STR, "", doc="Contact header params passed on"),
        ParamExport("th_callid_passwd", ParamType.STR, "OpenSIPS",
                    doc="password of the C flag's Call-ID"),
        ParamExport("th_callid_prefix", ParamType.STR, "DLGCH_", doc="prefix of a masked Call-ID"),
        ParamExport("th_contact_encode_passwd", ParamType.STR, "ToPoCtPaSS",
                    doc="password of the encoded contact"),
        ParamExport("th_contact_encode_param", ParamType.STR, "thinfo",
                    doc="Contact URI param of the encoded info"),
        ParamExport("th_contact_encode_scheme", ParamType.STR, "base64", check=_check_scheme,
                    doc="base64 or base32"),
        ParamExport("th_contact_caller_username_var", ParamType.STR, "_th_contact_caller_username_var_",
                    doc="dialog value holding the username shown to the caller"),
        ParamExport("th_contact_callee_username_var", ParamType.STR, "_th_contact_callee_username_var_",
                    doc="dialog value holding the username shown to the callee"),
    ),
    pvars=(PVarExport("TH_callee_callid", _callee_callid_pv,
                      doc="the Call-ID the callee side sees (C flag)"),),
    requires=(TRANSACTIONS,),
    uses=(DIALOGS, RECORD_ROUTE),
    init=_init,
    doc="topology hiding: Via, Record-Route, Route and Contact hidden both ways",
)
