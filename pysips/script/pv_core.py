"""The core pseudo-variables: message fields, where it came from, clocks, script state.

Semantics follow OpenSIPS: a field that is absent reads as NULL (no user in the R-URI, no tag,
`$rs` of a request); `$ru` reads the R-URI the script set, else the message's; ports, status,
lengths and counters are integers. Writable: `$ru $rU $rd $rp $du` (plus `$var`, `$avp`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pysips.script.ast import Pos
from pysips.script.pv_base import (
    FuncPV,
    Getter,
    ListPV,
    PVAccessor,
    PVError,
    PVFactory,
    Setter,
    join_values,
    log,
)
from pysips.script.pv_sipparse import NameAddr, UriParts, parse_nameaddr, split_commas, split_uri

if TYPE_CHECKING:
    from pysips.script.context import MsgContext, Value

# Compact header forms (RFC 3261 7.3.3 and extensions), so `$hdr(v)` is `$hdr(Via)`.
COMPACT_HEADERS = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}


def canonical_header(name: str) -> str:
    """Lower-case full header name; compact forms expanded."""
    lname = name.strip().lower()
    return COMPACT_HEADERS.get(lname, lname)


def _now(ctx: MsgContext) -> float:
    return ctx.now or time.time()


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")  # as the message layer decodes headers


# ---------------------------------------------------------------------------------------------
# R-URI and destination URI
# ---------------------------------------------------------------------------------------------


def current_ruri(ctx: MsgContext) -> str | None:
    """The R-URI the request will go to: the script's new one, else the received one."""
    msg = ctx.msg
    if msg is None or not msg.is_request:
        return None
    return ctx.new_ruri or msg.ruri


def _ruri_parts(ctx: MsgContext) -> UriParts | None:
    uri = current_ruri(ctx)
    return split_uri(uri) if uri else None


def _get_ruri(ctx: MsgContext) -> Value:
    return current_ruri(ctx)


def _set_ruri(ctx: MsgContext, value: Value) -> None:
    if not isinstance(value, str) or not value:
        log.error("$ru needs a non-empty string, got %r", value)
        return
    if ctx.msg is None or not ctx.msg.is_request:
        log.error("$ru can only be set on a request")
        return
    ctx.new_ruri = value


def _rewrite_ruri(ctx: MsgContext, what: str, **parts: str) -> None:
    current = _ruri_parts(ctx)
    if current is None:
        log.error("cannot set the R-URI %s: no parsable R-URI", what)
        return
    ctx.new_ruri = current._replace(**parts).build()


def _set_ruri_user(ctx: MsgContext, value: Value) -> None:
    if isinstance(value, int):
        log.error("$rU needs a string, got %r", value)
        return
    if value:
        _rewrite_ruri(ctx, "user", user=value)
    else:
        _rewrite_ruri(ctx, "user", user="", passwd="")


def _set_ruri_host(ctx: MsgContext, value: Value) -> None:
    if not isinstance(value, str) or not value:
        log.error("$rd needs a non-empty string, got %r", value)
        return
    _rewrite_ruri(ctx, "host", host=value)


def _set_ruri_port(ctx: MsgContext, value: Value) -> None:
    port = "" if value is None else str(value)
    if port and not port.isdigit():
        log.error("$rp needs a port number, got %r", value)
        return
    _rewrite_ruri(ctx, "port", port=port)


def _default_port(parts: UriParts) -> int:
    secure = parts.scheme.lower() == "sips" or (parts.param("transport") or "").lower() == "tls"
    return 5061 if secure else 5060


def _uri_port(parts: UriParts | None) -> Value:
    if parts is None:
        return None
    return int(parts.port) if parts.port else _default_port(parts)


def _uri_proto(parts: UriParts | None) -> Value:
    if parts is None:
        return None
    transport = parts.param("transport")
    if transport:
        return transport
    return "tls" if parts.scheme.lower() == "sips" else "udp"


def _get_orig_ruri(ctx: MsgContext) -> Value:
    """The R-URI as received, whatever the script or a module rewrote since."""
    msg = ctx.msg
    if msg is None or not msg.is_request:
        return None
    return getattr(msg, "original_ruri", None) or msg.ruri  # type: ignore[no-any-return]


def _orig_parts(ctx: MsgContext) -> UriParts | None:
    uri = _get_orig_ruri(ctx)
    return split_uri(uri) if isinstance(uri, str) else None


