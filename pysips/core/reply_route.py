"""Where replies go.

A reply to a request we received (RFC 3261 18.2.2, RFC 3581): over the connection the request came
on when it is a stream; else to the source address, at the source port when the Via asked for
rport (or force_rport() was called), else at the sent-by port (5060 when absent). The `received`
rule of 18.2.2 sends to the source address too: we add `received` exactly when sent-by differs
from it.

A reply we forward statelessly (RFC 3261 18.2.2 applied to the next Via): to its `received` (or
sent-by host), at its `rport` value (or sent-by port).
"""

from __future__ import annotations

from pysips.core.api import Destination
from pysips.core.sockets import default_port
from pysips.sip.message import SipMessage
from pysips.sip.receive import ReceiveInfo
from pysips.sip.via import Via


def to_source(rcv: ReceiveInfo) -> Destination:
    """The peer a request came from, exactly (OpenSIPS's sl replies: update_sock_struct_from_ip)."""
    return Destination(rcv.proto, rcv.src_ip, rcv.src_port, rcv.conn_id)


def reply_destination(request: SipMessage, rcv: ReceiveInfo, force_rport: bool = False) -> Destination:
    """RFC 3261 18.2.2 for a request we received."""
    if rcv.conn_id or rcv.proto != "udp":
        return Destination(rcv.proto, rcv.src_ip, rcv.src_port, rcv.conn_id)
    via = request.top_via
    if via is None or force_rport or via.rport is not None:
        return Destination(rcv.proto, rcv.src_ip, rcv.src_port)
    return Destination(rcv.proto, rcv.src_ip, via.port or default_port(rcv.proto))


def next_hop_of_reply(via: Via) -> tuple[str, str, int]:
    """(proto, host, port) a reply goes to by this Via (the one below ours); host may be a name."""
    proto = via.proto.lower()
    host = via.received or via.host
    if host.startswith("["):
        host = host[1:-1]
    rport = via.rport
    port = int(rport) if rport and rport.isdigit() else via.port or default_port(proto)
    return proto, host, port
