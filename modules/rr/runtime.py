"""What rr keeps per process (its parameters, the script's `myself`) and per message (loose_route's
findings), and the socket questions both halves of the module ask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pysips.core.api import Socket
from pysips.core.services import LooseRouteCallback
from pysips.script.context import MsgContext
from pysips.script.myself import MyselfChecker, StaticMyself
from pysips.sip.uri import SipUri

# Ports a URI without one means, by transport (OpenSIPS's default_rfc_port).
RFC_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "sctp": 5060, "ws": 80, "wss": 443}

STATE_KEY = "rr"  # ctx.extra key of the per-message RouteState


class RRConfig:
    """The module parameters and the `myself` checker of the loaded script (process.modules["rr"]),
    and the RECORD_ROUTE service other modules and the core use (pysips.core.services.RouteService).
    """

    __slots__ = ("add_username", "append_fromtag", "enable_double_rr", "loose_route_callbacks",
                 "script_myself", "warn_mismatch")

    def __init__(
        self,
        append_fromtag: bool = True,
        enable_double_rr: bool = True,
        add_username: bool = False,
        warn_mismatch: bool = True,
        script_myself: MyselfChecker | None = None,
    ) -> None:
        self.append_fromtag = append_fromtag
        self.enable_double_rr = enable_double_rr
        self.add_username = add_username
        self.warn_mismatch = warn_mismatch
        self.script_myself = script_myself
        self.loose_route_callbacks: list[LooseRouteCallback] = []

    def record_route(self, ctx: MsgContext, params: str | None = None) -> int:
        """RouteService: record_route() for a module (dialog, topology hiding)."""
        from .record import record_route  # record.py imports this module

        return record_route(ctx, params)

    def add_rr_param(self, ctx: MsgContext, param: str) -> int:
        """RouteService: add_rr_param(";did=ab12") for a module (dialog's id in the Record-Route)."""
        from .record import add_rr_param

        return add_rr_param(ctx, param)

    def remove_record_route(self, ctx: MsgContext) -> int:
        """RouteService: takes back what record_route()/record_route_preset() added to the request
        (topology hiding); returns how many headers."""
        from .record import remove_record_route

        return remove_record_route(ctx)

    def route_params(self, ctx: MsgContext) -> str | None:
        """RouteService: the parameters of our Route that loose_route() consumed ($rr_params)."""
        params = route_state(ctx).params
        return params if params else None

    def is_upstream(self, ctx: MsgContext) -> bool:
        """RouteService: after loose_route(), the request flows from callee to caller (our
        Route's ftag is not the From tag), as is_direction("upstream")."""
        from .loose import UPSTREAM, flow_direction

        return flow_direction(ctx) == UPSTREAM

    def on_loose_route(self, fn: LooseRouteCallback) -> None:
        """RouteService: fn(ctx, match) whenever loose_route() consumes a Route of ours."""
        self.loose_route_callbacks.append(fn)

    def finalize_for_socket(self, msg: Any, out_socket: Socket) -> int:
        """Render this message's Record-Route(s) for the socket it is about to leave on (RouteService);
        returns how many record_route() entries were rendered. Idempotent: call it before every
        serialize()."""
        global _finalize
        if _finalize is None:
            from .record import finalize_for_socket  # record.py imports this module

            _finalize = finalize_for_socket
        return _finalize(msg, out_socket, self.enable_double_rr)


# record.finalize_for_socket, imported on first use (once per process, not once per message)
_finalize: Callable[[Any, Socket, bool], int] | None = None


_DEFAULT = RRConfig()


def config(ctx: MsgContext) -> RRConfig:
    found = ctx.process.modules.get("rr")
    return found if isinstance(found, RRConfig) else _DEFAULT


class RouteState:
    """What loose_route() found for the current message: our Route's parameters ($rr_params,
    check_route_param, is_direction) and the routing case (OpenSIPS's LL/LS/SL/SS)."""

    __slots__ = ("params", "routing")

    def __init__(self) -> None:
        self.params: str | None = None
        self.routing = ""


def route_state(ctx: MsgContext) -> RouteState:
    state = ctx.extra.get(STATE_KEY)
    if not isinstance(state, RouteState):
        state = ctx.extra[STATE_KEY] = RouteState()
    return state


def myself_checker(ctx: MsgContext) -> MyselfChecker:
    """The engine's view when it runs; else the script's listen/alias lines; else (bare unit use)
    the address the message arrived on."""
    core = ctx.process.core
    if core is not None:
        checker: MyselfChecker = core.myself
        return checker
    cfg = config(ctx)
    if cfg.script_myself is not None:
        return cfg.script_myself
    rcv = ctx.rcv
    return StaticMyself([(rcv.local_ip, rcv.local_port)] if rcv is not None else [])


def uri_proto(uri: SipUri) -> str:
    proto = uri.transport
    if proto:
        return proto
    return "tls" if uri.scheme == "sips" else "udp"


def uri_target_host(uri: SipUri) -> str:
    """The host a proxy acts on: maddr when present (RFC 3261 16.5), else the URI host."""
    maddr = uri.params.get("maddr")
    return maddr if maddr else uri.host


def uri_port(uri: SipUri) -> int:
    return uri.port if uri.port is not None else RFC_PORTS.get(uri_proto(uri), 5060)


def is_myself(ctx: MsgContext, uri: SipUri) -> bool:
    return myself_checker(ctx).is_myself(uri_target_host(uri), uri_port(uri))


def receiving_socket(ctx: MsgContext) -> Socket | None:
    """Our socket the current message arrived on (with its advertised address when the engine
    knows it)."""
    rcv = ctx.rcv
    if rcv is None:
        return None
    core = ctx.process.core
    if core is not None:
        finder = getattr(core, "receiving_socket", None)
        if finder is not None:
            found = finder(rcv)
            if isinstance(found, Socket):
                return found
        for sock in core.sockets:
            if sock.proto == rcv.proto and sock.ip == rcv.local_ip and sock.port == rcv.local_port:
                return sock  # type: ignore[no-any-return]
    return Socket(rcv.proto, rcv.local_ip, rcv.local_port)


def socket_for_uri(ctx: MsgContext, uri: SipUri) -> Socket | None:
    """Our socket a Route/R-URI names (OpenSIPS grep_sock_info), matching the advertised address
    too; None without an engine or when none matches."""
    core = ctx.process.core
    if core is None:
        return None
    proto = uri_proto(uri)
    host = uri.bare_host.lower()
    port = uri_port(uri)
    for sock in core.sockets:
        if sock.proto != proto:
            continue
        if (sock.ip.lower() == host and sock.port == port) or (
            sock.advertised_host is not None
            and sock.advertised_host.strip("[]").lower() == host
            and (sock.advertised_port or sock.port) == port
        ):
            return sock  # type: ignore[no-any-return]
    return None
