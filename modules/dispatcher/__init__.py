"""dispatcher: destination sets loaded from the `dispatcher` table, picked by OpenSIPS 3.6's
algorithms (hash over Call-ID, From, To, R-URI, auth username or a format; round robin; random;
first entry), with failover lists, destination states, OPTIONS probing and MI.

Algorithms 9 (`pvar_algo_pattern`: ascending value of a variable per destination) and 10
(`algo_route`: ascending return value of a script route per destination) sort the set.

Not here: FreeSWITCH weights, clustering and blacklists; naming them is a load error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pysips.core.periodic import Periodic
from pysips.core.services import SHARED_STATE, TRANSACTIONS
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
from pysips.script.param_checks import codes_check, parse_codes, unsupported
from pysips.script.pv_base import PVAccessor
from pysips.script.pvparam import compile_param_pv

from . import functions as f
from .loading import Columns
from .mi import MI_COMMANDS
from .partitions import partition_configs
from .rotation_sharing import RotationSharing
from .runtime import EVENT, FLUSH_INTERVAL, Dispatcher, ProbeConfig
from .sets import Destination, DsSet
from .sharing import DsSharing

log = logging.getLogger("pysips.modules.dispatcher")


class _Settings:
    """What the handlers need besides the runtime: compiled once at init."""

    hash_pvar: Callable[[MsgContext], str] | None = None
    setid_pv: PVAccessor | None = None
    scorers: dict[int, f.Scorer | None] = {}


def _settings(ctx: MsgContext) -> _Settings:
    found = f.dispatcher_of(ctx).settings
    assert isinstance(found, _Settings)
    return found


def w_ds_select_dst(
    ctx: MsgContext,
    set_id: int,
    alg: int,
    flags: int | None = None,
    partition: str | None = None,
    max_results: int | None = None,
) -> int:
    settings = _settings(ctx)
    return f.ds_select(
        ctx, set_id, alg, flags or 0, partition, max_results, False, settings.hash_pvar, settings.scorers
    )


def w_ds_select_domain(
    ctx: MsgContext,
    set_id: int,
    alg: int,
    flags: int | None = None,
    partition: str | None = None,
    max_results: int | None = None,
) -> int:
    settings = _settings(ctx)
    return f.ds_select(
        ctx, set_id, alg, flags or 0, partition, max_results, True, settings.hash_pvar, settings.scorers
    )


def w_ds_next_dst(ctx: MsgContext, partition: str | None = None) -> int:
    return f.ds_next(ctx, partition, False)


def w_ds_next_domain(ctx: MsgContext, partition: str | None = None) -> int:
    return f.ds_next(ctx, partition, True)


def w_ds_mark_dst(ctx: MsgContext, state: str | None = None, partition: str | None = None) -> int:
    return f.ds_mark(ctx, state, partition)


def w_ds_count(
    ctx: MsgContext, set_id: int, filt: int, result: PVAccessor, partition: str | None = None
) -> int:
    return f.ds_count(ctx, set_id, filt, result, partition)


def w_ds_is_in_list(
    ctx: MsgContext,
    ip: str,
    port: int,
    set_id: int | None = None,
    partition: str | None = None,
    active_only: int | None = None,
    pattern: str | None = None,
) -> int:
    return f.ds_is_in_list(ctx, ip, port, set_id, partition, active_only, pattern, _settings(ctx).setid_pv)


def w_ds_push_script_attrs(
    ctx: MsgContext, attrs: str, ip: str, port: int, set_id: int, partition: str | None = None
) -> int:
    return f.ds_push_script_attrs(ctx, attrs, ip, port, set_id, partition)


def w_ds_get_script_attrs(
    ctx: MsgContext, uri: str, set_id: int, partition: str | None, out: PVAccessor
) -> int:
    return f.ds_get_script_attrs(ctx, uri, set_id, partition, out)


def _flags_fixup(value: Any, fctx: FixupContext) -> int:
    return f.parse_flags(value)


def _count_fixup(value: Any, fctx: FixupContext) -> int:
    return f.parse_count_filter(value)


def _unsupported(name: str, harmless: Any = None) -> Callable[[Any], Any]:
    return unsupported("dispatcher", name, harmless)


def _int_list(text: str | None) -> frozenset[int] | None:
    if not text:
        return None
    return frozenset(int(p) for p in str(text).split(",") if p.strip())


def _check_int_list(value: Any) -> Any:
    try:
        _int_list(str(value))
    except ValueError:
        raise FixupError(f"dispatcher: bad list of set ids {value!r}") from None
    return value


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Dispatcher:
    core = ictx.script.core if ictx.script is not None else {}
    configs = partition_configs(params, core.get("db_default_url"))
    columns = Columns(
        params["setid_col"],
        params["destination_col"],
        params["socket_col"],
        params["weight_col"],
        params["attrs_col"],
        params["priority_col"],
        params["description_col"],
        params["probe_mode_col"],
        params["state_col"],
    )
    probe = ProbeConfig(
        interval=int(params["ds_ping_interval"]),
        threshold=int(
            params["ds_probing_threshold"]
            if params.get("ds_probing_threshold") is not None
            else params["ds_probing_threshhold"]
        ),
        mode=int(params["ds_probing_mode"]),
        method=params["ds_ping_method"],
        from_uri=params["ds_ping_from"],
        sock=params["ds_probing_sock"] or None,
        reply_codes=parse_codes(params["options_reply_codes"]),
        probing_list=_int_list(params["ds_probing_list"]),
    )
    runtime = Dispatcher(configs, columns, probe)
    settings = _Settings()
    if params["hash_pvar"]:
        settings.hash_pvar = _template(str(params["hash_pvar"]), ictx)
    if params["setid_pvar"]:
        settings.setid_pv = compile_param_pv(
            str(params["setid_pvar"]), "setid_pvar", ictx.pv_registry, writable=True
        )
    settings.scorers = {
        9: _pvar_scorer(params["pvar_algo_pattern"], ictx),
        10: _route_scorer(params["algo_route"], ictx),
    }
    runtime.settings = settings
    runtime.open()
    shared = ictx.get(SHARED_STATE)
    if shared is not None:  # worker processes: one set of states, probed by the main process
        DsSharing(runtime, shared)
        RotationSharing(runtime, shared)  # and one round-robin position per set
    events = events_of(ictx.process)
    if events is not None:
        events.publish(EVENT)
        runtime.raise_event = events.raise_event
    if probe.interval > 0:
        runtime.tm = ictx.get(TRANSACTIONS)
        if runtime.tm is None:
            raise RuntimeError("ds_ping_interval needs the tm module")
    _start_timers(ictx.process, runtime)
    return runtime


def _template(text: str, ictx: ModuleInitContext) -> Callable[[MsgContext], str]:
    from pysips.script.ast import NOWHERE, StrLit
    from pysips.script.parse_pv import string_value
    from pysips.script.pv import compile_template
    from pysips.script.pv_base import PVError
    from pysips.script.pvparam import core_registry

    node = string_value(text, NOWHERE, lambda _k: NOWHERE)
    if isinstance(node, StrLit):
        constant = node.value
        return lambda ctx: constant
    try:
        return compile_template(node, ictx.pv_registry if ictx.pv_registry is not None else core_registry())
    except PVError as exc:
        raise FixupError(f"hash_pvar {text!r}: {exc.message}") from None


def _pvar_scorer(pattern: str | None, ictx: ModuleInitContext) -> f.Scorer | None:
    """Algorithm 9: the variable named by the pattern, %u the destination's URI, %i its set."""
    if not pattern:
        return None
    compiled: dict[str, PVAccessor | None] = {}

    def score(ctx: MsgContext, ds_set: DsSet, dest: Destination) -> int | None:
        name = str(pattern).replace("%u", dest.uri).replace("%i", str(ds_set.id))
        if name not in compiled:
            try:
                compiled[name] = compile_param_pv(name, "pvar_algo_pattern", ictx.pv_registry)
            except FixupError as exc:
                log.error("cannot parse pvar for uri %s: %s", dest.uri, exc)
                compiled[name] = None
        accessor = compiled[name]
        if accessor is None:
            return None
        value = accessor.get(ctx)
        if value is None:
            return 0
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            log.error("invalid pvar value type - not int")
            return None

    return score


