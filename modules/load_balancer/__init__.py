"""load_balancer: routing to the destination of a group with the most free capacity for the
resources a call needs, counted through dialog profiles (OpenSIPS 3.6 load_balancer): lb_start,
lb_next, lb_reset, lb_disable_dst, lb_is_destination, lb_count_call, probing and MI.

Not here: FreeSWITCH load fetching, clustering and blacklists (a load error when set).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pysips.core.host_addresses import canonical_ip
from pysips.core.periodic import Periodic
from pysips.core.services import DIALOGS, SHARED_STATE, TRANSACTIONS
from pysips.db.api import DbError, connect
from pysips.script.context import MsgContext, RouteType
from pysips.script.events import events_of
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
from pysips.script.param_checks import codes_check, parse_codes, unsupported
from pysips.script.pv_base import PVAccessor

from .data import resources_fixup
from .mi import MI_COMMANDS
from .runtime import EVENT, LoadBalancer, parse_flags
from .sharing import LbSharing

log = logging.getLogger("pysips.modules.load_balancer")


def _lb(ctx: MsgContext) -> LoadBalancer:
    return module_runtime(ctx.process, "load_balancer", LoadBalancer)


def _set_attrs(ctx: MsgContext, var: PVAccessor | None, attrs: str | None) -> None:
    if var is not None:
        var.set(ctx, attrs or "")


def w_lb_start(
    ctx: MsgContext,
    group: int,
    resources: list[str],
    flags: str | None = None,
    attrs: PVAccessor | None = None,
) -> int:
    code, dst = _lb(ctx).route(ctx, group, resources, parse_flags(flags), False)
    _set_attrs(ctx, attrs, dst.attrs if dst else None)
    return code if code < 0 else 1


def w_lb_next(ctx: MsgContext, attrs: PVAccessor | None = None) -> int:
    code, dst = _lb(ctx).route(ctx, -1, None, 0, True)
    _set_attrs(ctx, attrs, dst.attrs if dst else None)
    return code if code < 0 else 1


def w_lb_start_or_next(
    ctx: MsgContext,
    group: int,
    resources: list[str],
    flags: str | None = None,
    attrs: PVAccessor | None = None,
) -> int:
    if LoadBalancer.is_started(ctx):
        return w_lb_next(ctx, attrs)
    return w_lb_start(ctx, group, resources, flags, attrs)


def w_lb_reset(ctx: MsgContext) -> int:
    return _lb(ctx).reset(ctx)


def w_lb_is_started(ctx: MsgContext) -> int:
    return 1 if LoadBalancer.is_started(ctx) else -1


def w_lb_disable_dst(ctx: MsgContext) -> int:
    return _lb(ctx).disable_last(ctx)


def _ip(text: str) -> str | None:
    found = canonical_ip(text)
    if found is None:
        log.error("IP val is not IP <%s>", text)
    return found


def w_lb_is_destination(
    ctx: MsgContext,
    ip: str,
    port: int,
    group: int | None = None,
    active: int | None = None,
    attrs: PVAccessor | None = None,
) -> int:
    address = _ip(ip)
    if address is None:
        return -1
    dst = _lb(ctx).find(address, port, -1 if group is None else group, bool(active))
    _set_attrs(ctx, attrs, dst.attrs if dst else None)
    return 1 if dst is not None else -1


def w_lb_count_call(
    ctx: MsgContext, ip: str, port: int, group: int, resources: list[str], undo: int | None = None
) -> int:
    address = _ip(ip)
    if address is None:
        return -1
    return _lb(ctx).count_call(ctx, address, port, group, resources, bool(undo))


def _resources(value: Any, fctx: FixupContext) -> list[str]:
    return resources_fixup(value)


def _unsupported(name: str, harmless: Any = None) -> Callable[[Any], Any]:
    return unsupported("load_balancer", name, harmless)


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> LoadBalancer:
    url = params["db_url"] or (ictx.script.core.get("db_default_url") if ictx.script is not None else None)
    try:
        db = connect(str(url))
    except DbError as exc:
        raise RuntimeError(str(exc)) from None
    lb = LoadBalancer(db, str(params["db_table"]), ictx.require(DIALOGS))
    lb.probe_method, lb.probe_from = str(params["probing_method"]), str(params["probing_from"])
    lb.reply_codes = parse_codes(params["probing_reply_codes"])
    lb.verbose = bool(params["probing_verbose"])
    if not lb.reload(initial=True):
        raise RuntimeError("failed to load load balancing data")
    shared = ictx.get(SHARED_STATE)
    if shared is not None:  # worker processes: one set of states, probed by the main process
        LbSharing(lb, shared)
    events = events_of(ictx.process)
    if events is not None:
        events.publish(EVENT)
        lb.raise_event = events.raise_event
    interval = int(params["probing_interval"])
    if interval > 0:
        lb.tm = ictx.get(TRANSACTIONS)
        if lb.tm is None:
            raise RuntimeError("probing_interval needs the tm module (set it to 0 to run without)")
        if ictx.process.core is not None and lb.owner:  # a worker: the main process probes
            lb.probe_timer = Periodic(ictx.process.core, interval, lb.probe_round)
    return lb


def _destroy(runtime: object) -> None:
    if isinstance(runtime, LoadBalancer):
        if runtime.probe_timer is not None:
            runtime.probe_timer.cancel()
        runtime.db.close()


_S, _I, _V = ArgKind.STR, ArgKind.INT, ArgKind.VAR
_ROUTES = RouteType.REQUEST | RouteType.BRANCH | RouteType.FAILURE
_START_ARGS = (
    ArgSpec(_I, "grp"),
    ArgSpec(_S, "resources", fixup=_resources),
    ArgSpec(_S, "flags", optional=True),
    ArgSpec(_V, "attrs", optional=True),
)

exports = ModuleExports(
    "load_balancer",
    params=(
        ParamExport("db_url", ParamType.STR, None, doc="database (db_default_url when unset)"),
        ParamExport("db_table", ParamType.STR, "load_balancer", doc="the destinations table"),
        ParamExport("probing_interval", ParamType.INT, 30, doc="seconds between probes (0: none)"),
        ParamExport("probing_verbose", ParamType.INT, 0, doc="log state changes at INFO"),
        ParamExport("probing_method", ParamType.STR, "OPTIONS", doc="method of the probes"),
        ParamExport("probing_from", ParamType.STR, "sip:prober@localhost", doc="From of the probes"),
        ParamExport(
            "probing_reply_codes",
            ParamType.STR,
            None,
            check=codes_check("load_balancer", "probing_reply_codes"),
            doc="codes besides 200 that count as an answer",
        ),
        ParamExport(
            "lb_define_blacklist",
            ParamType.STR,
            multi=True,
            check=_unsupported("lb_define_blacklist"),
            doc="not supported",
        ),
        ParamExport("cluster_id", ParamType.INT, 0, check=_unsupported("cluster_id", 0), doc="not supported"),
        ParamExport(
            "cluster_sharing_tag",
            ParamType.STR,
            None,
            check=_unsupported("cluster_sharing_tag"),
            doc="not supported",
        ),
        ParamExport(
            "fetch_freeswitch_stats",
            ParamType.INT,
            0,
            check=_unsupported("fetch_freeswitch_stats", 0),
            doc="not supported",
        ),
        ParamExport("initial_freeswitch_load", ParamType.INT, 1000, doc="not used"),
    ),
    functions=(
        FunctionExport(
            "lb_start",
            w_lb_start,
            _START_ARGS,
            _ROUTES,
            doc="pick the least loaded destination; 1, -2 no capacity, -3 none, -4 bad resources",
        ),
        FunctionExport(
            "lb_start_or_next",
            w_lb_start_or_next,
            _START_ARGS,
            _ROUTES,
            doc="lb_next() when a session runs, lb_start() otherwise",
        ),
        FunctionExport(
            "load_balance", w_lb_start_or_next, _START_ARGS, _ROUTES, doc="old name of lb_start_or_next()"
        ),
        FunctionExport(
            "lb_next",
            w_lb_next,
            (ArgSpec(_V, "attrs", optional=True),),
            _ROUTES,
            doc="the next destination of the session",
        ),
        FunctionExport("lb_reset", w_lb_reset, (), _ROUTES, doc="end the session, uncount the call"),
        FunctionExport("lb_is_started", w_lb_is_started, (), _ROUTES, doc="is a session running"),
        FunctionExport(
            "lb_disable_dst", w_lb_disable_dst, (), _ROUTES, doc="disable the last used destination"
        ),
        FunctionExport(
            "lb_is_destination",
            w_lb_is_destination,
            (
                ArgSpec(_S, "ip"),
                ArgSpec(_I, "port"),
                ArgSpec(_I, "group", optional=True),
                ArgSpec(_I, "active", optional=True),
                ArgSpec(_V, "attrs", optional=True),
            ),
            _ROUTES | RouteType.ONREPLY | RouteType.LOCAL,
            doc="is ip:port a destination",
        ),
        FunctionExport(
            "lb_count_call",
            w_lb_count_call,
            (
                ArgSpec(_S, "ip"),
                ArgSpec(_I, "port"),
                ArgSpec(_I, "grp"),
                ArgSpec(_S, "resources", fixup=_resources),
                ArgSpec(_I, "undo", optional=True),
            ),
            _ROUTES,
            doc="count the call as load of a destination",
        ),
    ),
    requires=(DIALOGS,),
    uses=(TRANSACTIONS,),
    init=_init,
    destroy=_destroy,
    mi_commands=MI_COMMANDS,
    doc="load balancing over destinations by free capacity, counted with dialog profiles",
)
