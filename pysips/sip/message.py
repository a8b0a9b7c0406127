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
        "_fields_cache",
        "_from",
        "_index",
        "_keys",
        "_lines",
        "_lumps",
        "_new_body",
        "_new_ctype",
        "_new_ruri",
        "_parts",
        "_pushed_vias",
        "_ruri_span",
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
    _fields_cache: list[Field] | None
    _from: NameAddr | ParseError | None
    _index: dict[str, list[int]]
    _keys: list[str]
    _lines: list[bytes] | None
    _parts: list[tuple[bytes, bytes, bytes]]
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
    def _fields(self) -> list[Field]:
        """Every header line with its byte span, built on first need (edits, raw copies)."""
        fields = self._fields_cache
        if fields is None:
            fields = self._fields_cache = _build_fields(self)
        return fields

    def _value(self, i: int) -> str:
        return _decode(self._parts[i][2].strip(b" \t"))

    def header(self, name: str) -> str | None:
        """First header field body with this name (case-insensitive, compact forms match)."""
        idx = self._index.get(header_key(name))
        return _decode(self._parts[idx[0]][2].strip(b" \t")) if idx else None

    def headers(self, name: str) -> list[str]:
        """Every field body with this name, in order (one entry per header line)."""
        idx = self._index.get(header_key(name))
        if not idx:
            return []
        parts = self._parts
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
            idx = self._index.get("via", ())
            self._vias = parse_vias([self._value(i) for i in idx])
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

    def copy(self) -> SipMessage:
        """A message sharing this one's buffers and parse results, with edits of its own from now
        on (tm's per-branch copies)."""
        clone = SipMessage.__new__(SipMessage)
        for slot in SipMessage.__slots__:
            setattr(clone, slot, getattr(self, slot))
        clone._lumps = list(self._lumps)
        clone._pushed_vias = list(self._pushed_vias)
        clone._cache = dict(self._cache) if self._cache else None
        return clone

    def header_spans(self, name: str) -> list[tuple[int, int]]:
        """Byte spans in `raw` of each field with this name (CRLF included), for add_lump()."""
        fields = self._fields
        return [(fields[i][3], fields[i][4]) for i in self._index.get(header_key(name), ())]

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

_EMPTY = NameAddr("", "", {}, "")


def _broken_name_addr(msg: SipMessage, key: str) -> NameAddr:
    return NameAddr("", "", {}, msg.header(key) or "")


def _parse_single_name_addr(msg: SipMessage, key: str) -> NameAddr | ParseError:
    value = msg.header(key)
    if value is None:
        return ParseError(f"missing {key} header")
    return parse_name_addr(value)


def _build_fields(msg: SipMessage) -> list[Field]:
    """Spans of the header lines; only for the unfolded case (folded messages build them eagerly)."""
    fields: list[Field] = []
    lines = msg._lines or []
    pos = _first_line_length(msg)
    parts = msg._parts
    keys = msg._keys
    for i, line in enumerate(lines):
        end = pos + len(line) + 2
        fields.append((keys[i], parts[i][0], parts[i][2].strip(b" \t"), pos, end))
        pos = end
    return fields


def _first_line_length(msg: SipMessage) -> int:
    return msg.raw.find(b"\r\n") + 2


def _quick_tag(value: bytes) -> bytes | bool | None:
    """The tag parameter of a From/To value by string search: bytes, None when there is none,
    or True when the value needs the full name-addr parser to tell."""
    low = value.lower()
    i = low.find(b"tag")
    if i < 0:
        return None
    if low[i - 1 : i] != b";" or low[i + 3 : i + 4] != b"=" or value.rfind(b">") > i or b'"' in value[i:]:
        return True
    end = value.find(b";", i)
    tag = value[i + 4 :] if end < 0 else value[i + 4 : end]
    if not tag or b" " in tag or b"\t" in tag:
        return True
    return tag


def parse_message(data: bytes) -> SipMessage | ParseError:
    """Parse one SIP message. Never raises: failures come back as ParseError values."""
    try:
        return _parse(bytes(data))
    except Exception as exc:  # a parser bug must not take the server down; fuzzing hunts these
        return ParseError(f"internal parser error: {exc!r}", None)


