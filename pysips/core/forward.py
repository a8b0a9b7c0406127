"""Stateless request forwarding: forward() and send() of the OpenSIPS core.

forward() sends the request, with the script's changes, to $du (else the new R-URI, else the
R-URI), resolved per RFC 3263, after adding our Via. The branch is the stateless one of
pysips.sip.branch, so a CANCEL or a non-2xx ACK forwarded the same way carries its INVITE's branch.
Our Via is inserted into the serialized bytes rather than pushed onto the message, so calling
forward() twice sends two clean copies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pysips.core.advertise import advertised_socket
from pysips.core.api import Destination, Socket
from pysips.core.engine import Engine
from pysips.core.services import RECORD_ROUTE
from pysips.core.sockets import default_port
from pysips.script.context import MsgContext
from pysips.sip.branch import stateless_branch
from pysips.sip.message import SipMessage

log = logging.getLogger("pysips.core")

PROTOS = ("udp", "tcp", "tls", "ws", "wss", "sctp")


@dataclass(frozen=True, slots=True)
class HostPort:
    """`[proto:]host[:port]` as given to forward()/send()/force_send_socket()."""

    proto: str | None
    host: str
    port: int | None


def parse_phostport(text: str) -> HostPort | None:
    """OpenSIPS's parse_phostport: `udp:1.2.3.4:5060`, `host`, `[::1]:5070`, `tls:h`; also a SIP URI."""
    text = text.strip()
    if text[:4].lower() == "sip:" or text[:5].lower() == "sips:":
        return None
    proto: str | None = None
    head, sep, rest = text.partition(":")
    if sep and head.lower() in PROTOS:
        proto = head.lower()
        text = rest
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, tail = text[1:end], text[end + 1 :]
        if tail and not tail.startswith(":"):
            return None
        port_text = tail[1:]
    elif text.count(":") > 1:
        host, port_text = text, ""
    else:
        host, _, port_text = text.partition(":")
    if not host:
        return None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        return HostPort(proto, host, int(port_text))
    return HostPort(proto, host, None)


def destinations_for(engine: Engine, ctx: MsgContext, target: HostPort | str | None) -> list[Destination]:
    if isinstance(target, HostPort):
        proto = target.proto or "udp"
        return engine.resolve_host(proto, target.host, target.port or default_port(proto))
    msg = ctx.msg
    uri = target or ctx.dst_uri or ctx.new_ruri or (msg.ruri if isinstance(msg, SipMessage) else "")
    return engine.resolve(uri)


def forward_request(engine: Engine, ctx: MsgContext, target: HostPort | str | None = None) -> int:
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request:
        log.error("forward(): no request to forward")
        return -1
    dests = destinations_for(engine, ctx, target)
    if not dests:
        log.error("forward(): no destination for %s", ctx.dst_uri or ctx.new_ruri or msg.ruri)
        engine.stats["drop_requests"] += 1
        return -1
    for dst in dests:
        sock = engine.socket_for(dst, ctx)
        if sock is None:
            log.error("forward(): no %s socket to reach %s:%d", dst.proto, dst.ip, dst.port)
            continue
        if sock.proto != dst.proto:
            dst = Destination(sock.proto, dst.ip, dst.port, dst.conn_id)
        if ctx.new_ruri is not None and ctx.new_ruri != msg.ruri:
            msg.set_ruri(ctx.new_ruri)
        engine.prepare_relay(ctx)
        finalize_for_socket(engine, msg, advertised_socket(ctx, sock))
        via = engine.via_for(sock, stateless_branch(msg), ctx)
        # a copy takes our Via (placed as tm places it, after what the script put on top), so a
        # second forward() of the same request does not carry it twice
        out = msg.copy()
        out.push_via(via)
        data = out.serialize(add_content_length=sock.reliable)
        if engine.send(data, dst, sock):
            engine.stats["fwd_requests"] += 1
            return 1
        log.error("forward(): sending to %s:%s:%d failed", dst.proto, dst.ip, dst.port)
    engine.stats["drop_requests"] += 1
    return -1


def finalize_for_socket(engine: Engine, msg: SipMessage, sock: Socket) -> None:
    """Socket-dependent edits before serializing: rr's Record-Route(s) for the outgoing socket
    (a second one when it differs from the receiving socket), as tm does for each branch."""
    routes = engine.process.services.get(RECORD_ROUTE)
    if routes is not None:
        routes.finalize_for_socket(msg, sock)


def send_as_is(engine: Engine, ctx: MsgContext, target: HostPort, headers: str | None) -> int:
    """send(): the message (with the script's lumps, no Via of ours) to an explicit address."""
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return -1
    dests = destinations_for(engine, ctx, target)
    if not dests:
        log.error("send(): %s does not resolve", target.host)
        return -1
    dst = dests[0]
    sock = engine.socket_for(dst, ctx)
    if sock is None:
        log.error("send(): no %s socket to reach %s:%d", dst.proto, dst.ip, dst.port)
        return -1
    data = msg.serialize(add_content_length=sock.reliable)
    if headers:
        block = headers if headers.endswith("\r\n") else headers + "\r\n"
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            data = data[: end + 2] + block.encode("utf-8", "surrogateescape") + data[end + 2 :]
    return 1 if engine.send(data, dst, sock) else -1
