"""SIP, SIPS and tel URIs (RFC 3261 section 19.1, RFC 3966): parse, inspect, rebuild."""

from __future__ import annotations

from pysips.sip.errors import ParseError

_HEX = frozenset("0123456789abcdefABCDEF")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_DIGITS = frozenset("0123456789")


class SipUri:
    """A parsed URI. `host` keeps IPv6 brackets as written; `text` is the URI exactly as given."""

    __slots__ = ("headers", "host", "params", "password", "port", "scheme", "text", "user")

    def __init__(
        self,
        scheme: str,
        user: str | None,
        host: str,
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        headers: dict[str, str] | None = None,
        password: str | None = None,
        text: str | None = None,
    ) -> None:
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params: dict[str, str | None] = params if params is not None else {}
        self.headers: dict[str, str] = headers if headers is not None else {}
        self.text = text if text is not None else self._build()

    def _build(self) -> str:
        if self.scheme == "tel":
            out = ["tel:", self.user or ""]
        else:
            out = [self.scheme, ":"]
            if self.user is not None:
                out.append(self.user)
                if self.password is not None:
                    out += [":", self.password]
                out.append("@")
            out.append(self.host)
            if self.port is not None:
                out += [":", str(self.port)]
        for name, value in self.params.items():
            out += [";", name] if value is None else [";", name, "=", value]
        if self.headers:
            out += ["?", "&".join(f"{k}={v}" for k, v in self.headers.items())]
        return "".join(out)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"SipUri({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SipUri) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def bare_host(self) -> str:
        """Host without IPv6 brackets, for resolvers and socket calls."""
        host = self.host
        return host[1:-1] if host.startswith("[") else host

    def replace(self, **changes: object) -> SipUri:
        """A new URI with some components changed (user=, host=, port=, params=, ...)."""
        fields: dict[str, object] = {
            "scheme": self.scheme, "user": self.user, "host": self.host, "port": self.port,
            "params": dict(self.params), "headers": dict(self.headers), "password": self.password,
        }
        for name, value in changes.items():
            if name not in fields:
                raise TypeError(f"SipUri has no component {name!r}")
            fields[name] = value
        return SipUri(**fields)  # type: ignore[arg-type]


def unescape(text: str) -> str:
    """Decode %HH escapes (RFC 3261 section 19.1.4 compares URIs after this). Bad escapes stay."""
    if "%" not in text:
        return text
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "%" and i + 2 < n and text[i + 1] in _HEX and text[i + 2] in _HEX:
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
            continue
        out += ch.encode("utf-8", "surrogateescape")
        i += 1
    return out.decode("utf-8", "surrogateescape")


def _bad_escape(text: str) -> bool:
    i = text.find("%")
    while i >= 0:
        if i + 2 >= len(text) or text[i + 1] not in _HEX or text[i + 2] not in _HEX:
            return True
        i = text.find("%", i + 3)
    return False


def parse_params(text: str) -> dict[str, str | None] | ParseError:
    """`;a=b;c` after the host (leading ';' already removed): names lowercased, order kept."""
    params: dict[str, str | None] = {}
    for item in text.split(";"):
        if not item:
            return ParseError("empty URI parameter")
        eq = item.find("=")
        if eq < 0:
            params[item.lower()] = None
        elif eq == 0:
            return ParseError("URI parameter without a name")
        else:
            params[item[:eq].lower()] = item[eq + 1 :]
    return params


