"""rr: Record-Route and loose routing (OpenSIPS module `rr`).

record_route([params]) adds `Record-Route: <sip:ADDR;lr[;ftag=..][params]>` for the socket the
request came in on; when it leaves through another socket (protocol, address or port), a second
entry is added and both carry `r2=on` (enable_double_rr). The rendering for the outgoing socket
happens at send time: senders call `process.services.get(RECORD_ROUTE).finalize_for_socket(msg, socket)`.
loose_route() consumes our own Route entries and sets $du (or the R-URI for strict routers);
check_route_param(re), is_direction(dir) and $rr_params read the parameters of our Route entry.
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import RECORD_ROUTE
from pysips.script.ast import Pos
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
from pysips.script.pv_base import FuncPV, PVAccessor, PVError

from .loose import DOWNSTREAM, UPSTREAM, check_route_param, is_direction, loose_route, rr_params
from .record import add_rr_param, record_route, record_route_preset
from .runtime import RRConfig

_RR_ROUTES = RouteType.REQUEST | RouteType.BRANCH | RouteType.FAILURE


def _fix_direction(value: Any, fctx: FixupContext) -> int:
    if not int(fctx.params.get("append_fromtag", 1)):
        raise FixupError('is_direction() needs the "append_fromtag" parameter enabled')
    text = str(value).lower()
    if text.startswith("downstream"):
        return DOWNSTREAM
    if text.startswith("upstream"):
        return UPSTREAM
    raise FixupError(f"unknown direction {value!r} (use \"downstream\" or \"upstream\")")


def _rr_params_pv(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if subname is not None:
        raise PVError("$rr_params takes no name", pos)
    return FuncPV(name, rr_params)


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> RRConfig:
    script = ictx.script
    rr = RRConfig(
        append_fromtag=bool(int(params["append_fromtag"])),
        enable_double_rr=bool(int(params["enable_double_rr"])),
        add_username=bool(int(params["add_username"])),
        warn_mismatch=bool(int(params["enable_socket_mismatch_warning"])),
        script_myself=getattr(script, "myself", None),
    )
    ictx.provide(RECORD_ROUTE, rr)
    return rr


def _loose_route(ctx: MsgContext) -> int:
    return loose_route(ctx)


exports = ModuleExports(
    "rr",
    functions=(
        FunctionExport(
            "loose_route", _loose_route, (), RouteType.REQUEST,
            doc="route by the Route set (RFC 3261 16.12): true when the next hop comes from it",
        ),
        FunctionExport(
            "record_route", record_route, (ArgSpec(ArgKind.STR, "params", optional=True),), _RR_ROUTES,
            doc="add Record-Route for our socket(s), with optional ';name=value' parameters",
        ),
        FunctionExport(
            "record_route_preset",
            record_route_preset,
            (ArgSpec(ArgKind.STR, "address"), ArgSpec(ArgKind.STR, "address2", optional=True)),
            _RR_ROUTES,
            doc="add Record-Route with a given address (two entries when address2 is given)",
        ),
        FunctionExport(
            "add_rr_param", add_rr_param, (ArgSpec(ArgKind.STR, "param"),), _RR_ROUTES,
            doc="add ';name=value' to the Record-Route (before or after record_route())",
        ),
        FunctionExport(
            "check_route_param", check_route_param, (ArgSpec(ArgKind.REGEX, "re"),), RouteType.REQUEST,
            doc="after loose_route(): our Route's parameters match the regex",
        ),
        FunctionExport(
            "is_direction",
            is_direction,
            (ArgSpec(ArgKind.STR, "dir", static=True, fixup=_fix_direction),),
            RouteType.REQUEST,
            doc="after loose_route(): the request flows 'downstream' (caller to callee) or 'upstream'",
        ),
    ),
    params=(
        ParamExport("append_fromtag", ParamType.INT, 1, doc="add ;ftag=<From tag> to Record-Route"),
        ParamExport("enable_double_rr", ParamType.INT, 1, doc="two Record-Routes when sockets differ"),
        ParamExport("add_username", ParamType.INT, 0, doc="put the R-URI user in the Record-Route URI"),
        ParamExport(
            "enable_socket_mismatch_warning", ParamType.INT, 1,
            doc="warn when a double Route names no socket of ours",
        ),
    ),
    pvars=(PVarExport("rr_params", _rr_params_pv, doc="parameters of our Route entry, after loose_route()"),),
    provides=(RECORD_ROUTE,),
    init=_init,
    doc="Record-Route and loose routing.",
)
