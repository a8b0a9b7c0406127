"""SIP messages: header access, lazily parsed values, lumps, serialization.

`parse_message` (in parser.py, re-exported here) fills the routing-level attributes: Via, CSeq,
Call-ID, From/To tags, Max-Forwards, Content-Length. Everything else stays as raw bytes until an
accessor asks for it. Edits never touch `raw`: they are lumps applied by serialize().
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
    parse_content_type,
    parse_delta_seconds,
    parse_option_tags,
    split_commas,
)
from pysips.sip.headertable import HeaderTable, Part
from pysips.sip.lumps import Lump, apply_lumps
from pysips.sip.nameaddr import Contact, NameAddr, parse_contacts, parse_name_addr, parse_name_addr_list
from pysips.sip.uri import SipUri, parse_uri
from pysips.sip.via import Via, parse_vias

if TYPE_CHECKING:
    from pysips.sip.sdp import Sdp




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
        "_from",
        "_lumps",
        "_new_body",
        "_new_ctype",
        "_new_ruri",
        "_pushed_vias",
        "_ruri_span",
        "_table",
        "_to",
        "_uri",
        "_vias",
        "_vias_popped",
        "body",
        "call_id",
        "content_length",
        "cseq",
        "from_tag",
        "is_request",
        "max_forwards",
        "method",
        "raw",
        "reason",
        "ruri",
        "status",
        "to_tag",
        "top_via",
    )

    _body_start: int
    _cache: dict[str, Any] | None
    _end: int
    _from: NameAddr | ParseError | None
    _table: HeaderTable
    _to: NameAddr | ParseError | None
    _vias: list[Via] | ParseError | None
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
    from_tag: str | None
    to_tag: str | None
    top_via: Via | None
    max_forwards: int | None
    content_length: int | None
    body: bytes

    # ---------------------------------------------------------------- header access

    @property
    def _parts(self) -> list[Part]:
        return self._table.parts

    @property
    def _keys(self) -> list[str]:
        return self._table.keys

    @property
    def _first(self) -> dict[str, int]:
        return self._table.first

    @property
    def _index(self) -> dict[str, list[int]]:
        """Positions of every field per key, built on first need."""
        table = self._table
        index = table.index
        if index is None:
            index = {}
            for i, key in enumerate(table.keys):
                idx = index.get(key)
                if idx is None:
                    index[key] = [i]
                else:
                    idx.append(i)
            table.index = index
        return index

    def _value(self, i: int) -> str:
        return _decode(self._parts[i][2].strip(b" \t"))

    def header(self, name: str) -> str | None:
        """First header field body with this name (case-insensitive, compact forms match)."""
        table = self._table
        i = table.first.get(header_key(name))
        return None if i is None else _decode(table.parts[i][2].strip(b" \t"))

    def headers(self, name: str) -> list[str]:
        """Every field body with this name, in order (one entry per header line)."""
        table = self._table
        key = header_key(name)
        if len(table.first) == len(table.keys):
            # no name repeats (the common request): the first occurrence is the only one
            i = table.first.get(key)
            return [] if i is None else [_decode(table.parts[i][2].strip(b" \t"))]
        idx = self._index.get(key)
        if not idx:
            return []
        parts = table.parts
        return [_decode(parts[i][2].strip(b" \t")) for i in idx]

    # ---------------------------------------------------------------- lazily parsed routing values

    def from_header(self) -> NameAddr | ParseError:
        if self._from is None:
            self._from = _parse_single_name_addr(self, "from")
        return self._from

    def to_header(self) -> NameAddr | ParseError:
        if self._to is None:
            self._to = _parse_single_name_addr(self, "to")
        return self._to

    @property
    def from_(self) -> NameAddr:
        """The From header; an empty NameAddr if it does not parse (check() reports why)."""
        parsed = self.from_header()
        return parsed if isinstance(parsed, NameAddr) else _broken_name_addr(self, "from")

    @property
    def to(self) -> NameAddr:
        parsed = self.to_header()
        return parsed if isinstance(parsed, NameAddr) else _broken_name_addr(self, "to")

    def via_headers(self) -> list[Via] | ParseError:
        """Every Via value, top first."""
        if self._vias is None:
            table = self._table
            if len(table.first) == len(table.keys):  # no name repeats: one Via line at most
                top_line = table.first.get("via")
                lines = [] if top_line is None else [top_line]
            else:
                lines = self._index.get("via", [])
            values = [self._value(i) for i in lines]
            top = self.top_via
            if top is not None and "," not in values[0]:
                # the top value is parsed already
                rest = parse_vias(values[1:]) if len(values) > 1 else []
                self._vias = rest if isinstance(rest, ParseError) else [top, *rest]
            else:
                self._vias = parse_vias(values)
        return self._vias

    @property
    def vias(self) -> list[Via]:
        """Every Via value, top first; on a broken lower Via, only the top one (check() reports)."""
        parsed = self.via_headers()
        if isinstance(parsed, list):
            return parsed
        return [self.top_via] if self.top_via is not None else []

    def check(self) -> ParseError | None:
        """What a proxy needs beyond parse_message(): Request-URI, From, To and every Via parse.
        Returns the error (status and partial set as parse_message would) or None."""
        error: ParseError | None = None
        if self.is_request:
            uri = self.uri()
            if isinstance(uri, ParseError):
                error = ParseError(f"Request-URI: {uri.reason}", uri.status)
            elif uri.headers:
                error = ParseError("Request-URI carries headers")
        if error is None:
            checks = (("from", self.from_header()), ("to", self.to_header()), ("via", self.via_headers()))
            for name, got in checks:
                if isinstance(got, ParseError):
                    error = ParseError(f"{name}: {got.reason}", got.status)
                    break
        if error is not None:
            error.partial = self
            if not self.is_request:
                error.status = None
        return error

    def has_header(self, name: str) -> bool:
        return header_key(name) in self._first

    def header_names(self) -> list[str]:
        """Header names as written, in order."""
        return [p[0].rstrip(b" \t").decode("latin-1") for p in self._table.parts]

    def header_fields(self) -> list[tuple[str, str]]:
        """(name as written, body) for every header line, in order."""
        return [
            (name.rstrip(b" \t").decode("latin-1"), _decode(value.strip(b" \t")))
            for name, _, value in self._table.parts
        ]

    def header_count(self, name: str) -> int:
        return len(self._index.get(header_key(name), ()))

    def raw_header_bytes(self, name: str) -> list[bytes]:
        """The exact received bytes of each field with this name, CRLF included."""
        raw = self.raw
        return [raw[start:end] for start, end in map(self._table.span, self._index.get(header_key(name), ()))]

    def raw_header_groups(self, keys: frozenset[str]) -> dict[str, list[bytes]]:
        """`raw_header_bytes` for several canonical keys at once, in one pass over the header
        lines (a reply copies five to seven kinds from its request): key -> the exact bytes of
        each such field, CRLF included, in message order; keys absent from the message are
        absent from the result."""
        table = self._table
        found: dict[str, list[bytes]] = {}
        lines = table.lines
        if table.fields is None and lines is not None:
            # the parser kept the raw lines, one per field: no offsets to compute
            for i, key in enumerate(table.keys):
                if key in keys:
                    group = found.get(key)
                    if group is None:
                        found[key] = [lines[i] + b"\r\n"]
                    else:
                        group.append(lines[i] + b"\r\n")
            return found
        raw = self.raw
        span = table.span
        for i, key in enumerate(table.keys):
            if key in keys:
                start, end = span(i)
                found.setdefault(key, []).append(raw[start:end])
        return found

    @property
    def original_ruri(self) -> str:
        """The Request-URI as received, whatever set_ruri() did ($ou)."""
        start, end = self._ruri_span
        return _decode(self.raw[start:end])

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

    def uri_params(self) -> dict[str, str | None]:
        """Parameters of the Request-URI ({} if it does not parse)."""
        uri = self.uri()
        return uri.params if isinstance(uri, SipUri) else {}

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
        """check() plus every structured header this stack knows; the first error, or None."""
        error = self.check() or self._validate()
        if error is not None:
            error.partial = self
            if not self.is_request:
                error.status = None
        return error

    def _validate(self) -> ParseError | None:
        get = _VALIDATORS.get
        for key in dict.fromkeys(self._keys):  # in order of first appearance
            check = get(key)
            if check is not None:
                result = check(self, key)
                if isinstance(result, ParseError):
                    return ParseError(f"{key}: {result.reason}", result.status)
        return None

    # ---------------------------------------------------------------- edits (lumps)

    def copy(self) -> SipMessage:
        """A message sharing this one's buffers and parse results, with edits of its own from now
        on (tm's per-branch copies). Every slot is listed: a loop over __slots__ with getattr and
        setattr costs several times more, and tm copies each relayed request per branch."""
        clone = SipMessage.__new__(SipMessage)
        clone._body_start = self._body_start
        clone._cache = dict(self._cache) if self._cache else None
        clone._end = self._end
        clone._from = self._from
        clone._lumps = list(self._lumps)
        clone._new_body = self._new_body
        clone._new_ctype = self._new_ctype
        clone._new_ruri = self._new_ruri
        clone._pushed_vias = list(self._pushed_vias)
        clone._ruri_span = self._ruri_span
        clone._table = self._table
        clone._to = self._to
        clone._uri = self._uri
        clone._vias = self._vias
        clone._vias_popped = self._vias_popped
        clone.body = self.body
        clone.call_id = self.call_id
        clone.content_length = self.content_length
        clone.cseq = self.cseq
        clone.from_tag = self.from_tag
        clone.is_request = self.is_request
        clone.max_forwards = self.max_forwards
        clone.method = self.method
        clone.raw = self.raw
        clone.reason = self.reason
        clone.ruri = self.ruri
        clone.status = self.status
        clone.to_tag = self.to_tag
        clone.top_via = self.top_via
        return clone

    def header_spans(self, name: str) -> list[tuple[int, int]]:
        """Byte spans in `raw` of each field with this name (CRLF included), for add_lump()."""
        span = self._table.span
        return [span(i) for i in self._index.get(header_key(name), ())]

    def add_lump(self, start: int, end: int, data: bytes) -> None:
        """Replace raw[start:end] with data at serialization (start == end inserts)."""
        self._lumps.append((start, end, data, len(self._lumps)))

    def lump_at(self, start: int, end: int) -> bytes | None:
        """What the last lump over exactly raw[start:end] puts there; None when untouched."""
        for lump in reversed(self._lumps):
            if lump[0] == start and lump[1] == end and start != end:
                return lump[2]
        return None

    def set_lump(self, start: int, end: int, data: bytes) -> None:
        """Replace raw[start:end] with data, replacing an earlier lump over the same span (edits
        repeated on one header, as sipmsgops' list_hdr_* functions do)."""
        for i, lump in enumerate(self._lumps):
            if lump[0] == start and lump[1] == end and start != end:
                self._lumps[i] = (start, end, data, lump[3])
                return
        self.add_lump(start, end, data)

    def append_header(self, text: str) -> None:
        """Add "Name: value" after the last header (CRLF added if missing)."""
        if not text.endswith("\r\n"):
            text += "\r\n"
        self.add_lump(self._body_start - 2, self._body_start - 2, _encode(text))

    def insert_header(self, text: str) -> None:
        """Add "Name: value" before the first header."""
        if not text.endswith("\r\n"):
            text += "\r\n"
        first = self._first_header_start()
        self.add_lump(first, first, _encode(text))

    def replace_header(self, text: str) -> bool:
        """Rewrite the first field named like `text` ("CSeq: 2 INVITE") in place and drop the
        others of that name. A later call replaces an earlier rewrite (set_lump over the same
        span), so modules editing one header (dialog's and uac's CSeq shifts) never stack copies.
        False when the message has no such field."""
        name = text.split(":", 1)[0].strip()
        idx = self._index.get(header_key(name), [])
        if not idx:
            return False
        if not text.endswith("\r\n"):
            text += "\r\n"
        span = self._table.span
        self.set_lump(*span(idx[0]), _encode(text))
        for i in idx[1:]:
            self.set_lump(*span(i), b"")
        return True

    def current_header(self, name: str) -> str | None:
        """The value of the first field `name` as it will be sent: a replace_header() rewrite
        when there was one, else as received."""
        idx = self._index.get(header_key(name), [])
        if not idx:
            return None
        rewritten = self.lump_at(*self._table.span(idx[0]))
        if rewritten is None:
            return self._value(idx[0])
        text = _decode(rewritten)
        return text.split(":", 1)[1].strip() if ":" in text else None

    def remove_header(self, name: str) -> int:
        """Delete every field with this name; returns how many."""
        idx = self._index.get(header_key(name), [])
        span = self._table.span
        for i in idx:
            self.add_lump(*span(i), b"")
        return len(idx)

    def remove_header_at(self, name: str, occurrence: int) -> bool:
        """Delete the n-th field (0-based; negative counts from the end) with this name."""
        idx = self._index.get(header_key(name), [])
        try:
            i = idx[occurrence]
        except IndexError:
            return False
        self.add_lump(*self._table.span(i), b"")
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
            top = self._table.first.get("via")
            at = self._table.span(top)[0] if top is not None else self._first_header_start()
            text = "".join(f"Via: {v}\r\n" for v in reversed(self._pushed_vias))
            # after what the script inserted at the same place (Record-Route, insert_hf): OpenSIPS
            # adds its Via when it sends, so earlier insertions come first
            lumps.append((at, at, _encode(text), seq))
            seq += 1
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
        return self._table.span(0)[0] if self._table.parts else self._body_start - 2

    def _replace_fields(self, key: str, line: bytes, head_end: int, seq: int) -> list[Lump]:
        idx = self._index.get(key)
        if not idx:
            return [(head_end, head_end, line, seq)] if line else []
        span = self._table.span
        return [(*span(i), line if n == 0 else b"", seq) for n, i in enumerate(idx)]

    def _via_pop_lumps(self, seq: int) -> list[Lump]:
        remaining = self._vias_popped
        out: list[Lump] = []
        table = self._table
        keys = table.keys
        i = table.first.get("via")
        while i is not None and remaining > 0:
            name, _, value = table.parts[i]
            value = value.strip(b" \t")
            values = split_commas(_decode(value)) if b"," in value else None
            start, end = table.span(i)
            if values is None or len(values) <= remaining:
                out.append((start, end, b"", seq))
                remaining -= 1 if values is None else len(values)
            else:
                rest = ", ".join(values[remaining:])
                out.append((start, end, name.rstrip(b" \t") + b": " + _encode(rest) + b"\r\n", seq))
                remaining = 0
            i = keys.index("via", i + 1) if "via" in keys[i + 1 :] else None
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


# ---------------------------------------------------------------- helpers of the lazy accessors


def _first_error(results: list[object]) -> object:
    for result in results:
        if isinstance(result, ParseError):
            return result
    return None


# what validate() parses, per header key
_VALIDATORS: dict[str, Callable[[SipMessage, str], object]] = {
    "contact": lambda msg, key: msg.contacts(),
    "content-type": lambda msg, key: msg.content_type_full(),
    **dict.fromkeys(("route", "record-route", "path", "service-route"), lambda msg, key: msg.name_addrs(key)),
    **dict.fromkeys(
        ("authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate"),
        lambda msg, key: msg.auth(key),
    ),
    **dict.fromkeys(
        ("expires", "min-expires"),
        lambda msg, key: _first_error([parse_delta_seconds(v) for v in msg.headers(key)]),
    ),
    **dict.fromkeys(
        ("reply-to", "refer-to", "referred-by", "p-asserted-identity"),
        lambda msg, key: _first_error([parse_name_addr(v) for v in msg.headers(key)]),
    ),
}

def _broken_name_addr(msg: SipMessage, key: str) -> NameAddr:
    return NameAddr("", "", {}, msg.header(key) or "")


def _parse_single_name_addr(msg: SipMessage, key: str) -> NameAddr | ParseError:
    value = msg.header(key)
    if value is None:
        return ParseError(f"missing {key} header")
    return parse_name_addr(value)


# the parser needs SipMessage, defined above; importing it last keeps parse_message here too
from pysips.sip.parser import parse_message as parse_message  # noqa: E402