def _unfold(lines: list[bytes], pos: int) -> tuple[list[bytes], list[Field] | None, ParseError | None]:
    """Join continuation lines; returns logical lines and, since offsets then differ, the spans."""
    logical: list[bytes] = []
    spans: list[tuple[int, int]] = []
    error: ParseError | None = None
    for line in lines:
        end = pos + len(line) + 2
        c0 = line[:1]
        if c0 == b" " or c0 == b"\t":
            if logical:
                prev = logical[-1]
                more = line.strip(b" \t")
                logical[-1] = prev + b" " + more if prev.rstrip(b" \t")[-1:] != b":" else prev + more
                spans[-1] = (spans[-1][0], end)
            elif error is None:
                error = ParseError("continuation line before the first header")
        else:
            logical.append(line)
            spans.append((pos, end))
        pos = end
    fields: list[Field] = []
    for line, (start, end) in zip(logical, spans, strict=True):
        name, _, value = line.partition(b":")
        fields.append(("", name, value.strip(b" \t"), start, end))
    return logical, fields, error


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
    del lines[0]

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
    msg._from = None
    msg._to = None
    msg._vias = None
    msg.top_via = None
    msg.from_tag = None
    msg.to_tag = None
    msg.method = ""
    msg.ruri = ""
    msg.status = 0
    msg.reason = ""
    msg.call_id = ""
    msg.cseq = _NO_CSEQ
    msg.max_forwards = None
    msg.content_length = None
    msg.body = b""
    msg._body_start = body_start

    if first[:4] == b"SIP/":
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

    # split the header lines once; continuation lines (rare) take the slow path
    if b"\r\n " in head or b"\r\n\t" in head:
        logical, fields, fold_error = _unfold(lines, len(first) + 2)
        error = error or fold_error
        msg._lines = None
        lines = logical
    else:
        msg._lines = lines
        fields = None
    split = [line.partition(b":") for line in lines]
    get = _KEYS.get
    keys = [(get(p[0]) or key_for_bytes(p[0]) or "") if p[1] else "" for p in split]
    if "" in keys:
        if error is None:
            bad = lines[keys.index("")]
            error = ParseError(f"bad header line {bad[:40]!r}")
        keep = [i for i, k in enumerate(keys) if k]
        split = [split[i] for i in keep]
        keys = [keys[i] for i in keep]
        if fields is not None:
            fields = [fields[i] for i in keep]
        elif msg._lines is not None:
            # spans must still count the dropped lines: compute them now
            fields = _spans_with_gaps(lines, len(first) + 2, keep, split, keys)
            msg._lines = None
    if fields is not None:
        fields = [(keys[i], f[1], f[2], f[3], f[4]) for i, f in enumerate(fields)]
    msg._fields_cache = fields
    msg._parts = split
    msg._keys = keys
    index: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        idx = index.get(key)
        if idx is None:
            index[key] = [i]
        else:
            idx.append(i)
    msg._index = index

    error = _interpret(msg, data, body_start, error)
    if error is None and head_end < 0:
        error = ParseError("headers not terminated by an empty line")
    if error is None:
        return msg
    error.partial = msg
    if not msg.is_request or "via" not in index:
        error.status = None  # nothing to answer, or nowhere to send the answer
    return error


def _spans_with_gaps(
    lines: list[bytes], pos: int, keep: list[int], split: list[tuple[bytes, bytes, bytes]], keys: list[str]
) -> list[Field]:
    spans = []
    for line in lines:
        spans.append((pos, pos + len(line) + 2))
        pos += len(line) + 2
    return [
        (keys[n], split[n][0], split[n][2].strip(b" \t"), spans[i][0], spans[i][1])
        for n, i in enumerate(keep)
    ]


_KEYS: dict[bytes, str] = {}
for _name in (
    "Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m", "Max-Forwards", "Route",
    "Record-Route", "Content-Length", "l", "Content-Type", "c", "Expires", "Allow", "Supported", "k",
    "User-Agent", "Server", "Authorization", "Proxy-Authorization", "WWW-Authenticate", "Proxy-Authenticate",
    "Require", "Proxy-Require", "Accept", "Event", "Subscription-State", "Path", "Session-Expires", "Min-SE",
    "Date", "Timestamp", "Allow-Events", "Call-Id", "Cseq", "Content-type", "Content-length", "Max-forwards",
    "Record-route", "Call-id", "User-agent",
):
    _KEYS[_name.encode()] = header_key(_name)
    _KEYS[_name.lower().encode()] = header_key(_name)
    _KEYS[_name.upper().encode()] = header_key(_name)