def _route_scorer(name: str | None, ictx: ModuleInitContext) -> f.Scorer | None:
    """Algorithm 10: the return value of `algo_route`, run with $param(dst_uri/attrs/script_attrs)
    (also $param(1..3)) for each active destination."""
    script = ictx.script
    if not name or script is None:
        return None
    from pysips.script.ast import RouteKind

    def score(ctx: MsgContext, ds_set: DsSet, dest: Destination) -> int | None:
        route = script.route(RouteKind.REQUEST, str(name))
        if route is None:
            log.error("Undefined route <%s>, failing", name)
            return -1
        saved = (ctx.params, ctx.event_params, ctx.action_flags)
        ctx.params = (dest.dst_uri, dest.attrs, dest.script_attrs)
        ctx.event_params = {"dst_uri": dest.dst_uri, "attrs": dest.attrs, "script_attrs": dest.script_attrs}
        ctx.action_flags = 0
        try:
            result = route.run(ctx)
        finally:
            ctx.params, ctx.event_params, ctx.action_flags = saved
        return int(result)

    return score


def _start_timers(process: ProcessState, runtime: Dispatcher) -> None:
    core = process.core
    if core is None or not runtime.owner:  # a worker: the main process writes back and probes
        return
    runtime.timers.append(Periodic(core, FLUSH_INTERVAL, runtime.flush))
    if runtime.probe.interval > 0:
        runtime.timers.append(Periodic(core, runtime.probe.interval, runtime.probe_round))


