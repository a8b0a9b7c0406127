"""Bytes tm writes: forwarded requests (one per branch), relayed replies, CANCELs.

A forwarded request is the received one with the script's lumps (the engine's received/rport fix
of the previous hop's Via among them), its branch's Request-URI and our Via on top. Local replies
are built by the engine (Core.build_reply), which knows the reply lumps and the Via rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pysips.core.api import Socket
from pysips.sip.build import make_cancel
from pysips.sip.message import SipMessage, parse_message

if TYPE_CHECKING:
    from pysips.core.api import Core
    from pysips.sip.receive import ReceiveInfo


def clone_request(msg: SipMessage) -> SipMessage:
    """A copy of `msg` whose edits (lumps, R-URI, Vias, body) are its own from now on."""
    return msg.copy()


def socket_of(core: Core, rcv: ReceiveInfo) -> Socket | None:
    """The listening socket a message arrived on."""
    for sock in core.sockets:
        if sock.port == rcv.local_port and sock.ip == rcv.local_ip and sock.proto == rcv.proto:
            return sock
    for sock in core.sockets:
        if sock.port == rcv.local_port and sock.ip == rcv.local_ip:
            return sock
    return core.sockets[0] if core.sockets else None


def build_request(msg: SipMessage, ruri: str | None, via: str, reliable: bool) -> bytes:
    """`msg` (already a private clone) as it leaves: its branch's R-URI and our Via on top."""
    if ruri is not None and ruri != msg.ruri:
        msg.set_ruri(ruri)
    msg.push_via(via)
    return msg.serialize(add_content_length=reliable)


def relayed_reply(reply: SipMessage) -> bytes:
    """The reply without our Via. A 503 goes up as 503: RFC 3261 16.7 step 6 asks for 500, but
    OpenSIPS relays the stored reply unchanged (t_reply.c relay_reply), and so do we."""
    reply.pop_via()
    return reply.serialize()


def cancel_for(sent_request: bytes, reason_header: str | None) -> bytes | None:
    """CANCEL for a request we sent (RFC 3261 9.1): same R-URI, top Via, Route, From, To, Call-ID."""
    parsed = parse_message(sent_request)
    if not isinstance(parsed, SipMessage):
        return None
    extra = (reason_header,) if reason_header else ()
    return make_cancel(parsed, extra_headers=extra)
