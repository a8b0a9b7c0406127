"""loose_route() (RFC 3261 sections 16.4 and 16.12) and what reads its result afterwards.

Return codes as OpenSIPS: 1 when the next hop comes from the route set ($du, or the R-URI after a
strict-router fix-up), -1 when there is no Route, a parse error, or the only Route entries were
ours on a request with no To tag (a pre-loaded Route naming us: routing goes by the R-URI).
"""

from __future__ import annotations

import logging
import re

from pysips.core.services import LooseRouteMatch
from pysips.script.context import MsgContext
from pysips.script.errinfo import set_parse_error
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri, parse_uri

from .routes import RouteEntry, RouteSet, remove_entries, route_set
from .runtime import config, is_myself, receiving_socket, route_state, socket_for_uri

log = logging.getLogger("pysips.modules.rr")

NOT_RR_DRIVEN = -1
RR_DRIVEN = 1


def uri_params_text(uri: str) -> str:
    """The parameters of a SIP URI as written, without the leading ';' ("lr;ftag=x")."""
    at = uri.find("@")
    head = at + 1 if at >= 0 else uri.find(":") + 1
    close = uri.find("]", head)  # an IPv6 reference holds no ';'
    semi = uri.find(";", close + 1 if close >= 0 else head)
    if semi < 0:
        return ""
    qmark = uri.find("?", semi)
    return uri[semi + 1 :] if qmark < 0 else uri[semi + 1 : qmark]


def _maddr_uri(uri: SipUri, text: str) -> str:
    """With a maddr parameter, the next hop is `sip:maddr[:port]` (as OpenSIPS get_maddr_uri)."""
    maddr = uri.params.get("maddr")
    if not maddr:
        return text
    return f"sip:{maddr}:{uri.port}" if uri.port is not None else f"sip:{maddr}"


def _parse(entry: RouteEntry) -> SipUri | None:
    parsed = entry.addr.parsed_uri()
    if not isinstance(parsed, SipUri):
        log.error("loose_route: failed to parse the Route URI %r", entry.uri[:80])
        return None
    return parsed


def _is_strict(uri: SipUri) -> bool:
    return "lr" not in uri.params


def _force_socket_of(ctx: MsgContext, uri: SipUri) -> None:
    """Double Record-Route: the second entry names the socket to leave through."""
    sock = socket_for_uri(ctx, uri)
    if sock is not None:
        ctx.force_socket = sock
    elif ctx.process.core is not None and config(ctx).warn_mismatch:
        log.warning("no socket found to match 2nd RR [%s:%s]", uri.host, uri.port)


def loose_route(ctx: MsgContext) -> int:
    state = route_state(ctx)
    state.params = None
    state.routing = ""
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request or not msg.has_header("route"):
        return NOT_RR_DRIVEN
    routes = route_set(msg)
    if routes is None or not routes.entries:
        log.error("loose_route: failed to parse the Route header")
        if routes is None:
            set_parse_error(ctx, "error parsing RR headers")  # for the error_route (OpenSIPS parse_rr)
        return NOT_RR_DRIVEN
    # the received R-URI was parsed (and cached on the message) by the core's check()
    ruri = parse_uri(ctx.new_ruri) if ctx.new_ruri else msg.uri()
    if not isinstance(ruri, SipUri):
        log.error("loose_route: failed to parse the Request-URI")
        return NOT_RR_DRIVEN
    if isinstance(msg.to_header(), Exception):
        log.error("loose_route: failed to parse the To header")
        return NOT_RR_DRIVEN
    if not msg.to_tag:
        matched = routes.entries[0].uri
        status = _after_loose(ctx, msg, routes, preloaded=True)
    elif "gr" not in ruri.params and is_myself(ctx, ruri):
        matched = ctx.new_ruri or msg.ruri
        status = _after_strict(ctx, msg, routes, ruri)
    else:
        matched = routes.entries[0].uri
        status = _after_loose(ctx, msg, routes, preloaded=False)
    if state.params is not None:
        _run_callbacks(ctx, matched, state.params)
    return status


def _run_callbacks(ctx: MsgContext, uri: str, params: str) -> None:
    """Our Route was consumed: tell the modules that registered (OpenSIPS run_rr_callbacks),
    whatever routing case followed."""
    callbacks = config(ctx).loose_route_callbacks
    if not callbacks:
        return
    parsed: dict[str, str] = {}
    for item in params.split(";"):
        name, _, value = item.partition("=")
        if name.strip():
            parsed[name.strip().lower()] = value.strip().strip("\"'")
    match = LooseRouteMatch(uri, parsed)
    for fn in callbacks:
        fn(ctx, match)


