"""fix_nated_contact() and add_rcv_param(): Contact rewrites as lumps over the received message.

As in OpenSIPS, the parsed Contact keeps up with fix_nated_contact(): a save() later in the same
route stores the rewritten URI (the browser's `.invalid` host replaced by its source address).
"""

from __future__ import annotations

import base64
from typing import Any

from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.receive import ReceiveInfo

from .addresses import hostport_span

_FIXED = "nathelper.contact_fixed"


def source_hostport(rcv: ReceiveInfo) -> str:
    ip = f"[{rcv.src_ip}]" if ":" in rcv.src_ip else rcv.src_ip
    return f"{ip}:{rcv.src_port}"


def received_uri(rcv: ReceiveInfo) -> str:
    """The source as a URI (for `received`): transport only when it is not UDP."""
    uri = f"sip:{source_hostport(rcv)}"
    return uri if rcv.proto == "udp" else f"{uri};transport={rcv.proto}"


def _field_offsets(msg: SipMessage) -> list[tuple[int, int]]:
    return msg.header_spans("contact")


def _locate(msg: SipMessage, texts: list[str]) -> list[tuple[int, int] | None]:
    """Byte offsets in msg.raw of each text, searched in order through the Contact fields."""
    spans = _field_offsets(msg)
    out: list[tuple[int, int] | None] = []
    field = 0
    cursor = spans[0][0] if spans else 0
    raw = msg.raw
    for text in texts:
        needle = text.encode("utf-8", "surrogateescape")
        found = -1
        while field < len(spans):
            start, end = spans[field]
            found = raw.find(needle, max(cursor, start), end)
            if found >= 0:
                break
            field += 1
            if field < len(spans):
                cursor = spans[field][0]
        if found < 0:
            out.append(None)
            continue
        out.append((found, found + len(needle)))
        cursor = found + len(needle)
    return out


def fix_nated_contact(msg: SipMessage, rcv: ReceiveInfo, extra: dict[str, Any], params: str | None,
                      preserve_uri: bool) -> int:
    if extra.get(_FIXED) is msg:
        return -1  # OpenSIPS: a second rewrite of the same Contact is a script bug
    contacts = msg.contacts()
    if isinstance(contacts, ParseError):
        return -1
    real = [c for c in contacts if not c.star]
    if not real:
        return -1
    positions = _locate(msg, [c.uri for c in real])
    new_hostport = source_hostport(rcv)
    changed = False
    for c, where in zip(real, positions, strict=True):
        span = hostport_span(c.uri)
        if span is None or where is None:
            continue
        hp_start, hp_end = span
        org = ""
        if preserve_uri:
            org = ";org=" + base64.b64encode(c.uri[hp_start:hp_end].encode()).decode()
        new_uri = c.uri[:hp_start] + new_hostport + (params or "") + org + c.uri[hp_end:]
        enclosed = "<" in c.text
        replacement = new_uri if enclosed or not params else f"<{new_uri}>"
        msg.add_lump(where[0], where[1], replacement.encode("utf-8", "surrogateescape"))
        c.uri = new_uri
        c._parsed = None  # the cached parse of the old text
        changed = True
    if changed:
        extra[_FIXED] = msg
    return 1 if changed else -1


def add_rcv_param(msg: SipMessage, rcv: ReceiveInfo, to_uri: bool) -> int:
    contacts = msg.contacts()
    if isinstance(contacts, ParseError):
        return -1
    real = [c for c in contacts if not c.star]
    if not real:
        return -1
    value = f'received="{received_uri(rcv)}"'
    key = [c.uri if to_uri else c.text for c in real]
    for c, where in zip(real, _locate(msg, key), strict=True):
        if where is None:
            continue
        if to_uri and "<" not in c.text:
            # the parameter must stay inside the URI: enclose it
            msg.add_lump(where[0], where[0], b"<")
            msg.add_lump(where[1], where[1], f";{value}>".encode())
        else:
            msg.add_lump(where[1], where[1], f";{value}".encode())
    return 1
