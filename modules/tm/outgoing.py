"""Bytes tm writes: forwarded requests (one per branch), relayed and local replies, CANCELs.

The forwarded request is the received one with the script's lumps, its branch's Request-URI, the
received/rport parameters on the previous hop's Via (RFC 3261 18.2.1, RFC 3581) and our Via on top.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from pysips.core.api import Destination, Socket
from pysips.script.context import MSGFL_ADD_LOCAL_RPORT, MSGFL_FORCE_RPORT
from pysips.sip.build import make_cancel, make_response
from pysips.sip.headers import split_commas
from pysips.sip.message import SipMessage, parse_message

if TYPE_CHECKING:
    from pysips.core.api import Core
    from pysips.sip.receive import ReceiveInfo

_DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443, "sctp": 5060}


def clone_request(msg: SipMessage) -> SipMessage:
    """A copy of `msg` whose edits (lumps, R-URI, Vias) are its own from now on."""
    copier = getattr(msg, "copy", None)
    if callable(copier):
        clone: SipMessage = copier()
        return clone
    # Until pysips.sip offers SipMessage.copy(): the buffers are immutable and shared; only the
    # edit lists must not be.
    clone = copy.copy(msg)
    clone._lumps = list(msg._lumps)
    clone._pushed_vias = list(msg._pushed_vias)
    clone._cache = None
    return clone


def default_port(proto: str) -> int:
    return _DEFAULT_PORTS.get(proto.lower(), 5060)


def socket_of(core: Core, rcv: ReceiveInfo) -> Socket | None:
    """The listening socket a message arrived on."""
    for sock in core.sockets:
        if sock.port == rcv.local_port and sock.ip == rcv.local_ip and sock.proto == rcv.proto:
            return sock
    for sock in core.sockets:
        if sock.port == rcv.local_port and sock.ip == rcv.local_ip:
            return sock
    return core.sockets[0] if core.sockets else None


def reply_destination(request: SipMessage, rcv: ReceiveInfo, msg_flags: int = 0) -> Destination:
    """Where replies to `request` go: back over its connection; on UDP to the source address and
    the Via port, or the source port with rport (RFC 3581) or force_rport()."""
    if rcv.proto != "udp":
        return Destination(rcv.proto, rcv.src_ip, rcv.src_port, rcv.conn_id)
    via = request.vias[0] if request.vias else None
    if via is None or via.rport is not None or msg_flags & MSGFL_FORCE_RPORT:
        return Destination("udp", rcv.src_ip, rcv.src_port)
    return Destination("udp", rcv.src_ip, via.port or default_port(via.proto))


def _strip_brackets(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def fix_top_via(msg: SipMessage, rcv: ReceiveInfo, msg_flags: int) -> None:
    """Add received= (source address differs from sent-by) and fill rport= (RFC 3581)."""
    if not msg.vias:
        return
    via = msg.vias[0]
    want_rport = via.rport is not None or bool(msg_flags & MSGFL_FORCE_RPORT)
    need_received = _strip_brackets(via.host) != rcv.src_ip or want_rport
    if not need_received and not want_rport:
        return
    lines = msg.raw_header_bytes("via")
    if not lines:
        return
    line = lines[0]
    start = msg.raw.find(line)
    if start < 0:
        return
    name, _, value = line.decode("utf-8", "surrogateescape").partition(":")
    values = split_commas(value.strip())
    params = [p for p in via.text.split(";")]
    out = [params[0].rstrip()]
    has_rport = False
    for param in params[1:]:
        key = param.split("=", 1)[0].strip().lower()
        if key == "received":
            continue
        if key == "rport":
            has_rport = True
            out.append(f"rport={rcv.src_port}")
            continue
        out.append(param.strip())
    if want_rport and not has_rport:
        out.append(f"rport={rcv.src_port}")
    out.append(f"received={rcv.src_ip}")
    values[0] = ";".join(out)
    new_line = f"{name}: {', '.join(values)}\r\n".encode("utf-8", "surrogateescape")
    msg.add_lump(start, start + len(line), new_line)


def our_via(socket: Socket, via_branch: str, local_rport: bool = False) -> str:
    text = f"SIP/2.0/{socket.proto.upper()} {socket.host_for_headers}:{socket.port_for_headers};branch={via_branch}"
    return text + ";rport" if local_rport else text


def build_request(
    msg: SipMessage, ruri: str | None, socket: Socket, via_branch: str, rcv: ReceiveInfo | None, msg_flags: int
) -> bytes:
    """`msg` (already a private clone) as it leaves on `socket` with `via_branch`."""
    if ruri is not None and ruri != msg.ruri:
        msg.set_ruri(ruri)
    if rcv is not None:
        fix_top_via(msg, rcv, msg_flags)
    msg.push_via(our_via(socket, via_branch, bool(msg_flags & MSGFL_ADD_LOCAL_RPORT)))
    return msg.serialize(add_content_length=socket.reliable)


def local_reply(
    request: SipMessage,
    code: int,
    reason: str,
    to_tag: str | None,
    extra_headers: tuple[str, ...] = (),
    body: bytes = b"",
) -> bytes:
    return make_response(request, code, reason, to_tag=to_tag if code >= 180 else None,
                         extra_headers=extra_headers, body=body)


def relayed_reply(reply: SipMessage, rewrite_503: bool) -> bytes:
    """The reply without our Via; a relayed 503 becomes 500 (RFC 3261 16.7 step 6)."""
    reply.pop_via()
    data = reply.serialize()
    if rewrite_503 and reply.status == 503:
        end = data.find(b"\r\n")
        data = b"SIP/2.0 500 Service Unavailable Downstream" + data[end:]
    return data


def cancel_for(sent_request: bytes, reason_header: str | None) -> bytes | None:
    """CANCEL for a request we sent (RFC 3261 9.1): same R-URI, top Via, Route, From, To, Call-ID."""
    parsed = parse_message(sent_request)
    if not isinstance(parsed, SipMessage):
        return None
    extra = (reason_header,) if reason_header else ()
    return make_cancel(parsed, extra_headers=extra)
