"""Bytes tm writes: forwarded requests (one per branch), relayed replies, CANCELs.

A forwarded request is the received one with the script's lumps (the engine's received/rport fix
of the previous hop's Via among them), its branch's Request-URI and our Via on top. Local replies
are built by the engine (Core.build_reply), which knows the reply lumps and the Via rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pysips.core.api import Socket
from pysips.core.replies import relayed_status
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


def relayed_reply(reply: SipMessage, translate_503: bool = True) -> bytes:
    """The reply without our Via; a 503 goes up as 500 (the reason phrase kept), as OpenSIPS
    relays it, unless disable_503_translation is set (the engine's translate_503)."""
    if not reply.has_edits:
        cut = _without_first_via_line(reply.serialize())
        if cut is not None:
            return relayed_status(cut, translate_503)
    reply.pop_via()
    return relayed_status(reply.serialize(), translate_503)


_VIA_NAMES = (b"via:", b"via :", b"v:", b"v :")


def _without_first_via_line(data: bytes) -> bytes | None:
    """The usual reply, whose first header line is our Via alone: that line cut out of the bytes,
    without indexing every header. None when the layout is anything else (the general path)."""
    start = data.find(b"\r\n") + 2
    end = data.find(b"\r\n", start)
    if start < 2 or end < 0 or data[end + 2 : end + 3] in (b" ", b"\t"):
        return None  # no header, or a folded line
    head = data[start : start + 5].lower()
    if not head.startswith(_VIA_NAMES) or data.find(b",", start, end) >= 0:
        return None  # another header first, or several Via values on the line
    return data[:start] + data[end + 2 :]


def cancel_for(sent_request: bytes, reason_header: str | None) -> bytes | None:
    """CANCEL for a request we sent (RFC 3261 9.1): same R-URI, top Via, Route, From, To, Call-ID."""
    parsed = parse_message(sent_request)
    if not isinstance(parsed, SipMessage):
        return None
    extra = (reason_header,) if reason_header else ()
    return make_cancel(parsed, extra_headers=extra)
