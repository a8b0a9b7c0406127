"""nathelper: NAT traversal helpers (OpenSIPS module `nathelper`).

fix_nated_contact() puts the source address into the Contact (and into what save() stores),
fix_nated_register() hands the source to registrar through `received_avp`, nat_uac_test() tells
whether the sender is behind a NAT (3.x test names or the 2.x number), add_rcv_param() adds a
`received` parameter, fix_nated_sdp() rewrites the SDP (see sdp_fix.py). With natping_interval,
registered contacts get keepalives (see pinger.py).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from pysips.core.services import LOCATION, SHARED_STATE
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
from pysips.script.pv_vars import avp_key
from pysips.sip.message import SipMessage

from .contact_fix import add_rcv_param, fix_nated_contact, received_uri
from .pinger import PingConfig, Pinger
from .sdp_fix import FIX_MEDIP, FIX_ORGIP, fix_message_sdp, parse_oldip_skip, parse_sdp_flags
from .uac_test import nat_uac_test, parse_flags

log = logging.getLogger("pysips.nathelper")

__all__ = ["NatHelper", "exports"]


class NatHelper:
    """What process.modules["nathelper"] holds."""

    __slots__ = ("nortpproxy", "oldip_skip", "pinger", "received_avp")

    def __init__(self, received_avp: str | None, pinger: Pinger, nortpproxy: str = "a=nortpproxy:yes",
                 oldip_skip: int = 0) -> None:
        self.received_avp = received_avp
        self.pinger = pinger
        self.nortpproxy = nortpproxy
        self.oldip_skip = oldip_skip


def _ready(ctx: MsgContext, name: str) -> SipMessage | None:
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or ctx.rcv is None:
        log.error("%s: no message to work on", name)
        return None
    return msg


def w_fix_nated_contact(ctx: MsgContext, params: str | None = None, flags: int | None = None) -> int:
    msg = _ready(ctx, "fix_nated_contact")
    if msg is None or ctx.rcv is None:
        return -1
    return fix_nated_contact(msg, ctx.rcv, ctx.extra, params or None, bool(flags))


def w_fix_nated_register(ctx: MsgContext) -> int:
    msg = _ready(ctx, "fix_nated_register")
    if msg is None or ctx.rcv is None:
        return -1
    nh = ctx.process.modules.get("nathelper")
    key = nh.received_avp if isinstance(nh, NatHelper) else None
    if key is None:
        log.error("fix_nated_register: set modparam(\"nathelper\", \"received_avp\", ...) first")
        return -1
    ctx.avps.setdefault(key, []).insert(0, received_uri(ctx.rcv))
    return 1


def w_nat_uac_test(ctx: MsgContext, flags: int) -> int:
    msg = _ready(ctx, "nat_uac_test")
    if msg is None or ctx.rcv is None:
        return -1
    return nat_uac_test(msg, ctx.rcv, flags)


def w_add_rcv_param(ctx: MsgContext, flag: int | None = None) -> int:
    msg = _ready(ctx, "add_rcv_param")
    if msg is None or ctx.rcv is None:
        return -1
    return add_rcv_param(msg, ctx.rcv, bool(flag))


def w_fix_nated_sdp(ctx: MsgContext, flags: int, ip: str | None = None, lines: str | None = None) -> int:
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        log.error("fix_nated_sdp: no message to work on")
        return -1
    nh = ctx.process.modules.get("nathelper")
    nortpproxy = nh.nortpproxy if isinstance(nh, NatHelper) else "a=nortpproxy:yes"
    skip = nh.oldip_skip if isinstance(nh, NatHelper) else 0
    new_ip = ip or (ctx.rcv.src_ip if ctx.rcv is not None else "")
    if not new_ip and flags & (FIX_MEDIP | FIX_ORGIP):
        log.error("fix_nated_sdp: no source address to write")
        return -1
    return fix_message_sdp(msg, flags, new_ip, nortpproxy, lines or None, skip)


def _sdp_flags(value: Any, fctx: FixupContext) -> int:
    try:
        return parse_sdp_flags(value)
    except FixupError as exc:
        raise FixupError(exc.message, fctx.pos) from None


def _uac_flags(value: Any, fctx: FixupContext) -> int:
    try:
        return parse_flags(value)
    except FixupError as exc:
        raise FixupError(exc.message, fctx.pos) from None


def _contact_flags(value: Any, fctx: FixupContext) -> int:
    text = str(value or "").strip()
    if text in ("", "0"):
        return 0
    if text == "preserve-uri":
        return 1
    raise FixupError(f"fix_nated_contact: unknown flag {text!r} (preserve-uri)", fctx.pos)


def _threshold(threshold: int, interval: int) -> int:
    if interval and threshold > interval:
        log.warning("Maximum ping threshold must be smaller than the interval between two pings! "
                    "Setting threshold to half the ping interval!")
        return interval // 2
    return threshold


def _check_oldip_skip(value: Any) -> str:
    parse_oldip_skip(value)
    return str(value)


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> NatHelper:
    rcv = params.get("received_avp")
    sipping = params.get("sipping_bflag")
    remove = params.get("remove_on_timeout_bflag")
    config = PingConfig(
        interval=int(params.get("natping_interval") or 0),
        nated_only=bool(params.get("ping_nated_only") or 0),
        sipping_flag=(1 << int(sipping)) if sipping is not None else 0,
        sipping_from=str(params["sipping_from"]) if params.get("sipping_from") else None,
        sipping_method=str(params.get("sipping_method") or "OPTIONS"),
        ping_tcp=bool(params.get("natping_tcp") or 0),
        remove_flag=(1 << int(remove)) if remove is not None else 0,
        ping_threshold=_threshold(int(params.get("ping_threshold") or 3),
                                  int(params.get("natping_interval") or 0)),
        max_pings_lost=int(params.get("max_pings_lost") or 3),
    )
    shared = mctx.get(SHARED_STATE)
    if shared is not None and not shared.owner:
        # with worker processes the owner of usrloc's tables pings them, once (OpenSIPS's timer
        # process does); a worker's pinger stays idle
        config = dataclasses.replace(config, interval=0)
    return NatHelper(avp_key(str(rcv)) if rcv else None, Pinger(config, mctx.process),
                     str(params.get("nortpproxy_str") or ""), parse_oldip_skip(params.get("oldip_skip")))


_MSG_ROUTES = RouteType.REQUEST | RouteType.ONREPLY | RouteType.FAILURE | RouteType.BRANCH

exports = ModuleExports(
    "nathelper",
    functions=(
        FunctionExport(
            "fix_nated_contact", w_fix_nated_contact,
            (ArgSpec(ArgKind.STR, "uri_params", optional=True),
             ArgSpec(ArgKind.STR, "flags", optional=True, static=True, fixup=_contact_flags)),
            route_types=RouteType.REQUEST | RouteType.ONREPLY | RouteType.BRANCH,
            doc="put the source ip:port into the Contact URI",
        ),
        FunctionExport("fix_nated_register", w_fix_nated_register, route_types=RouteType.REQUEST,
                       doc="store the source URI in received_avp for save()"),
        FunctionExport("nat_uac_test", w_nat_uac_test,
                       (ArgSpec(ArgKind.STR, "flags", fixup=_uac_flags),), route_types=_MSG_ROUTES,
                       doc="true when any of the given NAT tests matches"),
        FunctionExport("add_rcv_param", w_add_rcv_param, (ArgSpec(ArgKind.INT, "flag", optional=True),),
                       route_types=RouteType.REQUEST, doc="add received=\"source URI\" to each Contact"),
        FunctionExport(
            "fix_nated_sdp", w_fix_nated_sdp,
            (ArgSpec(ArgKind.STR, "flags", fixup=_sdp_flags), ArgSpec(ArgKind.STR, "ip", optional=True),
             ArgSpec(ArgKind.STR, "sdp_fields", optional=True)),
            route_types=_MSG_ROUTES | RouteType.LOCAL,
            doc="rewrite SDP addresses to the source (or given) IP, add a=direction:active ...",
        ),
        FunctionExport("restore_nated_ruri", w_nat_uac_test, missing="restore_nated_ruri() of nathelper"),
    ),
    params=(
        ParamExport("natping_interval", ParamType.INT, 0, doc="seconds between NAT pings (0: off)"),
        ParamExport("ping_nated_only", ParamType.INT, 0, doc="ping only contacts with usrloc's nat_bflag"),
        ParamExport("received_avp", ParamType.STR, None, doc="AVP for fix_nated_register()"),
        ParamExport("sipping_bflag", ParamType.BFLAG, None, doc="contacts pinged with SIP requests"),
        ParamExport("sipping_from", ParamType.STR, None, doc="From URI of the SIP pings"),
        ParamExport("remove_on_timeout_bflag", ParamType.BFLAG, None,
                    doc="bindings with this flag are deleted after max_pings_lost unanswered SIP pings"),
        ParamExport("ping_threshold", ParamType.INT, 3, doc="seconds a SIP ping may stay unanswered"),
        ParamExport("max_pings_lost", ParamType.INT, 3, doc="unanswered pings before a binding is removed"),
        ParamExport("sipping_method", ParamType.STR, "OPTIONS"),
        ParamExport("natping_tcp", ParamType.INT, 0, doc="also ping TCP/TLS/WS contacts"),
        ParamExport("nortpproxy_str", ParamType.STR, "a=nortpproxy:yes",
                    doc="the SDP line fix_nated_sdp(add-no-rtpproxy) adds (empty: none)"),
        ParamExport("oldip_skip", ParamType.STR, None, check=_check_oldip_skip,
                    doc="c and/or o: no a=oldcip/a=oldoip line for rewritten addresses"),
    ),
    uses=(LOCATION,),  # the bindings to ping (OpenSIPS needs usrloc when pinging is on)
    init=_init,
    doc="NAT traversal helpers",
)
