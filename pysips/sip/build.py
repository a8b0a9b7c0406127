"""Writing messages: responses to requests (RFC 3261 section 8.2.6), CANCEL and non-2xx ACK
(sections 9.1 and 17.1.1.3), and new requests."""

from __future__ import annotations

from collections.abc import Iterable

from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.nameaddr import NameAddr, parse_name_addr

_CRLF = b"\r\n"


def _enc(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _lines(headers: Iterable[str]) -> list[bytes]:
    out = []
    for header in headers:
        data = _enc(header)
        out.append(data if data.endswith(_CRLF) else data + _CRLF)
    return out


def _to_with_tag(request: SipMessage, raw: list[bytes] | None, to_tag: str | None) -> bytes:
    """The reply's To line: the request's as received, with `to_tag` added when it has none."""
    if not raw:
        return b""
    if to_tag is None or request.to_tag is not None:
        # the parser's tag: found by a string search that defers to the full name-addr parse
        # whenever the spelling is unusual, so it is what `request.to.tag` would say
        return raw[0]
    value = request.header("to") or ""
    if isinstance(request.to_header(), ParseError) and ";tag=" in value.replace(" ", "").lower():
        return raw[0]  # a To that does not parse: a tag parameter written in it still counts
    return b"To: " + _enc(value) + b";tag=" + _enc(to_tag) + _CRLF


# what a reply copies from its request (RFC 3261 section 8.2.6.2; Record-Route and Timestamp
# only for some statuses), found in one pass over the request's header lines
_COPIED = frozenset(("via", "record-route", "to", "from", "call-id", "cseq", "timestamp"))


def make_response(
    request: SipMessage,
    status: int,
    reason: str,
    to_tag: str | None = None,
    extra_headers: Iterable[str] = (),
    body: bytes = b"",
    copy_record_route: bool = False,
    content_type: str | None = None,
    first_via: bytes | None = None,
) -> bytes:
    """A response to `request`: Via, From, Call-ID and CSeq copied byte for byte, To with `to_tag`
    added unless the request already had one (or status is 100), Record-Route copied for 180-299
    (as OpenSIPS does) or when asked, Timestamp echoed on 100. Works on ParseError.partial.
    `first_via` replaces the first Via line (a server's received/rport, pysips.core.via_fix).
    The order is OpenSIPS's: Via, Record-Route, To, From, Call-ID, CSeq, extra headers."""
    copied = request.raw_header_groups(_COPIED)
    get = copied.get
    out = [f"SIP/2.0 {status} {reason}\r\n".encode()]
    vias = get("via")
    if vias:
        if first_via is not None:
            out.append(first_via)
            out += vias[1:]
        else:
            out += vias
    if copy_record_route or 180 <= status < 300:
        out += get("record-route", ())
    to_line = _to_with_tag(request, get("to"), None if status == 100 else to_tag)
    if to_line:
        out.append(to_line)
    out += get("from", ())
    out += get("call-id", ())
    out += get("cseq", ())
    if status == 100:
        out += get("timestamp", ())
    out += _lines(extra_headers)
    if body and content_type:
        out.append(_enc(f"Content-Type: {content_type}\r\n"))
    out.append(f"Content-Length: {len(body)}\r\n\r\n".encode())
    if body:
        out.append(body)
    return b"".join(out)


def _first_via_line(request: SipMessage) -> bytes:
    if not request.vias:
        return b""
    return b"Via: " + _enc(request.vias[0].text) + _CRLF


def make_cancel(request: SipMessage, extra_headers: Iterable[str] = ()) -> bytes:
    """CANCEL for a request we sent: same Request-URI, top Via, Route, From, To, Call-ID and CSeq
    number (RFC 3261 section 9.1)."""
    # OpenSIPS's order (tm build_local): Via, From, Call-ID, To, CSeq, Max-Forwards, Route, extra
    out = [_enc(f"CANCEL {request.ruri} SIP/2.0\r\n"), _first_via_line(request)]
    out += request.raw_header_bytes("from")
    out += request.raw_header_bytes("call-id")
    out += request.raw_header_bytes("to")
    out.append(f"CSeq: {request.cseq.number} CANCEL\r\n".encode())
    out.append(b"Max-Forwards: 70\r\n")
    out += request.raw_header_bytes("route")
    out += _lines(extra_headers)
    out.append(b"Content-Length: 0\r\n\r\n")
    return b"".join(out)


def make_ack_for_non2xx(request: SipMessage, response: SipMessage) -> bytes:
    """The ACK a client transaction sends for a 300-699 reply (RFC 3261 section 17.1.1.3): the
    request's Request-URI, top Via, Route, From, Call-ID; the reply's To (with its tag)."""
    out = [_enc(f"ACK {request.ruri} SIP/2.0\r\n"), _first_via_line(request)]
    out.append(b"Max-Forwards: 70\r\n")
    out += request.raw_header_bytes("route")
    out += request.raw_header_bytes("from")
    out += response.raw_header_bytes("to")
    out += request.raw_header_bytes("call-id")
    out.append(f"CSeq: {request.cseq.number} ACK\r\n".encode())
    out.append(b"Content-Length: 0\r\n\r\n")
    return b"".join(out)


def make_request(
    method: str,
    ruri: str,
    *,
    from_: str,
    to: str,
    call_id: str,
    cseq: int,
    via: str | None = None,
    contact: str | None = None,
    routes: Iterable[str] = (),
    max_forwards: int = 70,
    extra_headers: Iterable[str] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> bytes:
    """A new request. `from_`/`to` are name-addr values (tags included by the caller); `via` is a
    via-parm ("SIP/2.0/UDP host:port;branch=z9hG4bK...") or None when the transport adds it."""
    out = [_enc(f"{method} {ruri} SIP/2.0\r\n")]
    if via is not None:
        out.append(_enc(f"Via: {via}\r\n"))
    out.append(f"Max-Forwards: {max_forwards}\r\n".encode())
    out += [_enc(f"Route: {route}\r\n") for route in routes]
    out.append(_enc(f"From: {from_}\r\n"))
    out.append(_enc(f"To: {to}\r\n"))
    out.append(_enc(f"Call-ID: {call_id}\r\n"))
    out.append(_enc(f"CSeq: {cseq} {method}\r\n"))
    if contact is not None:
        out.append(_enc(f"Contact: {contact}\r\n"))
    out += _lines(extra_headers)
    if body and content_type:
        out.append(_enc(f"Content-Type: {content_type}\r\n"))
    out.append(f"Content-Length: {len(body)}\r\n\r\n".encode())
    if body:
        out.append(body)
    return b"".join(out)


def tag_of(name_addr: str) -> str | None:
    """The tag parameter of a From/To value, or None."""
    parsed = parse_name_addr(name_addr)
    return parsed.tag if isinstance(parsed, NameAddr) else None
