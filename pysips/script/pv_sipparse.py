"""Small, cached splitters for the SIP text that pseudo-variables and transformations take apart.

They return the pieces exactly as written (OpenSIPS transformations hand out raw substrings:
`{uri.params}` is the parameter text, not a re-serialised dict), so they live here rather than in
the message layer's structured parsers. Results are cached by input text because scripts apply
the same transformation to the same value many times per message.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

_URI_SCHEMES = frozenset(("sip", "sips", "tel", "tels", "urn"))


class UriParts(NamedTuple):
    scheme: str  # as written ("sip", "SIPS" ...)
    user: str
    passwd: str
    host: str  # IPv6 with brackets, as written
    port: str  # digits as written, "" when absent
    params: str  # text after the first ';' of the host part, without it
    headers: str  # text after '?', without it

    def param(self, name: str) -> str | None:
        """Value of a URI parameter (name case-insensitive); "" when present without value."""
        return param_lookup(self.params, name.lower())

    def build(self) -> str:
        """The URI text from the parts (as OpenSIPS rebuilds a rewritten R-URI)."""
        out = [self.scheme, ":"]
        if self.user:
            out.append(self.user)
            if self.passwd:
                out += (":", self.passwd)
            out.append("@")
        out.append(self.host)
        if self.port:
            out += (":", self.port)
        if self.params:
            out += (";", self.params)
        if self.headers:
            out += ("?", self.headers)
        return "".join(out)


@lru_cache(maxsize=2048)
def split_uri(text: str) -> UriParts | None:
    """Split a SIP/SIPS/TEL URI; None when it is not one."""
    colon = text.find(":")
    if colon <= 0 or text[:colon].lower() not in _URI_SCHEMES:
        return None
    scheme = text[:colon]
    rest = text[colon + 1 :]
    if not rest:
        return None
    if scheme.lower() in ("tel", "tels", "urn"):
        number, _, params = rest.partition(";")
        params, _, headers = params.partition("?")
        return UriParts(scheme, number, "", "", "", params, headers)
    user = passwd = ""
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, _, passwd = userinfo.partition(":")
    rest, _, headers = rest.partition("?")
    hostport, _, params = rest.partition(";")
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            return None
        host, tail = hostport[: close + 1], hostport[close + 1 :]
        if tail and not tail.startswith(":"):
            return None
        port = tail[1:]
    else:
        host, _, port = hostport.partition(":")
    if not host or any(c in host for c in " \t<>\"") or (port and not port.isdigit()) or (
        not port and hostport.endswith(":")
    ):
        return None
    return UriParts(scheme, user, passwd, host, port, params, headers)


def split_params(text: str) -> list[tuple[str, str | None]] | None:
    """`a=1;b;c="x y"` -> [(a, 1), (b, None), (c, x y)]; a leading ';' and blanks are allowed.
    None when a parameter has no name."""
    return _split_params(text)


@lru_cache(maxsize=2048)
def _split_params(text: str) -> list[tuple[str, str | None]] | None:
    out: list[tuple[str, str | None]] = []
    s = text.strip(" \t\r\n")
    if s.startswith(";"):
        s = s[1:]
    i, n = 0, len(s)
    while i < n:
        j = i
        while j < n and s[j] not in "=;":
            j += 1
        name = s[i:j].strip(" \t\r\n")
        if not name:
            return None
        if j < n and s[j] == "=":
            k = j + 1
            while k < n and s[k] in " \t":
                k += 1
            if k < n and s[k] == '"':
                end = k + 1
                while end < n and s[end] != '"':
                    end += 2 if s[end] == "\\" else 1
                value = s[k + 1 : min(end, n)]
                end += 1
                while end < n and s[end] != ";":
                    end += 1
            else:
                end = s.find(";", k)
                if end < 0:
                    end = n
                value = s[k:end].strip(" \t\r\n")
            out.append((name, value))
            i = end + 1
        else:
            out.append((name, None))
            i = j + 1
    return out


def param_lookup(params: str, lname: str) -> str | None:
    """Value of parameter `lname` (already lower case) in a `;`-separated list, "" if bare."""
    parsed = _split_params(params) if params else None
    if not parsed:
        return None
    for name, value in parsed:
        if name.lower() == lname:
            return "" if value is None else value
    return None


def split_commas(text: str) -> list[str]:
    """Split a header body at commas that are outside quotes and angle brackets."""
    if "," not in text:
        stripped = text.strip()
        return [stripped] if stripped else []
    return list(_split_commas(text))


@lru_cache(maxsize=1024)
def _split_commas(text: str) -> tuple[str, ...]:
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "<":
            depth += 1
        elif c == ">":
            depth = max(depth - 1, 0)
        elif c == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    parts.append(text[start:].strip())
    return tuple(p for p in parts if p)


class NameAddr(NamedTuple):
    display: str  # as written (quotes kept), "" when absent
    uri: str
    params: str  # header parameters after the URI, raw, without the leading ';'
    body: str  # the whole name-addr text

    def param_list(self) -> list[tuple[str, str | None]]:
        return (_split_params(self.params) or []) if self.params else []


@lru_cache(maxsize=2048)
def parse_nameaddr(text: str) -> NameAddr | None:
    """`"Alice" <sip:a@x>;tag=1` or `sip:a@x;tag=1` (then `;tag` is a header parameter)."""
    body = text.strip(" \t\r\n")
    if not body:
        return None
    lt = _find_unquoted(body, "<")
    if lt >= 0:
        gt = body.find(">", lt)
        if gt < 0:
            return None
        display = body[:lt].strip(" \t")
        uri = body[lt + 1 : gt].strip(" \t")
        rest = body[gt + 1 :].strip(" \t")
    else:
        if body.startswith('"'):
            return None
        display = ""
        uri, sep, rest = body.partition(";")
        uri = uri.strip(" \t")
        rest = sep + rest
    if rest and not rest.startswith(";"):
        return None
    if not uri:
        return None
    return NameAddr(display, uri, rest[1:].strip(" \t"), body)


def _find_unquoted(text: str, char: str) -> int:
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == char:
            return i
        i += 1
    return -1


class ViaParts(NamedTuple):
    name: str
    version: str
    transport: str
    host: str
    port: str
    params: str
    comment: str

    def param(self, name: str) -> str | None:
        return param_lookup(self.params, name.lower())


@lru_cache(maxsize=1024)
def parse_via(text: str) -> ViaParts | None:
    """One Via field: `SIP/2.0/UDP host:port;params (comment)`."""
    body = text.strip(" \t\r\n")
    proto, sep, rest = body.partition(" ")
    if not sep:
        proto, sep, rest = body.partition("\t")
    pieces = [p.strip() for p in proto.split("/")]
    if len(pieces) != 3 or not all(pieces):
        return None
    rest = rest.strip(" \t")
    comment = ""
    paren = rest.find("(")
    # OpenSIPS's params run up to the comment, the blank before it included
    full = rest
    if paren >= 0:
        close = rest.rfind(")")
        comment = rest[paren + 1 : close if close > paren else len(rest)]
        rest = rest[:paren].rstrip(" \t")
    hostport, _, params = rest.partition(";")
    if paren >= 0 and params:
        params += full[len(rest) : paren]
    hostport = hostport.strip(" \t")
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            return None
        host, port = hostport[: close + 1], hostport[close + 2 :]
    else:
        host, _, port = hostport.partition(":")
    if not host or (port and not port.strip().isdigit()):
        return None
    return ViaParts(pieces[0], pieces[1], pieces[2], host, port.strip(), params.lstrip(" \t"), comment)