def parse_hostport(text: str) -> tuple[str, int | None] | ParseError:
    """`host`, `host:port`, `[v6]`, `[v6]:port`; host validated, port 0-65535."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return ParseError("unterminated IPv6 reference")
        host = text[: close + 1]
        # RFC 5118 section 4.10: tolerate the three-colon form the RFC 3261 ABNF allows
        if close < 3 or not _IPV6_CHARS.issuperset(host[1:-1]):
            return ParseError("bad IPv6 reference")
        rest = text[close + 1 :]
        if not rest:
            return host, None
        if rest[0] != ":":
            return ParseError("junk after IPv6 reference")
        port_text = rest[1:]
    else:
        colon = text.find(":")
        if colon < 0:
            host, port_text = text, None
        else:
            host, port_text = text[:colon], text[colon + 1 :]
        if not host or not _HOST_CHARS.issuperset(host):
            return ParseError(f"bad host {host!r}")
        if port_text is None:
            return host, None
    if not port_text or len(port_text) > 5 or not _DIGITS.issuperset(port_text):
        return ParseError(f"bad port {port_text!r}")
    port = int(port_text)
    if port > 65535:
        return ParseError(f"port {port} out of range")
    return host, port


def _has_forbidden(text: str) -> bool:
    # isprintable() rejects controls (TAB, CR, LF, NUL, DEL) in one C pass; the rest by search
    return not text.isprintable() or " " in text or "<" in text or ">" in text or '"' in text


def parse_uri(text: str) -> SipUri | ParseError:
    """Parse a URI. Unknown schemes give a ParseError with status 416 (Unsupported URI Scheme)."""
    colon = text.find(":")
    if colon <= 0:
        return ParseError(f"URI without scheme: {text[:80]!r}")
    scheme = text[:colon].lower()
    if scheme == "sip" or scheme == "sips":
        return _parse_sip(text, scheme, colon + 1)
    if scheme == "tel" or scheme == "tels":
        return _parse_tel(text, colon + 1, scheme)
    if scheme == "urn":
        return _parse_service_urn(text)
    if not scheme.isascii() or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        return ParseError(f"bad URI scheme {text[:colon]!r}")
    return ParseError(f"unsupported URI scheme {scheme!r}", 416)


def _parse_sip(text: str, scheme: str, start: int) -> SipUri | ParseError:
    if _has_forbidden(text):
        return ParseError("forbidden character in URI")
    if "%" in text and _bad_escape(text):
        return ParseError("bad escape in URI")
    rest = text[start:]
    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        pcolon = userinfo.find(":")
        if pcolon >= 0:
            user, password = userinfo[:pcolon], userinfo[pcolon + 1 :]
        else:
            user = userinfo
        if not user:
            return ParseError("empty user part in URI")
    headers: dict[str, str] = {}
    qmark = rest.find("?")
    if qmark >= 0:
        for item in rest[qmark + 1 :].split("&"):
            eq = item.find("=")
            if eq <= 0:
                return ParseError("bad URI header")
            headers[item[:eq]] = item[eq + 1 :]
        rest = rest[:qmark]
    params: dict[str, str | None] = {}
    # a ';' inside an IPv6 reference cannot occur, so the first ';' after ']' starts the params
    semi = rest.find(";", rest.find("]") + 1)
    if semi >= 0:
        parsed = parse_params(rest[semi + 1 :])
        if isinstance(parsed, ParseError):
            return parsed
        params = parsed
        rest = rest[:semi]
    hostport = parse_hostport(rest)
    if isinstance(hostport, ParseError):
        return hostport
    return SipUri(scheme, user, hostport[0], hostport[1], params, headers, password, text)


# RFC 5031 service URNs (emergency calls: urn:service:sos) and NENA's, the URN forms OpenSIPS routes.
_SERVICE_URN_PREFIXES = ("urn:service:", "urn:nena:service:")


def _parse_service_urn(text: str) -> SipUri | ParseError:
    lowered = text.lower()
    for prefix in _SERVICE_URN_PREFIXES:
        if lowered.startswith(prefix):
            break
    else:
        return ParseError(f"unsupported URN {text[:80]!r}", 416)
    if _has_forbidden(text):
        return ParseError("forbidden character in URN")
    rest = text[len(prefix) :]
    semi = rest.find(";")
    service = rest if semi < 0 else rest[:semi]
    if not service:
        return ParseError("URN without a service")
    params: dict[str, str | None] = {}
    if semi >= 0:
        parsed = parse_params(rest[semi + 1 :])
        if isinstance(parsed, ParseError):
            return parsed
        params = parsed
    # As OpenSIPS: the scheme is the URN kind, the service (sos, sos.police ...) stands as the host.
    return SipUri(prefix[:-1], None, service, None, params, {}, None, text)


def _parse_tel(text: str, start: int, scheme: str = "tel") -> SipUri | ParseError:
    if _has_forbidden(text):
        return ParseError("forbidden character in tel URI")
    rest = text[start:]
    semi = rest.find(";")
    number = rest if semi < 0 else rest[:semi]
    if not number:
        return ParseError("empty tel URI")
    params: dict[str, str | None] = {}
    if semi >= 0:
        parsed = parse_params(rest[semi + 1 :])
        if isinstance(parsed, ParseError):
            return parsed
        params = parsed
    return SipUri(scheme, number, "", None, params, {}, None, text)
