"""The proxy engine: bytes in, script run, bytes out. Sans-I/O: transports and the clock are given.

One `Engine` per worker process. A transport hands it `receive(data, rcv)`; the engine parses,
lets modules' hooks (tm) absorb what they own, runs the script with a fresh MsgContext, and sends
through the sender the transport registered for the chosen socket. Each message's script runs in a
script greenlet (pysips.core.suspend): a module function waiting on the network suspends that
message only; a retransmission of a request whose script is suspended is dropped here.

As in OpenSIPS 3.x there is no implicit forwarding: a request that the script neither relayed nor
answered is dropped when the main route ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from pysips.core.api import Destination, Hooks, Socket, TimerHandle
from pysips.core.mhomed import OutSocketChooser
from pysips.core.replies import (
    REPLY_HEADERS,
    add_reply_headers,
    destination_set_header,
    reason_for,
    relayed_status,
    stateless_to_tag,
)
from pysips.core.reply_route import next_hop_of_reply, reply_destination
from pysips.core.resolve import Resolver
from pysips.core.sockets import SocketMyself, SocketTable, default_port, is_ip_literal
from pysips.core.suspend import call_with_deadline, in_script, spawn
from pysips.core.via_fix import apply_to_request, reply_via_line
from pysips.script.context import (
    ADV_ADDRESS_KEY,
    ADV_PORT_KEY,
    MSGFL_ADD_LOCAL_RPORT,
    MSGFL_FORCE_RPORT,
    MsgContext,
    ProcessState,
    RouteType,
)
from pysips.script.errinfo import (
    BAD_HEADERS,
    EC_PARSER,
    EL_MEDIUM,
    parse_failure_info,
    run_top_error_route,
    set_error,
)
from pysips.sip.build import make_response
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

log = logging.getLogger("pysips.core")

RouteFn = Callable[[MsgContext], int]
# A transport's way to send from one socket: True when handed to the OS (or queued).
Sender = Callable[[bytes, Destination], bool]

_VIA_FIXED = "core.via_fixed"  # ctx.extra marker: the inbound top Via got received/rport
_MIN_MESSAGE = 16  # shorter datagrams are keepalives (CRLF, "jaK") or noise


def _spawned(callback: Callable[[], None]) -> None:
    spawn(callback)


def _request_key(msg: SipMessage) -> tuple[str, str, str]:
    """What identifies a request's retransmissions (RFC 3261 17.2.3): top Via branch and sent-by,
    and the method."""
    top = msg.top_via
    if top is None:
        return ("", "", msg.method)
    return (top.branch or "", top.sent_by, msg.method)


class Clock(Protocol):
    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle: ...


class _Timer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when told: for tests and for driving the engine by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self._timers: list[_Timer] = []

    def now(self) -> float:
        return self.time

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _Timer(when, callback)
        self._timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        self.time += seconds
        while True:
            due = [t for t in self._timers if t.when <= self.time and not t.cancelled]
            if not due:
                break
            due.sort(key=lambda t: t.when)
            for timer in due:
                self._timers.remove(timer)
                timer.callback()
        self._timers = [t for t in self._timers if not t.cancelled]


class Engine:
    """Implements pysips.core.api.Core."""

    def __init__(
        self,
        process: ProcessState,
        sockets: list[Socket],
        clock: Clock,
        *,
        aliases: list[tuple[str, int | None]] | None = None,
        resolver: Resolver | None = None,
        main_route: RouteFn | None = None,
        onreply_route: RouteFn | None = None,
        error_route: RouteFn | None = None,
        server_header: str | None = "Server: pysips",
    ) -> None:
        self.process = process
        self.table = SocketTable(sockets, aliases or ())
        self.sockets = self.table.sockets
        self.myself: SocketMyself = self.table.myself
        self.hooks = Hooks()
        self.clock = clock
        self.resolver = resolver or Resolver(self.table.protos())
        self.main_route = main_route
        self.onreply_route = onreply_route
        # the script's error_route: it answers (or not) the requests that fail to parse
        self.error_route = error_route
        self.server_header = server_header
        # relayed 503s go up as 500 unless the script set disable_503_translation
        self.translate_503 = True
        self._senders: dict[Socket, Sender] = {}
        self.stats = {"received": 0, "parse_errors": 0, "script_errors": 0, "sent": 0, "send_failures": 0}
        # OpenSIPS's core statistics, under their names (MI get_statistics core:)
        self.stats.update(dict.fromkeys(("rcv_requests", "rcv_replies", "fwd_replies", "drop_replies",
                                         "bad_msg_hdr"), 0))
        # forward()'s requests sent / not sent (OpenSIPS counts only the stateless forward here)
        self.stats.update(fwd_requests=0, drop_requests=0)
        # set by the server: re-parses the script and swaps the routes (MI reload_routes)
        self.reloader: Callable[[], bool] | None = None
        self.mhomed: OutSocketChooser | None = None  # set_mhomed()
        # set in a worker process (pysips.core.worker_process): where connection lifetimes go
        self.connection_owner: Callable[[int, float], bool] | None = None
        # requests whose script is suspended (waiting on the network), by transaction key: their
        # retransmissions are dropped until the script ends (tm absorbs them once it has a
        # transaction; before that nothing else would)
        self._in_progress: dict[tuple[str, str, str], int] = {}
        process.core = self

    # ------------------------------------------------------------------ Core API

    def now(self) -> float:
        return self.clock.now()

    def wall_time(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        # timers run script code too (tm's failure_route on a timeout, nathelper's DNS lookups):
        # in a script greenlet, so that they may wait
        return self.clock.call_at(when, lambda: _spawned(callback))

    def attach(self, socket: Socket, sender: Sender) -> None:
        """A transport declares how to send from one of our sockets."""
        self._senders[socket] = sender

    def send(self, data: bytes, dst: Destination, socket: Socket) -> bool:
        sender = self._senders.get(socket)
        if sender is None:
            log.error("no transport bound for %s: cannot send to %s:%d", socket.name, dst.ip, dst.port)
            self.stats["send_failures"] += 1
            return False
        for raw_out in self.hooks.raw_out:
            data = raw_out(data)
        ok = sender(data, dst)
        if ok:
            self.stats["sent"] += 1
        else:
            self.stats["send_failures"] += 1
        return ok

    def receiving_socket(self, rcv: ReceiveInfo) -> Socket | None:
        return self.table.find(rcv.proto, rcv.local_ip, rcv.local_port)

    def socket_for(self, dst: Destination, ctx: MsgContext | None = None) -> Socket | None:
        preferred: Socket | None = None
        if ctx is not None:
            forced = ctx.force_socket
            if isinstance(forced, Socket):
                return forced
        if self.mhomed is not None:
            by_network = self.mhomed.choose(dst)
            if by_network is not None:
                return by_network
        if ctx is not None and ctx.rcv is not None:
            preferred = self.receiving_socket(ctx.rcv)
        return self.table.choose(dst, preferred)

    def set_connection_lifetime(self, conn_id: int, seconds: float) -> bool:
        # imported here: the transports import the engine, not the other way round
        from pysips.transport.stream_listeners import existing_streams

        streams = existing_streams(self)
        if streams is None and self.connection_owner is not None:
            # a worker process: the main process holds the connections
            return self.connection_owner(conn_id, seconds)
        return streams is not None and streams.set_connection_lifetime(conn_id, seconds)

    def set_mhomed(self, on: bool) -> None:
        """`mhomed=yes`: UDP requests leave from the socket facing their destination."""
        self.mhomed = OutSocketChooser(self.sockets) if on else None

    def resolve(self, uri: str) -> list[Destination]:
        return self.resolver.resolve(uri)

    def resolve_host(self, proto: str, host: str, port: int) -> list[Destination]:
        """A host (IP or name) and port to destinations: A/AAAA only, as for Via sent-by."""
        if is_ip_literal(host):
            return [Destination(proto, host.strip("[]"), port)]
        bracketed = f"[{host}]" if ":" in host else host
        return self.resolver.resolve(f"sip:{bracketed}:{port};transport={proto}")

    def run_route(self, ctx: MsgContext, route: RouteFn) -> int:
        if not in_script():
            # a route run from outside a message (startup_route, error_route): in its own script
            # greenlet too, so that a module function in it may wait; -1 if it is still waiting
            codes: list[int] = []
            spawn(self._route_code, ctx, route, codes)
            return codes[0] if codes else -1
        try:
            return route(ctx)
        except Exception:
            # a bug in a module must cost one message, not the worker
            self.stats["script_errors"] += 1
            log.exception("error while running the script on %r", ctx.msg)
            return -1

    def launch(self, fn: Callable[..., object], *args: object) -> bool:
        """Runs `fn(*args)` in its own script greenlet (launch()): True when it already ended,
        False when it waits and ends later. Exceptions are logged."""
        return spawn(fn, *args)

    def call_with_deadline(self, seconds: float, fn: Callable[..., int], *args: object) -> int:
        """`fn(*args)` with every network wait in it cut short after `seconds` (TimeoutError)."""
        return call_with_deadline(seconds, fn, *args)

    def _route_code(self, ctx: MsgContext, route: RouteFn, codes: list[int]) -> None:
        codes.append(self.run_route(ctx, route))

    def via_for(self, socket: Socket, branch: str, ctx: MsgContext | None = None) -> str:
        host: str = socket.host_for_headers
        port: int | str = socket.port_for_headers
        if ctx is not None:
            # set_advertised_address()/_port(): in the Via they win over the socket's own
            adv_host = ctx.extra.get(ADV_ADDRESS_KEY)
            if adv_host:
                host = f"[{adv_host}]" if ":" in adv_host and not adv_host.startswith("[") else adv_host
            port = ctx.extra.get(ADV_PORT_KEY) or port
        via = f"SIP/2.0/{socket.proto.upper()} {host}:{port};branch={branch}"
        if ctx is not None and ctx.msg_flags & MSGFL_ADD_LOCAL_RPORT:
            via += ";rport"
        return via

    def prepare_relay(self, ctx: MsgContext) -> None:
        extra = ctx.extra
        if _VIA_FIXED in extra or ctx.msg is None or ctx.rcv is None:
            return
        extra[_VIA_FIXED] = True
        apply_to_request(ctx.msg, ctx.rcv, bool(ctx.msg_flags & MSGFL_FORCE_RPORT))

    def reply_destination(self, ctx: MsgContext) -> Destination:
        assert ctx.msg is not None and ctx.rcv is not None
        return reply_destination(ctx.msg, ctx.rcv, bool(ctx.msg_flags & MSGFL_FORCE_RPORT))

    def build_reply(
        self,
        ctx: MsgContext,
        code: int,
        reason: str,
        to_tag: str | None = None,
        extra_headers: tuple[str, ...] = (),
        body: bytes = b"",
    ) -> bytes:
        msg = ctx.msg
        rcv = ctx.rcv
        assert isinstance(msg, SipMessage) and rcv is not None
        if to_tag is None and code >= 180 and not msg.to.tag:
            to_tag = stateless_to_tag(msg)
        headers = list(extra_headers)
        if 300 <= code < 400:
            # a redirect names the destination set, as a reply lump (OpenSIPS sl and tm)
            dset = destination_set_header(ctx)
            if dset is not None:
                add_reply_headers(ctx, [dset])
        # reply lumps stay with the request: every local reply to it carries them (OpenSIPS)
        queued = ctx.extra.get(REPLY_HEADERS)
        if queued:
            headers.extend(queued)
        if self.server_header:
            headers.append(self.server_header)
        first_via = reply_via_line(msg, rcv, bool(ctx.msg_flags & MSGFL_FORCE_RPORT))
        return make_response(msg, code, reason, to_tag=to_tag, extra_headers=headers, body=body,
                             first_via=first_via)

    def send_reply(self, ctx: MsgContext, data: bytes) -> bool:
        rcv = ctx.rcv
        assert rcv is not None
        sock = self.receiving_socket(rcv)
        if sock is None:
            log.error("request came in on an unknown socket %s:%d", rcv.local_ip, rcv.local_port)
            return False
        return self.send(data, self.reply_destination(ctx), sock)

    # ------------------------------------------------------------------ the message path

    def receive(self, data: bytes, rcv: ReceiveInfo) -> None:
        """Everything a transport received, one message at a time. Never raises."""
        self.stats["received"] += 1
        if len(data) < _MIN_MESSAGE:
            return
        try:
            for raw_in in self.hooks.raw_in:
                data = raw_in(data)
            parsed = parse_message(data)
            if isinstance(parsed, ParseError):
                self._parse_failed(parsed, rcv)
            elif parsed.is_request:
                self._request(parsed, rcv)
            else:
                self._reply(parsed, rcv)
        except Exception:
            self.stats["script_errors"] += 1
            log.exception("internal error on a message from %s:%s:%d", rcv.proto, rcv.src_ip, rcv.src_port)

    def _parse_failed(self, error: ParseError, rcv: ReceiveInfo) -> None:
        self.stats["parse_errors"] += 1
        self.stats["bad_msg_hdr"] += 1
        partial = error.partial
        status = error.status
        if status is None or partial is None or not partial.is_request or not partial.vias:
            log.warning("dropping unparsable message from %s:%d: %s", rcv.src_ip, rcv.src_port, error.reason)
            return
        if partial.method == "ACK":
            log.warning("dropping unparsable ACK from %s:%d: %s", rcv.src_ip, rcv.src_port, error.reason)
            return
        reason = reason_for(status)
        error_route = self.error_route
        if error_route is not None:
            # OpenSIPS (receive.c): the script's error_route decides; the message is dropped after
            log.warning("running error_route for a bad request from %s:%d: %s", rcv.src_ip, rcv.src_port,
                        error.reason)
            ctx = MsgContext(self.process, partial, rcv, RouteType.ERROR, self.wall_time())
            set_error(ctx, EC_PARSER, EL_MEDIUM, parse_failure_info(error.reason), status,
                      BAD_HEADERS if status == 400 else reason)
            self.run_route(ctx, lambda c: run_top_error_route(c, error_route))
            return
        log.warning("answering %d to a bad request from %s:%d: %s", status, rcv.src_ip, rcv.src_port,
                    error.reason)
        ctx = MsgContext(self.process, partial, rcv, RouteType.REQUEST, self.wall_time())
        self.send_reply(ctx, self.build_reply(ctx, status, reason))

    def _request(self, msg: SipMessage, rcv: ReceiveInfo) -> None:
        self.stats["rcv_requests"] += 1
        # R-URI, From, To and every Via must parse before anything routes the request (RFC 4475);
        # the script reads most of them anyway, and the parses are cached on the message
        broken = msg.check()
        if broken is not None:
            self._parse_failed(broken, rcv)
            return
        for hook in self.hooks.request:
            if hook(msg, rcv):
                return
        route = self.main_route
        if route is None:
            return
        in_progress = self._in_progress
        if in_progress and _request_key(msg) in in_progress:
            log.debug("%s retransmitted while its script waits: dropped", msg.method)
            return
        ctx = MsgContext(self.process, msg, rcv, RouteType.REQUEST, self.wall_time())
        if not spawn(self._main_route, ctx, route):
            key = _request_key(msg)
            in_progress[key] = in_progress.get(key, 0) + 1

    def _main_route(self, ctx: MsgContext, route: RouteFn) -> None:
        try:
            self.run_route(ctx, route)
            for hook in self.hooks.request_done:
                try:
                    hook(ctx)
                except Exception:
                    log.exception("a module's end-of-request work failed")
        finally:
            in_progress = self._in_progress
            if in_progress:
                key = _request_key(ctx.msg)
                count = in_progress.pop(key, 0) - 1
                if count > 0:
                    in_progress[key] = count

    def _reply(self, msg: SipMessage, rcv: ReceiveInfo) -> None:
        # tm's reply processing runs onreply routes: in a script greenlet, so that they may wait
        spawn(self._reply_path, msg, rcv)

    def _reply_path(self, msg: SipMessage, rcv: ReceiveInfo) -> None:
        self.stats["rcv_replies"] += 1
        # A reply that tm matches runs the global onreply_route inside tm, with its transaction's
        # flags and AVPs; the engine runs it only for the replies no module took.
        for hook in self.hooks.reply:
            if hook(msg, rcv):
                return
        route = self.onreply_route
        if route is not None:
            ctx = MsgContext(self.process, msg, rcv, RouteType.ONREPLY, self.wall_time())
            self.run_route(ctx, route)
            if ctx.dropped:
                self.stats["drop_replies"] += 1
                return
        self.forward_reply(msg)

    def forward_reply(self, msg: SipMessage) -> bool:
        """Stateless reply forwarding: our Via on top is removed, the next one says where to."""
        vias = msg.vias
        if not vias:
            return False
        top = vias[0]
        proto = top.proto.lower()
        if not self.myself.is_myself(top.host, top.port or default_port(proto)):
            log.warning("dropping a %d reply whose top Via %s is not ours", msg.status, top.sent_by)
            return False
        if len(vias) < 2:
            log.debug("reply %d %s has no second Via: it was for us, dropped", msg.status, msg.reason)
            return False
        proto, host, port = next_hop_of_reply(vias[1])
        dests = self.resolve_host(proto, host, port)
        if not dests:
            log.error("cannot forward a %d reply: %s does not resolve", msg.status, host)
            return False
        dst = dests[0]
        sock = self.table.choose(dst)
        if sock is None:
            log.error("cannot forward a %d reply: no %s socket for %s", msg.status, dst.proto, dst.ip)
            return False
        msg.pop_via()
        if self.send(relayed_status(msg.serialize(), self.translate_503), dst, sock):
            self.stats["fwd_replies"] += 1
            return True
        return False

    def reload_routes(self) -> bool:
        """MI reload_routes: True when the script loaded again and its routes now run."""
        return self.reloader is not None and self.reloader()
