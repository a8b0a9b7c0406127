"""The `received` and `rport` parameters a server adds to the top Via of a request it received.

RFC 3261 18.2.1: add `received=<source ip>` when the sent-by host is not the source address.
RFC 3581: when the Via carries `rport` without a value (or the script called force_rport()), fill
in the source port and always add `received`. The fixed Via goes into every copy of the request we
forward and into every reply we build, as OpenSIPS does.
"""

from __future__ import annotations

from pysips.sip.message import SipMessage
from pysips.sip.receive import ReceiveInfo
from pysips.sip.via import Via


def _same_host(via_host: str, ip: str) -> bool:
    if via_host.startswith("["):
        via_host = via_host[1:-1]
    return via_host.lower() == ip.lower()


def fixed_via_text(via: Via, rcv: ReceiveInfo, force_rport: bool = False, *,
                   reply: bool = False) -> str | None:
    """The top via-parm with received/rport filled in, or None when it needs no change.

    Where they go follows OpenSIPS, so the bytes a next hop sees are the same: an existing
    `received` or `rport` is overwritten in place (an rport that has a value too); a new
    `received` goes right after host:port, before the other parameters. A forced rport the Via
    did not carry goes there as well: before `received` in a forwarded request, after it in a
    reply we build (the two are assembled differently in OpenSIPS).
    """
    head, sep, params_text = via.text.partition(";")
    params = params_text.split(";") if sep else []
    names = [p.split("=", 1)[0].strip().lower() for p in params]
    has_rport = "rport" in names
    wants_rport = force_rport or has_rport
    checked_host = via.maddr if via.maddr else via.host
    if not (wants_rport or via.received is not None or not _same_host(checked_host, rcv.src_ip)):
        return None
    received = f"received={rcv.src_ip}"
    rport = f"rport={rcv.src_port}"
    front: list[str] = []
    if "received" in names:
        params[names.index("received")] = received
    else:
        front.append(received)
    if has_rport:
        params[names.index("rport")] = rport
    elif force_rport:
        if reply:
            front.append(rport)
        else:
            front.insert(0, rport)
    text = ";".join([head, *front, *params])
    return None if text == via.text else text


def first_via_line(msg: SipMessage) -> bytes | None:
    """The raw bytes of the header line holding the top Via (CRLF included)."""
    lines = msg.raw_header_bytes("via")
    return lines[0] if lines else None


def replace_top_via(line: bytes, old_text: str, new_text: str) -> bytes | None:
    """`line` with its first via-parm replaced; None when the value cannot be found as written
    (folded across lines), then callers rewrite the whole line instead."""
    old = old_text.encode("utf-8", "surrogateescape")
    at = line.find(old)
    if at < 0:
        return None
    return line[:at] + new_text.encode("utf-8", "surrogateescape") + line[at + len(old) :]


def apply_to_request(msg: SipMessage, rcv: ReceiveInfo, force_rport: bool = False) -> bool:
    """Edit the received request so its top Via carries received/rport; True when it changed."""
    via = msg.top_via  # parsed with the message; the lower Vias need no parsing here
    if via is None:
        return False
    new_text = fixed_via_text(via, rcv, force_rport)
    if new_text is None:
        return False
    spans = msg.header_spans("via")
    if not spans:
        return False
    start, end = spans[0]  # the exact bytes of the top Via's line: no search in the message
    line = msg.raw[start:end]
    new_line = replace_top_via(line, via.text, new_text)
    if new_line is None:
        msg.pop_via()
        msg.push_via(new_text)
        return True
    msg.add_lump(start, end, new_line)
    return True


def reply_via_line(request: SipMessage, rcv: ReceiveInfo, force_rport: bool = False) -> bytes | None:
    """The first Via line of a reply we build to `request`, its top Via fixed as in the request
    (make_response's `first_via`); None when the line is copied unchanged."""
    via = request.top_via
    if via is None:
        return None
    new_text = fixed_via_text(via, rcv, force_rport, reply=True)
    if new_text is None:
        return None
    line = first_via_line(request)
    if line is None:
        return None
    new_line = replace_top_via(line, via.text, new_text)
    if new_line is None:
        # the value is not written as parsed (folded): the line is rewritten with every value
        rest = [v.text for v in request.vias[1 : _values_in_first_line(request)]]
        new_line = ("Via: " + ", ".join([new_text, *rest]) + "\r\n").encode("utf-8", "surrogateescape")
    return new_line


def _values_in_first_line(request: SipMessage) -> int:
    first = request.headers("via")
    return first[0].count(",") + 1 if first else 1
