"""Authorization, Proxy-Authorization, WWW-Authenticate, Proxy-Authenticate (RFC 3261 section 22)."""

from __future__ import annotations

import re

from pysips.sip.errors import ParseError
from pysips.sip.headers import is_token, split_commas, unquote


class AuthHeader:
    """`scheme` as written ("Digest"); `params` names lowercased, values unquoted."""

    __slots__ = ("params", "scheme")

    def __init__(self, scheme: str, params: dict[str, str]) -> None:
        self.scheme = scheme
        self.params = params

    def get(self, name: str) -> str | None:
        return self.params.get(name)

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    @property
    def username(self) -> str | None:
        return self.params.get("username")

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def nonce(self) -> str | None:
        return self.params.get("nonce")

    @property
    def response(self) -> str | None:
        return self.params.get("response")

    @property
    def uri(self) -> str | None:
        return self.params.get("uri")

    def __repr__(self) -> str:
        return f"AuthHeader({self.scheme!r}, {self.params!r})"


# auth-param = token LWS "=" LWS ( token / quoted-string ), separated by commas; compiled once
_AUTH_PARAM = re.compile(r'\s*([^\s=,]+)\s*=\s*("[^"\\]*(?:\\.[^"\\]*)*"|[^\s,"]*)\s*(?:,|$)')


def parse_auth(text: str) -> AuthHeader | ParseError:
    value = text.strip()
    space = 0
    while space < len(value) and value[space] not in " \t":
        space += 1
    scheme = value[:space]
    if not is_token(scheme):
        return ParseError(f"bad auth scheme {scheme[:40]!r}")
    params: dict[str, str] = {}
    rest = value[space:].strip()
    pos = 0
    end = len(rest)
    match_at = _AUTH_PARAM.match
    while pos < end:
        match = match_at(rest, pos)
        if match is None:
            return _parse_auth_slow(scheme, rest)
        name, raw = match.group(1, 2)
        if raw[:1] == '"':
            raw = raw[1:-1] if "\\" not in raw else unquote(raw)
        params[name.lower()] = raw
        pos = match.end()
    return AuthHeader(scheme, params)


def _parse_auth_slow(scheme: str, rest: str) -> AuthHeader | ParseError:
    """Odd shapes: empty list items, token68 credentials, unterminated quotes."""
    params: dict[str, str] = {}
    for item in split_commas(rest):
        if not item:
            continue
        eq = item.find("=")
        if eq <= 0:
            # token68-style credentials (RFC 7235): keep them under an empty name
            params[""] = item
            continue
        name = item[:eq].strip().lower()
        raw = item[eq + 1 :].strip()
        if raw.startswith('"') and (len(raw) < 2 or not raw.endswith('"')):
            return ParseError(f"unterminated quoted auth parameter {name!r}")
        params[name] = unquote(raw)
    return AuthHeader(scheme, params)
