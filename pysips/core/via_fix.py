"""The `received` and `rport` parameters a server adds to the top Via of a request it received.

RFC 3261 18.2.1: add `received=<source ip>` when the sent-by host is not the source address.
RFC 3581: when the Via carries `rport` without a value (or the script called force_rport()), fill
in the source port and always add `received`. The fixed Via goes into every copy of the request we
forward and into every reply we build, as OpenSIPS does.
"""

from __future__ import annotations

import re

from pysips.sip.message import SipMessage
from pysips.sip.receive import ReceiveInfo
from pysips.sip.via import Via

# `;rport` with no value, wherever it sits among the parameters
_EMPTY_RPORT = re.compile(r";[ \t]*rport[ \t]*(?=;|$)", re.IGNORECASE)


def _same_host(via_host: str, ip: str) -> bool:
    if via_host.startswith("["):
        via_host = via_host[1:-1]
    return via_host.lower() == ip.lower()


def fixed_via_text(via: Via, rcv: ReceiveInfo, force_rport: bool = False) -> str | None:
    """The top via-parm with received/rport filled in, or None when it needs no change."""
    rport = via.rport
    wants_rport = force_rport or rport == ""
    needs_received = wants_rport or not _same_host(via.host, rcv.src_ip)
    if not needs_received:
        return None
    text = via.text
    if via.received is not None and via.received == rcv.src_ip and not wants_rport:
        return None
    params: list[str] = []
    if via.received is None:
        params.append(f";received={rcv.src_ip}")
    if wants_rport:
        if rport == "":
            text = _EMPTY_RPORT.sub("", text, count=1)
        if rport is None or rport == "":
            params.append(f";rport={rcv.src_port}")
    if not params:
        return None
    return text + "".join(params)


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
    line = first_via_line(msg)
    if line is None:
        return False
    raw = msg.raw
    # the header line is preceded by CRLF; searching with it avoids matching inside e.g. "X-Via:"
    start = raw.find(b"\r\n" + line)
    new_line = replace_top_via(line, via.text, new_text)
    if start < 0 or new_line is None:
        msg.pop_via()
        msg.push_via(new_text)
        return True
    start += 2
    msg.add_lump(start, start + len(line), new_line)
    return True


def fix_reply_vias(reply: bytes, request: SipMessage, rcv: ReceiveInfo, force_rport: bool = False) -> bytes:
    """A reply built from `request`'s raw Via lines, with the top Via fixed as in the request."""
    via = request.top_via
    if via is None:
        return reply
    new_text = fixed_via_text(via, rcv, force_rport)
    if new_text is None:
        return reply
    line = first_via_line(request)
    if line is None:
        return reply
    new_line = replace_top_via(line, via.text, new_text)
    if new_line is None:
        rest = [v.text for v in request.vias[1 : _values_in_first_line(request)]]
        new_line = ("Via: " + ", ".join([new_text, *rest]) + "\r\n").encode("utf-8", "surrogateescape")
    at = reply.find(b"\r\n" + line)
    if at < 0:
        return reply
    at += 2
    return reply[:at] + new_line + reply[at + len(line) :]


def _values_in_first_line(request: SipMessage) -> int:
    first = request.headers("via")
    return first[0].count(",") + 1 if first else 1
