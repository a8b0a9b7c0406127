"""Requests pysips originates (OpenSIPS tm's t_uac): a client transaction with no server side,
whose replies go to a callback instead of upstream. Dialog pinging, dispatcher probing, uac_auth,
b2b and keep-alives are built on it (TransactionService.send_request).

When the script has a `local_route`, it runs on each such request before it is sent, as in
OpenSIPS: it may edit the request (remove_hf, append_hf), drop it, set `$T_fr_timeout`, and arm
`t_on_reply`/`t_on_failure`; the AVPs it sets are the transaction's, seen again in those routes
($T_reply_code there: the final code, 408 when nothing came)."""

from __future__ import annotations

import os
from typing import Any

from pysips.core.api import Destination, Socket
from pysips.core.services import UacCallback, UacReply, UacRequest
from pysips.script.context import MsgContext, RouteType
from pysips.sip.branch import make_branch
from pysips.sip.build import make_request
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.transaction import (
    Actions,
    ClientTransaction,
    FinalResponseTimeout,
    InviteClientTransaction,
    NonInviteClientTransaction,
    PassResponse,
    SendMessage,
    Terminated,
    Transaction,
)

from .base import E_BAD_DESTINATION, E_SEND, TmBase, log
from .picking import REASONS

E_DROPPED = -1  # local_route dropped the request


LOCAL_CODE = "tm.local_code"  # ctx.extra of a local transaction's failure_route: $T_reply_code


class LocalRequest:
    """One request of ours in flight: where it goes and who hears the replies; what its
    local_route armed (routes, AVPs) and the request it saw."""

    __slots__ = ("avps", "call_id", "callback", "dst", "final", "on_failure", "on_reply", "request",
                 "socket")

    def __init__(self, call_id: str, callback: UacCallback | None, dst: Destination, socket: Socket) -> None:
        self.call_id = call_id
        self.callback = callback
        self.dst = dst
        self.socket = socket
        self.final = False
        self.on_reply: Any = None  # RouteRef armed by t_on_reply in local_route
        self.on_failure: Any = None
        self.avps: dict[str, list[str | int]] = {}
        self.request: SipMessage | None = None


def _uri_of_route(route: str) -> str:
    route = route.strip()
    if route.startswith("<"):
        return route[1 : route.find(">")]
    return route.split(";", 1)[0]