def _get_du(ctx: MsgContext) -> Value:
    return ctx.dst_uri


def _set_du(ctx: MsgContext, value: Value) -> None:
    if value is None:
        ctx.dst_uri = None
    elif isinstance(value, str) and value:
        ctx.dst_uri = value
    else:
        log.error("$du needs a non-empty string, got %r", value)


def _du_parts(ctx: MsgContext) -> UriParts | None:
    du = ctx.dst_uri
    return split_uri(du) if du else None


# ---------------------------------------------------------------------------------------------
# From / To and name-addr headers
# ---------------------------------------------------------------------------------------------


def _name_addr_getters(attr: str) -> dict[str, Getter]:
    def hdr(ctx: MsgContext) -> Any:
        msg = ctx.msg
        return None if msg is None else getattr(msg, attr, None)

    def uri(ctx: MsgContext) -> Value:
        h = hdr(ctx)
        return None if h is None else h.uri

    def parts(ctx: MsgContext) -> UriParts | None:
        h = hdr(ctx)
        return None if h is None else split_uri(h.uri)

    def user(ctx: MsgContext) -> Value:
        p = parts(ctx)
        return p.user or None if p else None

    def domain(ctx: MsgContext) -> Value:
        p = parts(ctx)
        return p.host or None if p else None

    def tag(ctx: MsgContext) -> Value:
        h = hdr(ctx)
        return (h.tag or None) if h is not None else None

    def display(ctx: MsgContext) -> Value:
        h = hdr(ctx)
        return (h.display or None) if h is not None else None

    return {"u": uri, "U": user, "d": domain, "t": tag, "n": display}


def first_nameaddr(ctx: MsgContext, header: str) -> NameAddr | None:
    """The first name-addr of the first `header` of the message (None without one)."""
    msg = ctx.msg
    if msg is None:
        return None
    body = msg.header(header)
    if not body:
        return None
    fields = split_commas(body)
    return parse_nameaddr(fields[0]) if fields else None


def _header_uri_getter(header: str) -> Getter:
    """URI of the first name-addr in a header such as P-Asserted-Identity or Diversion."""

    def get(ctx: MsgContext) -> Value:
        na = first_nameaddr(ctx, header)
        return na.uri if na else None

    return get


# ---------------------------------------------------------------------------------------------
# Credentials: Proxy-Authorization if present, else Authorization (never on ACK/CANCEL)
# ---------------------------------------------------------------------------------------------


def _credentials(msg: Any) -> Any:
    if msg.method in ("ACK", "CANCEL") or not msg.is_request:
        return None
    for name in ("proxy-authorization", "authorization"):
        if msg.header(name) is None:
            continue
        parsed = msg.auth(name)
        return parsed[0] if isinstance(parsed, list) and parsed else None
    return None


def _auth_field(field: str) -> Getter:
    def get(ctx: MsgContext) -> Value:
        msg = ctx.msg
        cred = None if msg is None else _credentials(msg)
        if cred is None:
            return None
        if field in ("username.user", "username.domain"):
            user, at, domain = (cred.get("username") or "").partition("@")
            value = user if field == "username.user" else (domain if at else "")
        else:
            value = cred.get(field) or ""
        return value or None

    return get


_AUTH_VARS = {
    "au": "username.user",
    "ad": "username.domain",
    "aU": "username",
    "ar": "realm",
    "adu": "uri",
    "an": "nonce",
    "auth.nonce": "nonce",
    "auth.resp": "response",
    "auth.cnonce": "cnonce",
    "auth.opaque": "opaque",
    "auth.alg": "algorithm",
    "auth.qop": "qop",
    "auth.nc": "nc",
}


# ---------------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------------