def _after_loose(ctx: MsgContext, msg: SipMessage, routes: RouteSet, preloaded: bool) -> int:
    state = route_state(ctx)
    entries = routes.entries
    first = entries[0]
    top = _parse(first)
    if top is None:
        return NOT_RR_DRIVEN
    ours: list[RouteEntry] = []
    target: RouteEntry | None = first
    target_uri: SipUri | None = top
    force_receiving = False
    if is_myself(ctx, top):
        state.params = uri_params_text(first.uri)
        ours.append(first)
        force_receiving = True
        if config(ctx).enable_double_rr and "r2" in top.params and len(entries) > 1:
            second = _parse(entries[1])
            if second is None:
                return NOT_RR_DRIVEN
            force_receiving = False
            _force_socket_of(ctx, second)
            ours.append(entries[1])
        rest = entries[len(ours) :]
        target = rest[0] if rest else None
        target_uri = _parse(target) if target is not None else None
        if target is not None and target_uri is None:
            return NOT_RR_DRIVEN
    status = RR_DRIVEN
    if target is None or target_uri is None:
        # nothing after our own entries: the R-URI is the next hop
        state.routing = "LL"
        remove_entries(msg, routes, ours)
        status = NOT_RR_DRIVEN if preloaded else RR_DRIVEN
    elif _is_strict(target_uri):
        state.routing = "LS"
        # the next hop is a strict router: it gets the R-URI as its last Route entry
        msg.append_header(f"Route: <{msg.original_ruri}>")
        new = _maddr_uri(target_uri, target.uri)
        ctx.new_ruri = new
        remove_entries(msg, routes, [*ours, target])
    else:
        state.routing = "LL"
        ctx.dst_uri = _maddr_uri(target_uri, target.uri)
        remove_entries(msg, routes, ours)
    if force_receiving and not preloaded and ctx.process.core is not None:
        sock = receiving_socket(ctx)
        if sock is not None:
            ctx.force_socket = sock
    return status


def _after_strict(ctx: MsgContext, msg: SipMessage, routes: RouteSet, ruri: SipUri) -> int:
    """The previous hop was a strict router: the R-URI is our Record-Route entry and the remote
    target travels as the last Route entry."""
    state = route_state(ctx)
    state.params = uri_params_text(ctx.new_ruri or msg.ruri)
    entries = routes.entries
    first = entries[0]
    top = _parse(first)
    if top is None:
        return NOT_RR_DRIVEN
    ours: list[RouteEntry] = []
    if config(ctx).enable_double_rr and "r2" in top.params and is_myself(ctx, top):
        _force_socket_of(ctx, top)
        ours.append(first)
        if len(entries) == 1:
            remove_entries(msg, routes, ours)
            return NOT_RR_DRIVEN
        target = entries[1]
    else:
        target = first
        sock = socket_for_uri(ctx, ruri)
        if sock is not None:
            ctx.force_socket = sock
    target_uri = _parse(target)
    if target_uri is None:
        return NOT_RR_DRIVEN
    if _is_strict(target_uri):
        state.routing = "SS"
        ctx.new_ruri = _maddr_uri(target_uri, target.uri)
        remove_entries(msg, routes, [*ours, target])
        return RR_DRIVEN
    state.routing = "SL"
    ctx.dst_uri = _maddr_uri(target_uri, target.uri)
    last = entries[-1]
    last_uri = _parse(last)
    if last_uri is None:
        return NOT_RR_DRIVEN
    ctx.new_ruri = _maddr_uri(last_uri, last.uri)
    remove_entries(msg, routes, [*ours, last])
    return RR_DRIVEN


# ---------------------------------------------------------------------------------------------


def check_route_param(ctx: MsgContext, pattern: re.Pattern[str]) -> int:
    params = route_state(ctx).params
    if not params:
        return -1
    return 1 if pattern.search(";" + params) else -1


def route_param(params: str, name: str) -> str | None:
    """Value of one parameter in "a=1;b;c=x" ("" when present without value), None if absent."""
    for item in params.split(";"):
        key, eq, value = item.partition("=")
        if key.strip() == name:
            return value.strip().strip("\"'") if eq else ""
    return None


DOWNSTREAM = 1
UPSTREAM = 2


def flow_direction(ctx: MsgContext) -> int:
    """Downstream unless our Route's ftag differs from the From tag."""
    params = route_state(ctx).params
    ftag = route_param(params, "ftag") if params else None
    msg = ctx.msg
    if not ftag or not isinstance(msg, SipMessage):
        return DOWNSTREAM
    tag = msg.from_tag
    if not tag:
        return DOWNSTREAM
    return DOWNSTREAM if tag == ftag else UPSTREAM


def is_direction(ctx: MsgContext, direction: int) -> int:
    return 1 if flow_direction(ctx) == direction else -1


def rr_params(ctx: MsgContext) -> str | None:
    state = ctx.extra.get("rr")
    params = getattr(state, "params", None)
    return params if params else None