class Uac(TmBase):
    def send_request(self, request: UacRequest, callback: UacCallback | None = None) -> int:
        """TransactionService.send_request: 1 sent, E_BAD_DESTINATION / E_SEND otherwise."""
        core = self._core()
        next_hop = request.outbound_proxy or (
            _uri_of_route(request.route_set[0]) if request.route_set else request.ruri)
        destinations = core.resolve(next_hop)
        if not destinations:
            log.error("tm uac: cannot resolve %s", next_hop)
            return E_BAD_DESTINATION
        dst = destinations[0]
        sock = self._uac_socket(request.socket, dst)
        if sock is None:
            log.error("tm uac: no socket to send to %s:%s over %s", dst.ip, dst.port, dst.proto)
            return E_SEND
        if sock.proto != dst.proto:
            dst = Destination(sock.proto, dst.ip, dst.port, dst.conn_id)
        local_id = f"{self._prefix}u{next(self._ids):x}"
        via_branch = make_branch(local_id, 0)
        host = f"{sock.host_for_headers}:{sock.port_for_headers}"
        call_id = request.call_id or f"{os.urandom(8).hex()}@{sock.host_for_headers}"
        from_uri = request.from_uri or f"sip:pysips@{host}"
        to = f"<{request.to_uri or request.ruri}>"
        if request.to_tag:
            to += f";tag={request.to_tag}"
        data = make_request(
            request.method, request.ruri,
            from_=f"<{from_uri}>;tag={request.from_tag or os.urandom(5).hex()}",
            to=to, call_id=call_id, cseq=request.cseq or 1,
            via=core.via_for(sock, via_branch), contact=request.contact,
            routes=request.route_set, extra_headers=request.headers,
            body=request.body, content_type=request.content_type,
        )
        config = self.config
        fr_timeout = request.fr_timeout or config.fr_timeout
        local = LocalRequest(call_id, callback, dst, sock)
        if self.local_route is not None:
            routed = self._run_local_route(data, local)
            if routed is None:
                log.debug("tm uac: %s dropped by local_route", request.method)
                return E_DROPPED
            data, armed_fr = routed
            fr_timeout = armed_fr or fr_timeout
        tx: ClientTransaction
        if request.method == "INVITE":
            tx = InviteClientTransaction(
                data, reliable=sock.reliable, timers=config.timers,
                fr_timeout=fr_timeout, fr_inv_timeout=config.fr_inv_timeout)
        else:
            tx = NonInviteClientTransaction(
                data, reliable=sock.reliable, timers=config.timers, fr_timeout=fr_timeout)
        if not core.send(data, dst, sock):
            log.error("tm uac: sending %s to %s:%s failed", request.method, dst.ip, dst.port)
            return E_SEND
        self.table.add_client(via_branch, request.method, tx)
        self._locals[tx] = local
        self.stats.UAC_transactions += 1
        # start() asks to send the request we just sent; keep only its timers.
        self._feed(tx, tuple(a for a in tx.start(self._now()) if not isinstance(a, SendMessage)))
        return 1

    def _run_local_route(self, data: bytes, local: LocalRequest) -> tuple[bytes, float | None] | None:
        """local_route on the request about to go out: its edits, or None when it dropped it;
        the fr_timeout it set. What it armed and its AVPs are kept on `local`."""
        core = self._core()
        route = self.local_route
        msg = parse_message(data)
        if route is None or not isinstance(msg, SipMessage):  # ours: it parses; never block a send
            log.error("tm uac: our own request does not parse: %s", msg)
            return data, None
        ctx = MsgContext(self.process, msg, None, RouteType.LOCAL, core.wall_time())
        core.run_route(ctx, route)
        if ctx.dropped:
            return None
        pending = self.pending(ctx)
        local.on_reply, local.on_failure = pending.on_reply, pending.on_failure
        local.avps = ctx.avps
        local.request = msg
        if msg.has_edits:
            data = msg.serialize()
            edited = parse_message(data)
            local.request = edited if isinstance(edited, SipMessage) else msg
        return data, pending.fr_timeout

    def _local_routes(self, local: LocalRequest, code: int, reply: SipMessage | None) -> None:
        """The onreply route (each reply received) and the failure route (a negative final, or
        none in time) armed by local_route, with its AVPs."""
        core = self._core()
        if reply is not None and local.on_reply is not None and local.on_reply.run is not None:
            ctx = MsgContext(self.process, reply, self._reply_rcv, RouteType.ONREPLY, core.wall_time())
            ctx.avps = local.avps
            core.run_route(ctx, local.on_reply.run)
        if code >= 300 and local.on_failure is not None and local.on_failure.run is not None \
                and local.request is not None:
            route = local.on_failure.run
            local.on_failure = None  # once per arming
            ctx = MsgContext(self.process, local.request, None, RouteType.FAILURE, core.wall_time())
            ctx.avps = local.avps
            ctx.reply = reply
            ctx.extra[LOCAL_CODE] = code
            core.run_route(ctx, route)

    def _uac_socket(self, name: str | None, dst: Destination) -> Socket | None:
        core = self._core()
        if name:
            for sock in core.sockets:
                if sock.name == name:
                    return sock
            log.error("tm uac: no listening socket %s", name)
            return None
        return core.socket_for(dst)

    def _feed_local(self, tx: Transaction, local: LocalRequest, actions: Actions) -> None:
        for action in actions:
            if isinstance(action, SendMessage):
                self._core().send(action.data, local.dst, local.socket)
            elif isinstance(action, PassResponse):
                reply = action.response
                if isinstance(reply, SipMessage):
                    if reply.status >= 200:
                        local.final = True
                    self._local_routes(local, reply.status, reply)
                    self._tell(local, UacReply(reply.status, reply.reason, reply, local.call_id))
            elif isinstance(action, FinalResponseTimeout):
                self._local_timeout(local)
            elif isinstance(action, Terminated):
                self._local_timeout(local)
                self._locals.pop(tx, None)
                self.timers.forget(tx)
                if isinstance(tx, ClientTransaction):
                    self.table.remove(tx)
        if not tx.terminated:
            self._schedule(tx)

    def _local_timeout(self, local: LocalRequest) -> None:
        if not local.final:
            local.final = True
            self._local_routes(local, 408, None)
            self._tell(local, UacReply(408, REASONS.get(408, "Request Timeout"), None, local.call_id, True))

    @staticmethod
    def _tell(local: LocalRequest, reply: UacReply) -> None:
        if local.callback is None:
            return
        try:
            local.callback(reply)
        except Exception:
            log.exception("tm uac: the reply callback of %s failed", local.call_id)