def _destroy(runtime: object) -> None:
    if isinstance(runtime, Dispatcher):
        for timer in runtime.timers:
            timer.cancel()
        runtime.close()


_S, _I = ArgKind.STR, ArgKind.INT
_SELECT_ARGS = (
    ArgSpec(_I, "set"),
    ArgSpec(_I, "alg"),
    ArgSpec(_S, "flags", optional=True, fixup=_flags_fixup),
    ArgSpec(_S, "partition", optional=True),
    ArgSpec(_I, "max_results", optional=True),
)
_PART = ArgSpec(_S, "partition", optional=True)
_SELECT_ROUTES = RouteType.REQUEST | RouteType.BRANCH | RouteType.FAILURE | RouteType.LOCAL
_NEXT_ROUTES = RouteType.REQUEST | RouteType.FAILURE


def _p(
    name: str, kind: ParamType, default: Any, doc: str, check: Callable[[Any], Any] | None = None
) -> ParamExport:
    return ParamExport(name, kind, default, check=check, doc=doc)


_STR, _INT = ParamType.STR, ParamType.INT

exports = ModuleExports(
    "dispatcher",
    params=(
        _p("db_url", _STR, None, "database of the default partition (db_default_url when unset)"),
        ParamExport("partition", _STR, multi=True, doc='"name: db_url = ...; table_name = ...; ..."'),
        _p("table_name", _STR, "dispatcher", "the destinations table"),
        _p("setid_col", _STR, "setid", "column"),
        _p("destination_col", _STR, "destination", "column"),
        _p("socket_col", _STR, "socket", "column"),
        _p("state_col", _STR, "state", "column"),
        _p("weight_col", _STR, "weight", "column"),
        _p("priority_col", _STR, "priority", "column"),
        _p("attrs_col", _STR, "attrs", "column"),
        _p("description_col", _STR, "description", "column"),
        _p("probe_mode_col", _STR, "probe_mode", "column"),
        _p("dst_avp", _STR, None, "failover destinations AVP"),
        _p("grp_avp", _STR, None, "set id AVP"),
        _p("cnt_avp", _STR, None, "number of destinations AVP"),
        _p("sock_avp", _STR, None, "sockets AVP"),
        _p("attrs_avp", _STR, None, "attributes of the selected destination"),
        _p("script_attrs_avp", _STR, None, "script attributes of the selected destination"),
        _p("hash_pvar", _STR, None, "the format algorithm 7 hashes"),
        _p("setid_pvar", _STR, None, "where ds_is_in_list() without a set stores the set id"),
        _p("algo_route", _STR, None, "route scoring each destination for algorithm 10"),
        _p(
            "pvar_algo_pattern",
            _STR,
            None,
            "variable (%u uri, %i set id) scoring destinations for algorithm 9",
        ),
        _p("ds_probing_threshhold", _INT, 3, "old spelling of ds_probing_threshold"),
        _p("ds_probing_threshold", _INT, None, "failed requests before a destination goes probing"),
        _p("ds_ping_method", _STR, "OPTIONS", "method of the probes"),
        _p("ds_ping_from", _STR, "sip:dispatcher@localhost", "From of the probes"),
        _p("ds_ping_interval", _INT, 0, "seconds between probing rounds (0: no probing)"),
        _p("ds_ping_maxfwd", _INT, -1, "Max-Forwards of the probes", _unsupported("ds_ping_maxfwd", -1)),
        _p("ds_probing_mode", _INT, 0, "0 probe probing destinations, 1 probe all"),
        _p("ds_probing_sock", _STR, None, "socket the probes leave from"),
        _p("ds_probing_list", _STR, None, "set ids to probe (all when unset)", _check_int_list),
        _p(
            "options_reply_codes",
            _STR,
            None,
            "codes besides 200 that count as an answer",
            codes_check("dispatcher", "options_reply_codes"),
        ),
        _p("persistent_state", _INT, 1, "load and write back the state column"),
        ParamExport(
            "ds_define_blacklist",
            _STR,
            multi=True,
            check=_unsupported("ds_define_blacklist"),
            doc="not supported",
        ),
        _p("fetch_freeswitch_stats", _INT, 0, "not supported", _unsupported("fetch_freeswitch_stats", 0)),
        _p("max_freeswitch_weight", _INT, 1000, "not used"),
        _p("cluster_id", _INT, 0, "not supported", _unsupported("cluster_id", 0)),
        _p("cluster_sharing_tag", _STR, None, "not supported", _unsupported("cluster_sharing_tag")),
        _p("cluster_probing_mode", _STR, None, "not supported", _unsupported("cluster_probing_mode")),
    ),
    functions=(
        FunctionExport(
            "ds_select_dst",
            w_ds_select_dst,
            _SELECT_ARGS,
            _SELECT_ROUTES,
            doc="pick a destination of a set into $du; 1, -1 none usable",
        ),
        FunctionExport(
            "ds_select_domain",
            w_ds_select_domain,
            _SELECT_ARGS,
            _SELECT_ROUTES,
            doc="pick a destination of a set into the R-URI host:port",
        ),
        FunctionExport(
            "ds_next_dst", w_ds_next_dst, (_PART,), _NEXT_ROUTES, doc="the next failover destination into $du"
        ),
        FunctionExport(
            "ds_next_domain",
            w_ds_next_domain,
            (_PART,),
            _NEXT_ROUTES,
            doc="the next failover destination into the R-URI",
        ),
        FunctionExport(
            "ds_mark_dst",
            w_ds_mark_dst,
            (ArgSpec(_S, "state", optional=True), _PART),
            _NEXT_ROUTES,
            doc="mark the last used destination inactive/active/probing",
        ),
        FunctionExport(
            "ds_count",
            w_ds_count,
            (
                ArgSpec(_I, "set"),
                ArgSpec(_S, "filter", fixup=_count_fixup),
                ArgSpec(ArgKind.VAR, "res_var"),
                _PART,
            ),
            doc="count the destinations of a set in some states",
        ),
        FunctionExport(
            "ds_is_in_list",
            w_ds_is_in_list,
            (
                ArgSpec(_S, "ip"),
                ArgSpec(_I, "port"),
                ArgSpec(_I, "set", optional=True),
                _PART,
                ArgSpec(_I, "active_only", optional=True),
                ArgSpec(_S, "pattern", optional=True),
            ),
            doc="is ip:port a destination (of a set)",
        ),
        FunctionExport(
            "ds_push_script_attrs",
            w_ds_push_script_attrs,
            (ArgSpec(_S, "script_attrs"), ArgSpec(_S, "ip"), ArgSpec(_I, "port"), ArgSpec(_I, "set"), _PART),
            doc="set the script attributes of a destination",
        ),
        FunctionExport(
            "ds_get_script_attrs",
            w_ds_get_script_attrs,
            (ArgSpec(_S, "uri"), ArgSpec(_I, "set"), _PART, ArgSpec(ArgKind.VAR, "out_attrs")),
            doc="read the script attributes of a destination",
        ),
    ),
    uses=(TRANSACTIONS,),
    init=_init,
    destroy=_destroy,
    mi_commands=MI_COMMANDS,
    doc="destination sets with hashing, round robin and failover (OpenSIPS dispatcher)",
)
