"""Messages the transaction layer writes itself: the ACK for a non-2xx final and 100 Trying.

The ACK is built from the bytes of the request as it was sent (17.1.1.3): the proxy's lumps are
already applied there, so the Via and Route headers are exactly those the next hop saw.
"""

from __future__ import annotations

from .transaction_types import MessageLike

_CRLF = b"\r\n"
# Header names the ACK copies, lowercased, with their compact forms.
_VIA = (b"via", b"v")
_FROM = (b"from", b"f")
_CALL_ID = (b"call-id", b"i")
_CSEQ = (b"cseq",)
_ROUTE = (b"route",)
_TO = (b"to", b"t")


def status_of(data: bytes) -> int:
    """Status code of serialized response bytes, 0 when they do not start with a status line."""
    if len(data) < 12 or not data.startswith(b"SIP/2.0 ") or data[11:12] not in (b" ", b"\r"):
        return 0
    code = data[8:11]
    if not code.isdigit():
        return 0
    status = int(code)
    return status if 100 <= status <= 699 else 0


def _header_lines(data: bytes) -> list[tuple[bytes, bytes]]:
    """(lowercased name, value) for each header field of `data`, folded lines joined."""
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    lines = head.split(_CRLF)[1:]
    fields: list[tuple[bytes, bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b" " + line.strip())
            continue
        colon = line.find(b":")
        if colon <= 0:
            continue
        fields.append((line[:colon].strip().lower(), line[colon + 1 :].strip()))
    return fields


def _first_value(value: bytes) -> bytes:
    """The first element of a comma-separated header value (commas in quotes do not split)."""
    quoted = False
    for index, char in enumerate(value):
        if char == 0x22:  # '"'
            quoted = not quoted
        elif char == 0x2C and not quoted:  # ','
            return value[:index].strip()
    return value


def build_ack_for_non2xx(request: bytes, response_to: str) -> bytes | None:
    """The hop-by-hop ACK of RFC 3261 17.1.1.3, or None if `request` lacks what it needs.

    Request-URI, Call-ID, From, CSeq number and the single top Via come from the request; To
    (with the tag of the response) from the response; Route headers are copied in order.
    """
    line_end = request.find(_CRLF)
    if line_end < 0:
        return None
    parts = request[:line_end].split(b" ")
    if len(parts) != 3:
        return None
    via = from_ = call_id = cseq = None
    routes: list[bytes] = []
    for name, value in _header_lines(request):
        if name in _VIA:
            if via is None:
                via = _first_value(value)
        elif name in _FROM:
            from_ = value
        elif name in _CALL_ID:
            call_id = value
        elif name in _CSEQ:
            cseq = value
        elif name in _ROUTE:
            routes.append(value)
    if via is None or from_ is None or call_id is None or cseq is None:
        return None
    number = cseq.split(None, 1)[0] if cseq.split() else b""
    if not number.isdigit():
        return None
    # OpenSIPS's order (tm build_local), so a next hop sees the same bytes from both
    out = [b"ACK " + parts[1] + b" SIP/2.0", b"Via: " + via]
    out.append(b"From: " + from_)
    out.append(b"Call-ID: " + call_id)
    out.append(b"To: " + response_to.encode())
    out.append(b"CSeq: " + number + b" ACK")
    out.append(b"Max-Forwards: 70")
    out.extend(b"Route: " + route for route in routes)
    out.append(b"Content-Length: 0")
    return _CRLF.join(out) + b"\r\n\r\n"


def build_trying(request: MessageLike) -> bytes:
    """100 Trying for `request` (8.2.6): Via, From, To, Call-ID, CSeq and Timestamp copied."""
    out = ["SIP/2.0 100 Trying"]
    out.extend("Via: " + via for via in request.headers("Via"))
    for name in ("From", "To", "Call-ID", "CSeq", "Timestamp"):
        value = request.header(name)
        if value is not None:
            out.append(name + ": " + value)
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode()


def to_tag_of(data: bytes) -> str | None:
    """The tag parameter of the To header of serialized bytes (RFC 2543 ACK matching)."""
    for name, value in _header_lines(data):
        if name in _TO:
            # The tag sits after the URI; skip a bracketed URI so its own params do not count.
            close = value.rfind(b">")
            params = value[close + 1 :] if close >= 0 else value
            for param in params.split(b";")[1:]:
                key, _, val = param.partition(b"=")
                if key.strip().lower() == b"tag":
                    return val.strip().decode(errors="replace")
            return None
    return None