def make_hdr(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if not subname or not subname.strip():
        raise PVError("$hdr needs a header name: $hdr(Name)", pos)
    return HeaderPV(f"$hdr({subname})", canonical_header(subname))


_JOIN_BUFFER = 511  # OpenSIPS's PV_LOCAL_BUF_SIZE


class HeaderPV(PVAccessor):
    """`$hdr(Name)`: the first field body; `get_all` gives every field (for indexes, `[*]`)."""

    __slots__ = ("_key",)

    def __init__(self, name: str, key: str) -> None:
        super().__init__(name, False)
        self._key = key

    def get(self, ctx: MsgContext) -> Value:
        msg = ctx.msg
        return None if msg is None else msg.header(self._key)

    def get_all(self, ctx: MsgContext) -> list[Value]:
        msg = ctx.msg
        return [] if msg is None else list(msg.headers(self._key))

    def join_all(self, ctx: MsgContext) -> Value:
        """`$(hdr(X)[*])`: OpenSIPS joins the bodies in a 511-byte buffer and gives NULL (with an
        error) when they do not fit."""
        joined = join_values(self.get_all(ctx))
        if isinstance(joined, str) and len(joined.encode("utf-8", "surrogateescape")) + 1 > _JOIN_BUFFER:
            log.error("local buffer length exceeded reading %s[*]", self.name)
            return None
        return joined


def make_hdrcnt(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if not subname or not subname.strip():
        raise PVError("$hdrcnt needs a header name: $hdrcnt(Name)", pos)
    hname = canonical_header(subname)

    def get(ctx: MsgContext) -> Value:
        msg = ctx.msg
        return None if msg is None else msg.header_count(hname)

    return FuncPV(f"$hdrcnt({subname})", get)


def _simple_header(hname: str) -> Getter:
    def get(ctx: MsgContext) -> Value:
        msg = ctx.msg
        return None if msg is None else msg.header(hname)

    return get


def _contacts(ctx: MsgContext) -> list[Value]:
    msg = ctx.msg
    if msg is None:
        return []
    out: list[Value] = []
    for body in msg.headers("contact"):
        out.extend(split_commas(body))
    return out


_CONTACT_FIELDS = ("uri", "name", "q", "expires", "methods", "received", "params")


def make_ct_fields(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    """`$ct.fields(uri)`: one part of the first contact (or of each, through `get_all`)."""
    field = (subname or "").strip().lower()
    if field not in _CONTACT_FIELDS:
        raise PVError(f"$ct.fields: unknown field {subname!r} ({', '.join(_CONTACT_FIELDS)})", pos)

    def pick(text: Value) -> Value:
        if not isinstance(text, str) or text.strip() == "*":
            return None  # `Contact: *` has no contact to read fields from
        na = parse_nameaddr(text)
        if na is None:
            return None
        if field == "uri":
            return na.uri
        if field == "name":
            return na.display or None
        if field == "params":
            return na.params or None
        for pname, pvalue in na.param_list():
            if pname.lower() == field:
                return pvalue or None
        return None

    def values(ctx: MsgContext) -> list[Value]:
        # one entry per contact, NULL where it lacks the field: index n is contact n
        return [pick(v) for v in _contacts(ctx)]

    return ListPV(f"$ct.fields({field})", values)


# ---------------------------------------------------------------------------------------------
# Message-wide fields
# ---------------------------------------------------------------------------------------------


def _msg_field(fn: Callable[[Any], Value]) -> Getter:
    def get(ctx: MsgContext) -> Value:
        msg = ctx.msg
        return None if msg is None else fn(msg)

    return get


def _status(msg: Any) -> Value:
    return None if msg.is_request else msg.status


def _reason(msg: Any) -> Value:
    return None if msg.is_request else msg.reason


def _body(msg: Any) -> Value:
    body = msg.body
    return _text(body) if body else None


def _multipart(body: bytes, boundary: str) -> list[tuple[str, bytes]]:
    """(lower-cased media type, content) of each part of a multipart body."""
    delim = b"--" + boundary.encode("latin-1", "replace")
    parts: list[tuple[str, bytes]] = []
    for chunk in body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        media = ""
        for line in head.split(b"\r\n"):
            hname, colon, value = line.partition(b":")
            if colon and hname.strip().lower() in (b"content-type", b"c"):
                media = value.split(b";")[0].strip().decode("latin-1").lower()
        parts.append((media, content))
    return parts


def make_body(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    """`$rb` (the whole body) or `$rb(application/sdp)` (the body, or the multipart part, of
    that type; NULL when there is none)."""
    if subname is None:
        return FuncPV("$rb", _msg_field(_body))
    mime = subname.strip().lower()
    if "/" not in mime:
        raise PVError(f"$rb needs a content type such as application/sdp, got {subname!r}", pos)

    def get(ctx: MsgContext) -> Value:
        msg = ctx.msg
        if msg is None or not msg.body:
            return None
        ctype = msg.content_type
        if ctype == mime:
            return _text(msg.body)
        if ctype and ctype.startswith("multipart/"):
            boundary = getattr(msg.content_type_full(), "boundary", None)
            if boundary:
                for media, content in _multipart(msg.body, boundary):
                    if media == mime:
                        return _text(content)
        return None

    return FuncPV(f"$rb({subname})", get)


def _socket_out(field: str | None) -> Getter:
    """The socket forced by the script (`force_send_socket`, `$socket_out = ...`), duck-typed
    (the core's Socket: proto, ip, port, name) so this layer needs no transport import; the
    receiving socket when none is forced."""

    receiving = _SOCKET_FIELDS[field]

    def get(ctx: MsgContext) -> Value:
        sock = ctx.force_socket
        if sock is None:
            # nothing forced: the socket the message came in on (OpenSIPS 3.6)
            return receiving(ctx)
        if field is None:
            return getattr(sock, "name", None) or str(sock)
        if field == "af":
            return "INET6" if ":" in getattr(sock, "ip", "") else "INET"
        value = getattr(sock, field, None)
        return value if isinstance(value, str | int) else None

    return get


_SOCKET_PROTOS = frozenset({"udp", "tcp", "tls", "ws", "wss", "sctp"})


def split_socket(text: str) -> tuple[str, str, int] | None:
    """`[proto:]host[:port]` (IPv6 in brackets) -> (proto, host, port), udp and 5060/5061 by default."""
    proto = "udp"
    head, sep, rest = text.strip().partition(":")
    if sep and head.lower() in _SOCKET_PROTOS:
        proto, text = head.lower(), rest
    port: int | None = None
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        if tail:
            if not tail.startswith(":") or not tail[1:].isdigit():
                return None
            port = int(tail[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            return None
        port = int(port_text)
    else:
        host = text
    if not host:
        return None
    return proto, host, port if port is not None else (5061 if proto in ("tls", "wss") else 5060)


def _set_socket_out(ctx: MsgContext, value: Value) -> None:
    """OpenSIPS pv_set_force_sock: NULL resets; a socket we do not listen on only warns."""
    if value is None:
        ctx.force_socket = None
        return
    where = split_socket(str(value))
    engine = ctx.process.core
    sock = None
    if where is not None and engine is not None:
        sock = engine.table.find(*where)
    if sock is None:
        log.warning("no socket found to match [%s]", value)
        return
    ctx.force_socket = sock


def make_socket_out(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    key = subname.strip().lower() if subname else None
    if key not in (None, "ip", "port", "proto", "af"):
        raise PVError(f"$socket_out: unknown field {subname!r} (ip, port, proto, af)", pos)
    if key is None:
        return FuncPV("$socket_out", _socket_out(None), _set_socket_out)
    return FuncPV(f"$socket_out({subname})", _socket_out(key))


# ---------------------------------------------------------------------------------------------
# Network: where the message came from
# ---------------------------------------------------------------------------------------------


def _rcv_field(attr: str) -> Getter:
    def get(ctx: MsgContext) -> Value:
        rcv = ctx.rcv
        return None if rcv is None else getattr(rcv, attr)

    return get


def _socket_text(ctx: MsgContext) -> Value:
    rcv = ctx.rcv
    if rcv is None:
        return None
    host = f"[{rcv.local_ip}]" if ":" in rcv.local_ip else rcv.local_ip
    return f"{rcv.proto}:{host}:{rcv.local_port}"


def _socket_af(ctx: MsgContext) -> Value:
    rcv = ctx.rcv
    if rcv is None:
        return None
    return "INET6" if ":" in rcv.local_ip else "INET"


_SOCKET_FIELDS: dict[str | None, Getter] = {
    None: _socket_text,
    "ip": _rcv_field("local_ip"),
    "port": _rcv_field("local_port"),
    "proto": _rcv_field("proto"),
    "af": _socket_af,
    "adv_ip": _rcv_field("local_ip"),
    "adv_port": _rcv_field("local_port"),
}


def make_socket_in(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    key = subname.strip().lower() if subname else None
    get = _SOCKET_FIELDS.get(key)
    if get is None:
        raise PVError(f"$socket_in: unknown field {subname!r} (ip, port, proto, af)", pos)
    return FuncPV(f"$socket_in({subname})" if subname else "$socket_in", get)


# ---------------------------------------------------------------------------------------------
# Clocks
# ---------------------------------------------------------------------------------------------


def _ts(ctx: MsgContext) -> Value:
    return int(_now(ctx))


def _tsm(ctx: MsgContext) -> Value:
    return int(_now(ctx) * 1_000_000) % 1_000_000


def _tf(ctx: MsgContext) -> Value:
    return time.ctime(_now(ctx))


def make_time(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if not subname:
        raise PVError("$time needs a strftime format: $time(%H:%M)", pos)
    fmt = subname
    try:
        time.strftime(fmt, time.localtime(0))
    except ValueError as exc:
        raise PVError(f"$time: bad format {fmt!r}: {exc}", pos) from None

    def get(ctx: MsgContext) -> Value:
        return time.strftime(fmt, time.localtime(_now(ctx))) or None

    return FuncPV(f"$time({fmt})", get)


# ---------------------------------------------------------------------------------------------
# Colors for xlog: $C(fb) with f/b among x (default) s k r g y b p c w
# ---------------------------------------------------------------------------------------------

_COLORS = "krgybpcw"


def make_color(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if not subname or len(subname) != 2 or any(c not in "xs" + _COLORS for c in subname.lower()):
        raise PVError(f"$C needs two color letters (x s k r g y b p c w), got {subname!r}", pos)
    fg, bg = subname[0].lower(), subname[1].lower()
    codes = ["0"]
    if fg == "s":
        codes.append("1")
    elif fg != "x":
        codes.append(str(30 + _COLORS.index(fg)))
    if bg not in "xs":
        codes.append(str(40 + _COLORS.index(bg)))
    text = "\x1b[" + ";".join(codes) + "m"
    return FuncPV(f"$C({subname})", lambda ctx: text)


def flag_names_pv(get_mask: Callable[[MsgContext], int], names: Callable[[], dict[str, int]]) -> PVFactory:
    """`$mf`/`$bf` as OpenSIPS 3.6 prints them: the names of the set flags, space-separated, the
    most recently defined name first (OpenSIPS keeps its flag list newest first)."""

    def text(ctx: MsgContext) -> Value:
        mask = get_mask(ctx)
        ordered = sorted(names().items(), key=lambda item: -item[1])
        return " ".join(name for name, bit in ordered if mask & (1 << bit))

    return _plain(text)


def make_color_off(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    """`$C(..)` without `xlog_force_color=yes`: checked the same, but empty (OpenSIPS 3.6
    prints colour codes only when the script forces them)."""
    make_color(name, subname, pos)
    return FuncPV(f"$C({subname})", lambda ctx: "")


# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------


def _error_field(key: str) -> Getter:
    """`$err.class` ...: the error an error_route runs for (OpenSIPS error info)."""

    # outside an error the numbers read 0 and the texts NULL (OpenSIPS's zeroed error info)
    unset: Value = 0 if key in ("class", "level", "rcode") else None

    def get(ctx: MsgContext) -> Value:
        info = ctx.error_info
        return unset if info is None else info.get(key)

    return get


def _plain(get: Getter, set_: Setter | None = None) -> PVFactory:
    """A factory for a variable that takes no name in parentheses."""

    def factory(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        if subname is not None:
            raise PVError(f"${name} takes no name in parentheses", pos)
        return FuncPV(f"${name}", get, set_)

    return factory


def _list(get_all: Callable[[MsgContext], list[Value]]) -> PVFactory:
    def factory(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        if subname is not None:
            raise PVError(f"${name} takes no name in parentheses", pos)
        return ListPV(f"${name}", get_all)

    return factory


def _cfg_line(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    line = pos.line
    return FuncPV("$cfg_line", lambda ctx: line)


def _cfg_file(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    file = pos.file
    return FuncPV("$cfg_file", lambda ctx: file)


def core_factories(start_time: float) -> dict[str, PVFactory]:
    """Every core pseudo-variable class, by name (with the OpenSIPS aliases)."""
    f = _name_addr_getters("from_")
    t = _name_addr_getters("to")
    table: dict[str, PVFactory] = {
        # request URI
        "ru": _plain(_get_ruri, _set_ruri),
        "rU": _plain(lambda c: (p.user or None) if (p := _ruri_parts(c)) else None, _set_ruri_user),
        "rd": _plain(lambda c: (p.host or None) if (p := _ruri_parts(c)) else None, _set_ruri_host),
        "rp": _plain(lambda c: _uri_port(_ruri_parts(c)), _set_ruri_port),
        "rP": _plain(lambda c: _uri_proto(_ruri_parts(c))),
        "ou": _plain(_get_orig_ruri),
        "oU": _plain(lambda c: (p.user or None) if (p := _orig_parts(c)) else None),
        "od": _plain(lambda c: (p.host or None) if (p := _orig_parts(c)) else None),
        "op": _plain(lambda c: _uri_port(_orig_parts(c))),
        "oP": _plain(lambda c: _uri_proto(_orig_parts(c))),
        # destination URI
        "du": _plain(_get_du, _set_du),
        "dd": _plain(lambda c: (p.host or None) if (p := _du_parts(c)) else None),
        "dp": _plain(lambda c: _uri_port(_du_parts(c))),
        "dP": _plain(lambda c: _uri_proto(_du_parts(c))),
        # From / To
        "fu": _plain(f["u"]),
        "fU": _plain(f["U"]),
        "fd": _plain(f["d"]),
        "fn": _plain(f["n"]),
        "ft": _plain(f["t"]),
        "tu": _plain(t["u"]),
        "tU": _plain(t["U"]),
        "td": _plain(t["d"]),
        "tn": _plain(t["n"]),
        "tt": _plain(t["t"]),
        # identity headers
        "ai": _plain(_header_uri_getter("p-asserted-identity")),
        "pu": _plain(_header_uri_getter("p-preferred-identity")),
        "di": _plain(_header_uri_getter("diversion")),
        "re": _plain(_header_uri_getter("remote-party-id")),
        "rt": _plain(_header_uri_getter("refer-to")),
        # message
        "ci": _plain(_msg_field(lambda m: m.call_id)),
        # a string in OpenSIPS 3.6 (`$cs == 1` is a type error there, `$cs == "1"` matches)
        "cs": _plain(_msg_field(lambda m: str(m.cseq.number))),
        "rm": _plain(_msg_field(lambda m: m.method)),
        "rs": _plain(_msg_field(_status)),
        "rr": _plain(_msg_field(_reason)),
        "cl": _plain(_msg_field(lambda m: m.content_length)),
        "cT": _plain(_simple_header("content-type")),
        "ua": _plain(_simple_header("user-agent")),
        "ct": _list(_contacts),
        "ct.fields": make_ct_fields,
        "ml": _plain(_msg_field(lambda m: len(m.raw))),
        "mb": _plain(_msg_field(lambda m: _text(m.raw))),
        "rb": make_body,
        "hdr": make_hdr,
        "hdrcnt": make_hdrcnt,
        # network
        "si": _plain(_rcv_field("src_ip")),
        "sp": _plain(_rcv_field("src_port")),
        "pr": _plain(_rcv_field("proto")),
        "Ri": _plain(_rcv_field("local_ip")),
        "Rp": _plain(_rcv_field("local_port")),
        "socket_in": make_socket_in,
        "socket_out": make_socket_out,
        # script state
        **{f"err.{key}": _plain(_error_field(key)) for key in ("class", "level", "info", "rcode", "rreason")},
        "rc": _plain(lambda c: c.retcode),
        "mf": _plain(lambda c: c.flags),
        "bf": _plain(lambda c: c.bflags),
        # asked each time: a worker forked after the script loaded has its own pid
        "pp": _plain(lambda c: os.getpid()),
        "cfg_line": _cfg_line,
        "cfg_file": _cfg_file,
        "C": make_color,
        # clocks
        "Ts": _plain(_ts),
        "Tsm": _plain(_tsm),
        "Tf": _plain(_tf),
        "TS": _plain(lambda c: int(start_time)),
        "time": make_time,
    }
    aliases = {
        "ruri": "ru",
        "ruri.user": "rU",
        "ruri.domain": "rd",
        "ouri": "ou",
        "duri": "du",
        "from": "fu",
        "from.user": "fU",
        "from.domain": "fd",
        "to": "tu",
        "to.user": "tU",
        "to.domain": "td",
        "retcode": "rc",
        "proto": "pr",
        "src_ip": "si",
    }
    for name, field in _AUTH_VARS.items():
        table[name] = _plain(_auth_field(field))
    for alias, target in aliases.items():
        table[alias] = table[target]
    return table
