"""SIP messages: lazy parsing from bytes, header access, lumps, serialization.

`parse_message` reads the first line, splits the header lines once and interprets only what routing
needs (Via, CSeq, Call-ID, From, To, Max-Forwards, Content-Length, the Request-URI). Everything else
stays as raw bytes until asked for. Edits never touch `raw`: they are lumps applied by serialize().
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from pysips.sip.auth import AuthHeader, parse_auth
from pysips.sip.errors import ParseError
from pysips.sip.headers import (
    ContentType,
    CSeq,
    header_key,
    is_token,
    key_for_bytes,
    parse_content_type,
    parse_cseq,
    parse_delta_seconds,
    parse_option_tags,
    split_commas,
)
from pysips.sip.lumps import Lump, apply_lumps
from pysips.sip.nameaddr import Contact, NameAddr, parse_contacts, parse_name_addr, parse_name_addr_list
from pysips.sip.uri import SipUri, parse_uri
from pysips.sip.via import Via, parse_via, parse_vias

if TYPE_CHECKING:
    from pysips.sip.sdp import Sdp

# (canonical key, name as written, value bytes unfolded and stripped, start offset, end offset)
Field = tuple[str, bytes, bytes, int, int]

_SINGLE_VALUED = ("call-id", "cseq", "from", "to", "max-forwards")
_REQUIRED = ("via", "from", "to", "call-id", "cseq")
_AUTH_KEYS = frozenset(("authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate"))
_OPTION_TAG_KEYS = frozenset(("supported", "require", "proxy-require", "unsupported"))
_NAME_ADDR_LIST_KEYS = frozenset(("route", "record-route", "path", "service-route"))
_DELTA_KEYS = frozenset(("expires", "min-expires"))
_DIGITS = frozenset(b"0123456789")


def _decode(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class SipMessage:
    """A parsed request or response. Attributes hold the received values; edits are lumps.

    As in OpenSIPS, header(), body and friends show the message as received even after
    append_header(), remove_header() or set_body(); serialize() shows the edited message.
    The one exception is set_ruri(): `ruri` and uri() follow it, like $ru.
    """

    __slots__ = (
        "_body_start",
        "_cache",
        "_end",
        "_fields",
        "_index",
        "_lumps",
        "_new_body",
        "_new_ctype",
        "_new_ruri",
        "_pushed_vias",
        "_ruri_span",
        "_uri",
        "_vias_popped",
        "body",
        "call_id",
        "content_length",
        "cseq",
        "from_",
        "is_request",
        "max_forwards",
        "method",
        "raw",
        "reason",
        "ruri",
        "status",
        "to",
        "vias",
    )

    _body_start: int
    _cache: dict[str, Any] | None
    _end: int
    _fields: list[Field]
    _index: dict[str, list[int]]
    _lumps: list[Lump]
    _new_body: bytes | None
    _new_ctype: str | None
    _new_ruri: str | None
    _pushed_vias: list[str]
    _ruri_span: tuple[int, int]
    _uri: SipUri | ParseError | None
    _vias_popped: int
    raw: bytes
    is_request: bool
    method: str
    ruri: str
    status: int
    reason: str
    call_id: str
    cseq: CSeq
    from_: NameAddr
    to: NameAddr
    vias: list[Via]
    max_forwards: int | None
    content_length: int | None
    body: bytes

    # ---------------------------------------------------------------- header access

    def _value(self, i: int) -> str:
        return _decode(self._fields[i][2])

    def header(self, name: str) -> str | None:
        """First header field body with this name (case-insensitive, compact forms match)."""
        idx = self._index.get(header_key(name))
        return _decode(self._fields[idx[0]][2]) if idx else None

    def headers(self, name: str) -> list[str]:
        """Every field body with this name, in order (one entry per header line)."""
        idx = self._index.get(header_key(name))
        if not idx:
            return []
        fields = self._fields
        return [_decode(fields[i][2]) for i in idx]

    def has_header(self, name: str) -> bool:
        return header_key(name) in self._index

    def header_names(self) -> list[str]:
        """Header names as written, in order."""
        return [f[1].rstrip(b" \t").decode("latin-1") for f in self._fields]

    def header_fields(self) -> list[tuple[str, str]]:
        """(name as written, body) for every header line, in order."""
        return [(f[1].rstrip(b" \t").decode("latin-1"), _decode(f[2])) for f in self._fields]

    def header_count(self, name: str) -> int:
        return len(self._index.get(header_key(name), ()))

    def raw_header_bytes(self, name: str) -> list[bytes]:
        """The exact received bytes of each field with this name, CRLF included."""
        raw = self.raw
        return [raw[self._fields[i][3] : self._fields[i][4]] for i in self._index.get(header_key(name), ())]

    @property
    def original_ruri(self) -> str:
        """The Request-URI as received, whatever set_ruri() did ($ou)."""
        start, end = self._ruri_span
        return _decode(self.raw[start:end])

    @property
    def top_via(self) -> Via | None:
        return self.vias[0] if self.vias else None

    @property
    def content_type(self) -> str | None:
        """Lower-cased media type ("application/sdp"), or None."""
        parsed = self.content_type_full()
        return parsed.media_type if isinstance(parsed, ContentType) else None

    def content_type_full(self) -> ContentType | ParseError | None:
        result = self._cached("content-type", _parse_content_type_header)
        return cast("ContentType | ParseError | None", result)

    def _cached(self, key: str, parse: Callable[[SipMessage], object]) -> Any:
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        if key in cache:
            return cache[key]
        value = parse(self)
        cache[key] = value
        return value

    def uri(self) -> SipUri | ParseError:
        """The parsed Request-URI (ParseError 416 for unknown schemes; 400 for replies)."""
        if self._uri is None:
            self._uri = parse_uri(self.ruri) if self.is_request else ParseError("a reply has no Request-URI")
        return self._uri

    def contacts(self) -> list[Contact] | ParseError:
        return cast("list[Contact] | ParseError", self._cached("contact", _parse_contact_header))

    def name_addrs(self, name: str) -> list[NameAddr] | ParseError:
        """Every entry of a name-addr list header (Route, Record-Route, Path...), in order."""
        key = header_key(name)
        return cast(
            "list[NameAddr] | ParseError", self._cached(key, lambda m: parse_name_addr_list(m.headers(key)))
        )

    def routes(self) -> list[NameAddr]:
        """Route entries; an unparsable Route header yields [] here (validate() reports it)."""
        result = self.name_addrs("route")
        return result if isinstance(result, list) else []

    def record_routes(self) -> list[NameAddr]:
        result = self.name_addrs("record-route")
        return result if isinstance(result, list) else []

    def option_tags(self, name: str) -> list[str]:
        """Supported / Require / Proxy-Require / Unsupported tags across all fields."""
        return parse_option_tags(self.headers(name))

    def expires(self) -> int | None:
        """The Expires header as seconds; None if absent or invalid (the default then applies)."""
        value = self.header("expires")
        if value is None:
            return None
        parsed = parse_delta_seconds(value)
        return parsed if isinstance(parsed, int) else None

    def auth(self, name: str) -> list[AuthHeader] | ParseError:
        """Parsed Authorization / Proxy-Authorization / WWW-Authenticate / Proxy-Authenticate."""
        out: list[AuthHeader] = []
        for value in self.headers(name):
            parsed = parse_auth(value)
            if isinstance(parsed, ParseError):
                return parsed
            out.append(parsed)
        return out

    def sdp(self) -> Sdp | ParseError | None:
        """The body parsed as SDP when Content-Type says so (or is absent); None without a body."""
        return cast("Sdp | ParseError | None", self._cached("sdp", _parse_sdp_body))

    @property
    def has_body(self) -> bool:
        return bool(self.body)

    def validate(self) -> ParseError | None:
        """Parse every structured header this stack knows; the first error, or None."""
        error = self._validate()
        if error is not None:
            error.partial = self
            if not self.is_request:
                error.status = None
        return error

    def _validate(self) -> ParseError | None:
        for i in range(len(self._fields)):
            self._value(i)
        if self.is_request:
            uri = self.uri()
            if isinstance(uri, ParseError):
                return uri
        keys = self._index.keys()
        for key in keys:
            result: object = None
            if key == "contact":
                result = self.contacts()
            elif key in _NAME_ADDR_LIST_KEYS:
                result = self.name_addrs(key)
            elif key in _AUTH_KEYS:
                result = self.auth(key)
            elif key == "content-type":
                result = self.content_type_full()
            elif key in _DELTA_KEYS:
                for value in self.headers(key):
                    result = parse_delta_seconds(value)
                    if isinstance(result, ParseError):
                        break
            elif key in ("reply-to", "refer-to", "referred-by", "p-asserted-identity"):
                for value in self.headers(key):
                    result = parse_name_addr(value)
                    if isinstance(result, ParseError):
                        break
            if isinstance(result, ParseError):
                return ParseError(f"{key}: {result.reason}", result.status)
        return None

    # ---------------------------------------------------------------- edits (lumps)

    def add_lump(self, start: int, end: int, data: bytes) -> None:
        """Replace raw[start:end] with data at serialization (start == end inserts)."""
        self._lumps.append((start, end, data, len(self._lumps)))

    def append_header(self, text: str) -> None:
        """Add "Name: value" after the last header (CRLF added if missing)."""
        if not text.endswith("\r\n"):
            text += "\r\n"
        self.add_lump(self._body_start - 2, self._body_start - 2, _encode(text))

    def insert_header(self, text: str) -> None:
        """Add "Name: value" before the first header."""
        if not text.endswith("\r\n"):
            text += "\r\n"
        first = self._fields[0][3] if self._fields else self._body_start - 2
        self.add_lump(first, first, _encode(text))

    def remove_header(self, name: str) -> int:
        """Delete every field with this name; returns how many."""
        idx = self._index.get(header_key(name), [])
        for i in idx:
            field = self._fields[i]
            self.add_lump(field[3], field[4], b"")
        return len(idx)

    def remove_header_at(self, name: str, occurrence: int) -> bool:
        """Delete the n-th field (0-based; negative counts from the end) with this name."""
        idx = self._index.get(header_key(name), [])
        try:
            field = self._fields[idx[occurrence]]
        except IndexError:
            return False
        self.add_lump(field[3], field[4], b"")
        return True

    def set_ruri(self, uri: str) -> None:
        if not self.is_request:
            return
        self.ruri = uri
        self._new_ruri = uri
        self._uri = None

    def push_via(self, via_text: str) -> None:
        """Add a Via value on top ("SIP/2.0/UDP host:port;branch=...")."""
        self._pushed_vias.append(via_text)

    def pop_via(self) -> None:
        """Remove the top received Via value (a proxy forwarding a reply)."""
        self._vias_popped += 1

    def set_body(self, body: bytes, content_type: str | None = None) -> None:
        """Replace the body; Content-Length is fixed and Content-Type set (or dropped with no body)."""
        self._new_body = body
        self._new_ctype = content_type

    @property
    def has_edits(self) -> bool:
        return bool(
            self._lumps or self._new_ruri is not None or self._new_body is not None
            or self._pushed_vias or self._vias_popped
        )

    def serialize(self, add_content_length: bool = False) -> bytes:
        """The message with all edits applied; byte-identical to the received bytes when unedited
        (up to the end of the body: octets after Content-Length are not part of the message).
        `add_content_length` adds the header when missing, as stream transports need it."""
        if not self.has_edits and not (add_content_length and self.content_length is None):
            return self.raw[: self._end]
        lumps = list(self._lumps)
        seq = len(lumps)
        if self._new_ruri is not None:
            start, end = self._ruri_span
            lumps.append((start, end, _encode(self._new_ruri), seq))
            seq += 1
        if self._pushed_vias:
            via_idx = self._index.get("via")
            at = self._fields[via_idx[0]][3] if via_idx else self._first_header_start()
            text = "".join(f"Via: {v}\r\n" for v in reversed(self._pushed_vias))
            lumps.append((at, at, _encode(text), -1))
        if self._vias_popped:
            lumps.extend(self._via_pop_lumps(seq))
            seq += 1
        head_end = self._body_start - 2
        if self._new_body is not None:
            body = self._new_body
            lumps.append((self._body_start, self._end, body, seq))
            length_line = f"Content-Length: {len(body)}\r\n".encode()
            lumps.extend(self._replace_fields("content-length", length_line, head_end, seq + 1))
            if self._new_ctype is not None:
                ctype_line = _encode(f"Content-Type: {self._new_ctype}\r\n")
                lumps.extend(self._replace_fields("content-type", ctype_line, head_end, seq + 2))
            elif not body:
                lumps.extend(self._replace_fields("content-type", b"", head_end, seq + 2))
        elif add_content_length and self.content_length is None:
            length_line = f"Content-Length: {self._end - self._body_start}\r\n".encode()
            lumps.append((head_end, head_end, length_line, seq))
        return apply_lumps(self.raw, self._end, lumps)

    def _first_header_start(self) -> int:
        return self._fields[0][3] if self._fields else self._body_start - 2

    def _replace_fields(self, key: str, line: bytes, head_end: int, seq: int) -> list[Lump]:
        idx = self._index.get(key)
        if not idx:
            return [(head_end, head_end, line, seq)] if line else []
        out: list[Lump] = []
        for n, i in enumerate(idx):
            field = self._fields[i]
            out.append((field[3], field[4], line if n == 0 else b"", seq))
        return out

    def _via_pop_lumps(self, seq: int) -> list[Lump]:
        remaining = self._vias_popped
        out: list[Lump] = []
        for i in self._index.get("via", ()):
            if remaining <= 0:
                break
            field = self._fields[i]
            values = split_commas(_decode(field[2]))
            if len(values) <= remaining:
                out.append((field[3], field[4], b"", seq))
                remaining -= len(values)
            else:
                name = field[1].rstrip(b" \t")
                rest = ", ".join(values[remaining:])
                out.append((field[3], field[4], name + b": " + _encode(rest) + b"\r\n", seq))
                remaining = 0
        return out

    def __repr__(self) -> str:
        if self.is_request:
            return f"<SipMessage {self.method} {self.ruri} call-id={self.call_id!r}>"
        return f"<SipMessage {self.status} {self.reason} ({self.method}) call-id={self.call_id!r}>"


def _parse_content_type_header(msg: SipMessage) -> ContentType | ParseError | None:
    value = msg.header("content-type")
    return None if value is None else parse_content_type(value)


def _parse_contact_header(msg: SipMessage) -> list[Contact] | ParseError:
    return parse_contacts(msg.headers("contact"))


def _parse_sdp_body(msg: SipMessage) -> Sdp | ParseError | None:
    from pysips.sip.sdp import parse_sdp

    if not msg.body:
        return None
    ctype = msg.content_type
    if ctype is not None and ctype != "application/sdp":
        return ParseError(f"body is {ctype}, not application/sdp", 415)
    return parse_sdp(msg.body)


# ---------------------------------------------------------------- parsing


def parse_message(data: bytes) -> SipMessage | ParseError:
    """Parse one SIP message. Never raises: failures come back as ParseError values."""
    try:
        return _parse(bytes(data))
    except Exception as exc:  # a parser bug must not take the server down; fuzzing hunts these
        return ParseError(f"internal parser error: {exc!r}", None)


def _parse(data: bytes) -> SipMessage | ParseError:
    error: ParseError | None = None
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        head = data[:-2] if data.endswith(b"\r\n") else data
        body_start = len(data) + 2  # where the missing empty line would be
    else:
        head = data[:head_end]
        body_start = head_end + 4
    lines = head.split(b"\r\n")
    first = lines[0]
    if not first:
        return ParseError("empty first line", None)

    msg = SipMessage.__new__(SipMessage)
    msg.raw = data
    msg._lumps = []
    msg._cache = None
    msg._uri = None
    msg._new_ruri = None
    msg._new_body = None
    msg._new_ctype = None
    msg._pushed_vias = []
    msg._vias_popped = 0
    msg.method = ""
    msg.ruri = ""
    msg.status = 0
    msg.reason = ""
    msg.call_id = ""
    msg.cseq = CSeq(0, "")
    msg.max_forwards = None
    msg.content_length = None
    msg.vias = []
    msg.body = b""

    if first.startswith(b"SIP/"):
        msg.is_request = False
        msg._ruri_span = (0, 0)
        parts = first.split(b" ", 2)
        if parts[0] != b"SIP/2.0":
            return ParseError(f"unsupported version {parts[0][:20]!r} in status line", None)
        code = parts[1] if len(parts) > 1 else b""
        if len(code) != 3 or not _DIGITS.issuperset(code) or code[0] == 0x30:
            return ParseError(f"bad status code {code[:20]!r}", None)
        msg.status = int(code)
        msg.reason = _decode(parts[2]) if len(parts) == 3 else ""
    else:
        msg.is_request = True
        parts = first.split(b" ")
        method = parts[0]
        msg.method = method.decode("latin-1")
        if len(parts) >= 2:
            msg._ruri_span = (len(method) + 1, len(method) + 1 + len(parts[1]))
            msg.ruri = _decode(parts[1])
        else:
            msg._ruri_span = (len(first), len(first))
        if len(parts) != 3 or not parts[1] or not parts[2]:
            error = ParseError("malformed Request-Line (want METHOD SP URI SP SIP/2.0)")
        elif parts[2] != b"SIP/2.0":
            if parts[2].startswith(b"SIP/"):
                error = ParseError(f"unsupported SIP version {parts[2][:20]!r}", 505)
            else:
                error = ParseError("malformed Request-Line version")
        elif not is_token(msg.method):
            error = ParseError(f"bad method {msg.method[:40]!r}")

    # split the header lines once; unfold continuation lines
    fields: list[Field] = []
    index: dict[str, list[int]] = {}
    pos = len(first) + 2
    for n in range(1, len(lines)):
        line = lines[n]
        end = pos + len(line) + 2
        c0 = line[:1]
        if c0 == b" " or c0 == b"\t":
            if fields:
                key, name, value, start, _ = fields[-1]
                more = line.strip(b" \t")
                fields[-1] = (key, name, value + b" " + more if value else more, start, end)
            elif error is None:
                error = ParseError("continuation line before the first header")
            pos = end
            continue
        colon = line.find(b":")
        found = key_for_bytes(line[:colon]) if colon > 0 else None
        if found is None:
            if error is None:
                error = ParseError(f"bad header line {line[:40]!r}")
            pos = end
            continue
        idx = index.get(found)
        if idx is None:
            index[found] = [len(fields)]
        else:
            idx.append(len(fields))
        fields.append((found, line[:colon], line[colon + 1 :].strip(b" \t"), pos, end))
        pos = end
    msg._fields = fields
    msg._index = index
    msg._body_start = body_start

    error = _interpret(msg, data, body_start, error)
    if error is None and head_end < 0:
        error = ParseError("headers not terminated by an empty line")
    if error is None:
        return msg
    error.partial = msg
    if not msg.is_request or "via" not in index:
        error.status = None  # nothing to answer, or nowhere to send the answer
    return error


def _interpret(msg: SipMessage, data: bytes, body_start: int, error: ParseError | None) -> ParseError | None:
    """Read the routing headers; returns the first error (the given one wins)."""
    fields = msg._fields
    index = msg._index

    def first_error(new: ParseError) -> ParseError:
        return error if error is not None else new

    for key in _SINGLE_VALUED:
        idx = index.get(key)
        if idx is not None and len(idx) > 1:
            error = first_error(ParseError(f"several {key} headers"))
    if msg.is_request:
        for key in _REQUIRED:
            if key not in index:
                error = first_error(ParseError(f"missing {key} header"))

    idx = index.get("call-id")
    if idx is not None:
        msg.call_id = _decode(fields[idx[0]][2])
        if not msg.call_id:
            error = first_error(ParseError("empty Call-ID"))
    elif not msg.is_request:
        error = first_error(ParseError("missing Call-ID header"))

    idx = index.get("cseq")
    if idx is not None:
        cseq = parse_cseq(_decode(fields[idx[0]][2]))
        if isinstance(cseq, ParseError):
            error = first_error(cseq)
        else:
            msg.cseq = cseq
            if not msg.is_request:
                msg.method = cseq.method
            elif cseq.method != msg.method and error is None:
                error = ParseError(f"CSeq method {cseq.method!r} does not match {msg.method!r}")
    elif not msg.is_request:
        error = first_error(ParseError("missing CSeq header"))

    for key in ("from", "to"):
        idx = index.get(key)
        if idx is None:
            parsed: NameAddr | ParseError = NameAddr("", "", {}, "")
            if not msg.is_request:
                error = first_error(ParseError(f"missing {key} header"))
        else:
            parsed = parse_name_addr(_decode(fields[idx[0]][2]))
            if isinstance(parsed, ParseError):
                error = first_error(ParseError(f"{key}: {parsed.reason}"))
                parsed = NameAddr("", "", {}, "")
        name_addr = parsed if isinstance(parsed, NameAddr) else NameAddr("", "", {}, "")
        if key == "from":
            msg.from_ = name_addr
        else:
            msg.to = name_addr

    idx = index.get("via")
    if idx is not None:
        vias = parse_vias([_decode(fields[i][2]) for i in idx]) if len(idx) > 1 else None
        if vias is None:
            value = _decode(fields[idx[0]][2])
            if "," in value:
                vias = parse_vias([value])
            else:
                one = parse_via(value)
                vias = [one] if isinstance(one, Via) else one
        if isinstance(vias, ParseError):
            error = first_error(vias)
        else:
            msg.vias = vias
    elif not msg.is_request:
        error = first_error(ParseError("missing Via header"))

    idx = index.get("max-forwards")
    if idx is not None:
        value_b = fields[idx[0]][2]
        if not value_b or not _DIGITS.issuperset(value_b):
            error = first_error(ParseError("bad Max-Forwards"))
        else:
            # RFC 4475 3.1.2.4: an overlarge value may be treated as absent
            number = int(value_b) if len(value_b) < 6 else 256
            msg.max_forwards = number if number <= 255 else None

    idx = index.get("content-length")
    available = len(data) - body_start if body_start <= len(data) else 0
    length = available
    if idx is not None:
        values = {fields[i][2] for i in idx}
        value_b = fields[idx[0]][2]
        if len(values) > 1:
            error = first_error(ParseError("conflicting Content-Length values"))
        elif not value_b or not _DIGITS.issuperset(value_b) or len(value_b) > 10:
            error = first_error(ParseError(f"bad Content-Length {value_b[:20]!r}"))
        else:
            length = int(value_b)
            msg.content_length = length
            if length > available:
                error = first_error(ParseError(f"Content-Length {length} exceeds the {available} body bytes"))
                length = available
    msg.body = data[body_start : body_start + length] if length else b""
    msg._end = min(body_start + length, len(data))

    if msg.is_request and error is None:
        error = _check_ruri(msg)
    return error


def _check_ruri(msg: SipMessage) -> ParseError | None:
    """The Request-URI is what a proxy routes on: check it now, unless its scheme is foreign
    (then uri() answers 416 when asked, RFC 4475 3.3.2)."""
    ruri = msg.ruri
    head = ruri[:5].lower()
    if head.startswith(("sip:", "sips:", "tel:")):
        parsed = parse_uri(ruri)
        if isinstance(parsed, ParseError):
            return ParseError(f"Request-URI: {parsed.reason}")
        if parsed.headers:
            return ParseError("Request-URI carries headers")
        msg._uri = parsed
        return None
    colon = ruri.find(":")
    if colon <= 0 or not ruri[:colon].replace("+", "").replace("-", "").replace(".", "").isalnum():
        return ParseError("Request-URI without a valid scheme")
    return None