_NO_CSEQ = CSeq(0, "")


def _interpret(msg: SipMessage, data: bytes, body_start: int, error: ParseError | None) -> ParseError | None:
    """Read the routing headers; returns the first error (the given one wins)."""
    parts = msg._parts
    index = msg._index
    is_request = msg.is_request

    for key in _SINGLE_VALUED:
        idx = index.get(key)
        if idx is not None and len(idx) > 1 and error is None:
            error = ParseError(f"several {key} headers")
    for key in _REQUIRED:
        if key not in index and error is None:
            error = ParseError(f"missing {key} header")

    idx = index.get("call-id")
    if idx is not None:
        msg.call_id = _decode(parts[idx[0]][2].strip(b" \t"))
        if not msg.call_id and error is None:
            error = ParseError("empty Call-ID")

    idx = index.get("cseq")
    if idx is not None:
        value_b = parts[idx[0]][2]
        words = value_b.split()
        if (
            len(words) == 2 and 0 < len(words[0]) < 10 and _DIGITS.issuperset(words[0])
            and _KNOWN_METHODS.get(words[1]) is not None
        ):
            msg.cseq = CSeq(int(words[0]), _KNOWN_METHODS[words[1]])
        else:
            cseq = parse_cseq(_decode(value_b))
            if isinstance(cseq, ParseError):
                error = error or cseq
            else:
                msg.cseq = cseq
        if not is_request:
            msg.method = msg.cseq.method
        elif msg.cseq.method != msg.method and error is None and msg.cseq is not _NO_CSEQ:
            error = ParseError(f"CSeq method {msg.cseq.method!r} does not match {msg.method!r}")

    for key in ("from", "to"):
        idx = index.get(key)
        if idx is None:
            continue
        value_b = parts[idx[0]][2].strip(b" \t")
        tag = _quick_tag(value_b)
        if tag is True:
            parsed = parse_name_addr(_decode(value_b))
            if key == "from":
                msg._from = parsed
            else:
                msg._to = parsed
            if isinstance(parsed, ParseError):
                error = error or ParseError(f"{key}: {parsed.reason}")
                continue
            tag_s = parsed.tag
        else:
            tag_s = _decode(tag) if isinstance(tag, bytes) else None
        if key == "from":
            msg.from_tag = tag_s
        else:
            msg.to_tag = tag_s

    idx = index.get("via")
    if idx is not None:
        value = _decode(parts[idx[0]][2].strip(b" \t"))
        if "," in value:
            value = split_commas(value)[0]
        top = parse_via(value)
        if isinstance(top, ParseError):
            error = error or top
        else:
            msg.top_via = top

    idx = index.get("max-forwards")
    if idx is not None:
        value_b = parts[idx[0]][2].strip(b" \t")
        if not value_b or not _DIGITS.issuperset(value_b):
            error = error or ParseError("bad Max-Forwards")
        else:
            # RFC 4475 3.1.2.4: an overlarge value may be treated as absent
            number = int(value_b) if len(value_b) < 6 else 256
            msg.max_forwards = number if number <= 255 else None

    idx = index.get("content-length")
    available = len(data) - body_start if body_start <= len(data) else 0
    length = available
    if idx is not None:
        value_b = parts[idx[0]][2].strip(b" \t")
        if len(idx) > 1 and len({parts[i][2].strip(b" \t") for i in idx}) > 1:
            error = error or ParseError("conflicting Content-Length values")
        elif not value_b or not _DIGITS.issuperset(value_b) or len(value_b) > 10:
            error = error or ParseError(f"bad Content-Length {value_b[:20]!r}")
        else:
            length = int(value_b)
            msg.content_length = length
            if length > available:
                error = error or ParseError(f"Content-Length {length} exceeds the {available} body bytes")
                length = available
    msg.body = data[body_start : body_start + length] if length else b""
    msg._end = min(body_start + length, len(data))
    return error


_KNOWN_METHODS: dict[bytes, str] = {
    m.encode(): m
    for m in (
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH",
        "INFO", "REFER", "MESSAGE", "UPDATE",
    )
}
