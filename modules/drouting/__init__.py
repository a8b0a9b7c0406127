"""drouting: dynamic routing over gateways and carriers by caller group, number prefix, time
recurrence and priority (OpenSIPS 3.6 drouting, without partitions): do_routing, use_next_gw,
route_to_gw, route_to_carrier, is_from_gw, goes_to_gw, dr_is_gw, dr_disable, dr_match, probing,
states kept in the tables, MI.

Not here: partitions (use_partitions), quality-based sorting (qrouting), clustering, blacklists,
restart persistency — setting them is a load error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pysips.core.host_addresses import canonical_ip
from pysips.core.periodic import Periodic
from pysips.core.services import SHARED_STATE, TRANSACTIONS
from pysips.db.api import DbError, connect
from pysips.script.ast import RouteKind
from pysips.script.context import MsgContext, ProcessState, RouteType
from pysips.script.errors import FixupError
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
from pysips.sip.uri import SipUri, parse_uri

from .data import Tables
from .mi import MI_COMMANDS
from .routing import (
    EVENT,
    Avps,
    DRouting,
    parse_flags,
    parse_gw_flags,
    route_to_carriers,
    route_to_gateways,
)
from .sharing import DrSharing

log = logging.getLogger("pysips.modules.drouting")

FLUSH_INTERVAL = 30.0


def _dr(ctx: MsgContext) -> DRouting:
    return module_runtime(ctx.process, "drouting", DRouting)


Out = Callable[[str, str], None]


def _out(
    ctx: MsgContext,
    rule: PVAccessor | None = None,
    gw: PVAccessor | None = None,
    carrier: PVAccessor | None = None,
) -> Out:
    targets = {"rule": rule, "gw": gw, "carrier": carrier}

    def write(kind: str, value: str) -> None:
        var = targets.get(kind)
        if var is not None:
            var.set(ctx, value)

    return write


def w_do_routing(
    ctx: MsgContext,
    group: int | None = None,
    flags: int | None = None,
    whitelist: str | None = None,
    rule_attrs: PVAccessor | None = None,
    gw_attrs: PVAccessor | None = None,
    carrier_attrs: PVAccessor | None = None,
    partition: str | None = None,
) -> int:
    return _dr(ctx).do_routing(
        ctx, group, flags or 0, whitelist, _out(ctx, rule_attrs, gw_attrs, carrier_attrs)
    )


def w_use_next_gw(
    ctx: MsgContext,
    rule_attrs: PVAccessor | None = None,
    gw_attrs: PVAccessor | None = None,
    carrier_attrs: PVAccessor | None = None,
    partition: str | None = None,
) -> int:
    return _dr(ctx).use_next_gw(ctx, _out(ctx, rule_attrs, gw_attrs, carrier_attrs))


def w_route_to_gw(
    ctx: MsgContext,
    ids: str,
    gw_attrs: PVAccessor | None = None,
    carrier_attrs: PVAccessor | None = None,
    partition: str | None = None,
) -> int:
    return route_to_gateways(_dr(ctx), ctx, ids, _out(ctx, None, gw_attrs, carrier_attrs))


def w_route_to_carrier(
    ctx: MsgContext,
    ids: str,
    gw_attrs: PVAccessor | None = None,
    carrier_attrs: PVAccessor | None = None,
    partition: str | None = None,
) -> int:
    return route_to_carriers(_dr(ctx), ctx, ids, _out(ctx, None, gw_attrs, carrier_attrs))


def _check(
    ctx: MsgContext,
    ip: str,
    port: int,
    proto: str | None,
    gtype: int | None,
    flags: int | None,
    gw_attrs: PVAccessor | None,
    carrier_attrs: PVAccessor | None,
) -> int:
    dr = _dr(ctx)
    gw = dr.find_gateway(ip, port, proto, -1 if gtype is None else gtype, flags or 0)
    if gw is None:
        return -1
    dr.apply_match(ctx, gw, flags or 0, _out(ctx, None, gw_attrs, carrier_attrs))
    return 1


def w_is_from_gw(
    ctx: MsgContext,
    gtype: int | None = None,
    flags: int | None = None,
    gw_attrs: PVAccessor | None = None,
    carrier_attrs: PVAccessor | None = None,
    partition: str | None = None,
) -> int:
    rcv = ctx.rcv
    if rcv is None:
        return -1
    return _check(
        ctx,
        canonical_ip(rcv.src_ip) or rcv.src_ip,
        rcv.src_port,
        rcv.proto,
        gtype,
        flags,
        gw_attrs,
        carrier_attrs,
    )


def _uri_target(ctx: MsgContext, text: str | None) -> tuple[str, int, str | None] | None:
    """The IP, port and protocol a URI points to (a name resolved as OpenSIPS's sip_resolvehost,
    through the core's resolver: only this message waits for the DNS answer)."""
    uri = parse_uri(text.strip()) if text else None
    if not isinstance(uri, SipUri):
        log.error("invalid sip uri <%s>", text)
        return None
    ip = canonical_ip(uri.bare_host)
    if ip is None:
        core = ctx.process.core
        found = core.resolve_host(uri.transport or "udp", uri.bare_host, uri.port or 5060) if core else []
        if not found:
            log.debug("resolve_host(%s) failure", uri.host)
            return None
        ip = found[0].ip
    return ip, uri.port or 0, uri.transport


def w_goes_to_gw(
    ctx: MsgContext,
    gtype: int | None = None,
    flags: int | None = None,
    gw_attrs: PVAccessor | None = None,
    carrier_attrs: PVAccessor | None = None,
    partition: str | None = None,
) -> int:
    from pysips.script.corefuncs import current_ruri

    target = _uri_target(ctx, ctx.dst_uri or current_ruri(ctx))
    if target is None:
        log.error("failed to extract IP/port from msg destination")
        return -1
    return _check(ctx, *target, gtype, flags, gw_attrs, carrier_attrs)


def w_dr_is_gw(
    ctx: MsgContext,
    uri: str,
    gtype: int | None = None,
    flags: int | None = None,
    gw_attrs: PVAccessor | None = None,
    carrier_attrs: PVAccessor | None = None,
    partition: str | None = None,
) -> int:
    target = _uri_target(ctx, uri)
    if target is None:
        log.error("failed to extract IP/port from uri <%s>", uri)
        return -1
    return _check(ctx, *target, gtype, flags, gw_attrs, carrier_attrs)


def w_dr_disable(ctx: MsgContext, partition: str | None = None) -> int:
    return _dr(ctx).disable_current(ctx)


def w_dr_match(
    ctx: MsgContext,
    group: int,
    flags: int | None,
    number: str,
    rule_attrs: PVAccessor | None = None,
    partition: str | None = None,
) -> int:
    dr = _dr(ctx)
    found = dr.data.find(number, group, 0, ctx.now, bool((flags or 0) & 2))
    if found is None:
        return -1
    rule, length, _ = found
    if dr.avps.rule_prefix:
        ctx.avps.setdefault(dr.avps.rule_prefix, []).insert(0, number[:length])
    if rule_attrs is not None:
        rule_attrs.set(ctx, rule.attrs or "")
    if dr.avps.rule_id:
        ctx.avps.setdefault(dr.avps.rule_id, []).insert(0, rule.id)
    return 1


def _flags(value: Any, fctx: FixupContext) -> int:
    return parse_flags(str(value))


def _gw_flags(value: Any, fctx: FixupContext) -> int:
    return parse_gw_flags(str(value))


def _partition(value: Any, fctx: FixupContext) -> Any:
    if value:
        raise FixupError("drouting: partitions are not supported by pysips yet (use_partitions is 0)")
    return value


def _unsupported(name: str, harmless: Any = None) -> Callable[[Any], Any]:
    return unsupported("drouting", name, harmless)


def _avp(value: Any) -> Any:
    text = str(value).strip()
    if not (text.startswith("$avp(") and text.endswith(")")):
        raise FixupError(f"drouting: {value!r} is not an AVP")
    return text[5:-1].strip()


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> DRouting:
    url = params["db_url"] or (ictx.script.core.get("db_default_url") if ictx.script is not None else None)
    if not url:
        raise RuntimeError("no db_url")
    try:
        db = connect(str(url))
    except DbError as exc:
        raise RuntimeError(str(exc)) from None
    avps = Avps()
    for key in ("ruri", "gw_id", "gw_sock", "gw_priprefix", "rule_id", "rule_prefix", "carrier_id"):
        if params.get(f"{key}_avp"):
            setattr(avps, key, params[f"{key}_avp"])
    dr = DRouting(
        db, Tables(params["drd_table"], params["drr_table"], params["drc_table"], params["drg_table"]), avps
    )
    dr.persistent_state = bool(params["persistent_state"])
    dr.force_dns = bool(params["force_dns"])
    dr.extra_id_chars = str(params["extra_id_chars"] or "")
    dr.extra_prefix_chars = str(params["extra_prefix_chars"] or "")
    dr.default_group = None if params["default_group"] in (None, -1) else int(params["default_group"])
    dr.use_domain = bool(params["use_domain"])
    dr.probe_method, dr.probe_from = str(params["probing_method"]), str(params["probing_from"])
    dr.probe_socket = params["probing_socket"] or None
    dr.reply_codes = parse_codes(params["probing_reply_codes"])
    script = ictx.script
    if script is not None:
        dr.route_exists = lambda name: script.route(RouteKind.REQUEST, name) is not None

        def run_route(ctx: MsgContext, name: str) -> int:
            route = script.route(RouteKind.REQUEST, name)
            if route is None:
                return 1
            saved = ctx.action_flags
            ctx.action_flags = 0
            route.run(ctx)
            dropped = ctx.dropped
            ctx.action_flags = saved
            return -1 if dropped else 1

        dr.run_route = run_route
    core = ictx.process.core
    if not dr.reload(core.wall_time() if core is not None else time.time(), inherit=False):
        raise RuntimeError("failed to load routing data")
    shared = ictx.get(SHARED_STATE)
    if shared is not None:  # worker processes: one set of states, probed by the main process
        DrSharing(dr, shared)
    events = events_of(ictx.process)
    if events is not None:
        events.publish(EVENT)
        dr.raise_event = events.raise_event
    interval = int(params["probing_interval"])
    if interval > 0:
        dr.tm = ictx.get(TRANSACTIONS)
        if dr.tm is None:
            raise RuntimeError("probing_interval needs the tm module (set it to 0 to run without)")
    _start_timers(ictx.process, dr, interval)
    return dr


def _start_timers(process: ProcessState, dr: DRouting, interval: int) -> None:
    core = process.core
    if core is None or not dr.owner:  # a worker: the main process writes back and probes
        return
    dr.timers.append(Periodic(core, FLUSH_INTERVAL, dr.flush))
    if interval > 0:
        dr.timers.append(Periodic(core, interval, dr.probe_round))


def _destroy(runtime: object) -> None:
    if isinstance(runtime, DRouting):
        for timer in runtime.timers:
            timer.cancel()
        runtime.flush()
        runtime.db.close()


_S, _I, _V = ArgKind.STR, ArgKind.INT, ArgKind.VAR
_PART = ArgSpec(_S, "partition", optional=True, fixup=_partition)
_GWF = ArgSpec(_S, "flags", optional=True, fixup=_gw_flags)
_VAR = ArgSpec(_V, "attrs", optional=True)
_ALL = RouteType.ALL
_CHECK_ROUTES = RouteType.REQUEST | RouteType.FAILURE | RouteType.BRANCH | RouteType.ONREPLY


def _p(
    name: str, kind: ParamType, default: Any, doc: str, check: Callable[[Any], Any] | None = None
) -> ParamExport:
    return ParamExport(name, kind, default, check=check, doc=doc)


_ST, _IN = ParamType.STR, ParamType.INT

exports = ModuleExports(
    "drouting",
    params=(
        _p("use_partitions", _IN, 0, "not supported", _unsupported("use_partitions", 0)),
        _p("db_partitions_url", _ST, None, "not supported", _unsupported("db_partitions_url")),
        _p("db_partitions_table", _ST, None, "not supported", _unsupported("db_partitions_table")),
        _p("db_url", _ST, None, "database (db_default_url when unset)"),
        _p("drd_table", _ST, "dr_gateways", "gateways table"),
        _p("drr_table", _ST, "dr_rules", "rules table"),
        _p("drg_table", _ST, "dr_groups", "groups table"),
        _p("drc_table", _ST, "dr_carriers", "carriers table"),
        _p("use_domain", _IN, 1, "match the caller's domain in dr_groups"),
        _p("drg_user_col", _ST, "username", "column", _unsupported("drg_user_col", "username")),
        _p("drg_domain_col", _ST, "domain", "column", _unsupported("drg_domain_col", "domain")),
        _p("drg_grpid_col", _ST, "groupid", "column", _unsupported("drg_grpid_col", "groupid")),
        _p("ruri_avp", _ST, None, "AVP of the next R-URIs", _avp),
        _p("gw_id_avp", _ST, None, "AVP of the gateway ids", _avp),
        _p("gw_priprefix_avp", _ST, None, "AVP of the gateway prefixes", _avp),
        _p("gw_sock_avp", _ST, None, "AVP of the gateway sockets", _avp),
        _p("rule_id_avp", _ST, None, "AVP of the matched rule id", _avp),
        _p("rule_prefix_avp", _ST, None, "AVP of the matched prefix", _avp),
        _p("carrier_id_avp", _ST, None, "AVP of the carrier ids", _avp),
        _p("force_dns", _IN, 1, "a gateway that does not resolve is not loaded"),
        _p("default_group", _IN, -1, "group of callers not in dr_groups"),
        ParamExport(
            "define_blacklist", _ST, multi=True, check=_unsupported("define_blacklist"), doc="not supported"
        ),
        _p("probing_interval", _IN, 30, "seconds between probes (0: none)"),
        _p("probing_method", _ST, "OPTIONS", "method of the probes"),
        _p("probing_from", _ST, "sip:prober@localhost", "From of the probes"),
        _p("probing_socket", _ST, None, "socket the probes leave from"),
        _p(
            "probing_reply_codes",
            _ST,
            None,
            "codes besides 200 that count as an answer",
            codes_check("drouting", "probing_reply_codes"),
        ),
        _p("persistent_state", _IN, 1, "load and write back the state columns"),
        _p("rule_tables_query", _ST, None, "not supported", _unsupported("rule_tables_query")),
        _p("no_concurrent_reload", _IN, 0, "reloads are sequential here anyway"),
        _p("partition_id_pvar", _ST, None, "not supported", _unsupported("partition_id_pvar")),
        _p("cluster_id", _IN, 0, "not supported", _unsupported("cluster_id", 0)),
        _p("cluster_sharing_tag", _ST, None, "not supported", _unsupported("cluster_sharing_tag")),
        _p("cluster_probing_mode", _ST, None, "not supported", _unsupported("cluster_probing_mode")),
        _p(
            "enable_restart_persistency",
            _IN,
            0,
            "not supported",
            _unsupported("enable_restart_persistency", 0),
        ),
        _p("extra_prefix_chars", _ST, None, "characters besides digits allowed in prefixes"),
        _p("extra_id_chars", _ST, None, "characters besides letters and digits allowed in ids"),
        _p("gw_socket_filter_mode", _ST, None, "not supported", _unsupported("gw_socket_filter_mode")),
        _p("generate_data_checksum", _IN, 0, "not used"),
    ),
    functions=(
        FunctionExport(
            "do_routing",
            w_do_routing,
            (
                ArgSpec(_I, "groupID", optional=True),
                ArgSpec(_S, "flags", optional=True, fixup=_flags),
                ArgSpec(_S, "gw_whitelist", optional=True),
                _VAR,
                _VAR,
                _VAR,
                _PART,
            ),
            _ALL,
            doc="route by group, prefix and time: R-URI to the first gateway, the others kept",
        ),
        FunctionExport(
            "use_next_gw",
            w_use_next_gw,
            (_VAR, _VAR, _VAR, _PART),
            RouteType.REQUEST | RouteType.FAILURE | RouteType.LOCAL | RouteType.BRANCH,
            doc="the R-URI of the next gateway",
        ),
        FunctionExport(
            "route_to_gw",
            w_route_to_gw,
            (ArgSpec(_S, "gw_id"), _VAR, _VAR, _PART),
            _ALL,
            doc="route to the given gateways",
        ),
        FunctionExport(
            "route_to_carrier",
            w_route_to_carrier,
            (ArgSpec(_S, "carriers"), _VAR, _VAR, _PART),
            _ALL,
            doc="route to the gateways of the given carriers",
        ),
        FunctionExport(
            "is_from_gw",
            w_is_from_gw,
            (ArgSpec(_I, "type", optional=True), _GWF, _VAR, _VAR, _PART),
            _CHECK_ROUTES,
            doc="does the request come from a gateway",
        ),
        FunctionExport(
            "goes_to_gw",
            w_goes_to_gw,
            (ArgSpec(_I, "type", optional=True), _GWF, _VAR, _VAR, _PART),
            _CHECK_ROUTES | RouteType.LOCAL,
            doc="does the request go to a gateway",
        ),
        FunctionExport(
            "dr_is_gw",
            w_dr_is_gw,
            (ArgSpec(_S, "sip_uri"), ArgSpec(_I, "type", optional=True), _GWF, _VAR, _VAR, _PART),
            _ALL,
            doc="is the URI's host a gateway",
        ),
        FunctionExport(
            "dr_disable",
            w_dr_disable,
            (_PART,),
            _CHECK_ROUTES | RouteType.LOCAL,
            doc="disable the gateway in use",
        ),
        FunctionExport(
            "dr_match",
            w_dr_match,
            (
                ArgSpec(_I, "groupID"),
                ArgSpec(_S, "flags", optional=True, fixup=_flags),
                ArgSpec(_S, "number"),
                _VAR,
                _PART,
            ),
            _CHECK_ROUTES | RouteType.LOCAL,
            doc="does a number match a rule",
        ),
    ),
    uses=(TRANSACTIONS,),
    init=_init,
    destroy=_destroy,
    mi_commands=MI_COMMANDS,
    doc="dynamic routing over gateways and carriers by prefix, time and priority",
)
