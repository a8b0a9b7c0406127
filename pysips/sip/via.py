"""Via header values (RFC 3261 section 20.42, RFC 3581 rport)."""

from __future__ import annotations

import re

from pysips.sip.errors import ParseError
from pysips.sip.headers import parse_header_params, split_commas
from pysips.sip.uri import parse_hostport

MAGIC_COOKIE = "z9hG4bK"


class Via:
    """One via-parm. `proto` is upper case ("UDP", "WSS"); `host` keeps IPv6 brackets."""

    __slots__ = ("host", "params", "port", "proto", "text")

    def __init__(
        self, proto: str, host: str, port: int | None, params: dict[str, str | None], text: str
    ) -> None:
        self.proto = proto
        self.host = host
        self.port = port
        self.params = params
        self.text = text

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> str | None:
        """None if absent, "" when present without a value, else the value."""
        if "rport" not in self.params:
            return None
        return self.params["rport"] or ""

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def rfc3261_branch(self) -> bool:
        branch = self.params.get("branch")
        return branch is not None and branch.startswith(MAGIC_COOKIE)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Via({self.text!r})"


# The usual via-parm in one match: "SIP/2.0/UDP host[:port][;name[=value]]..." with a plain host and
# parameters free of quotes, brackets and whitespace; a subset of what _parse_via_plain accepts,
# with the same result. Anything else goes through _parse_via_plain.
_TOKEN = r"[A-Za-z0-9.!%*_+`'~-]+"
_COMMON_VIA = re.compile(
    rf"SIP/2\.0/([^ \[]+) ([A-Za-z0-9._-]+)(?::([0-9]{{1,5}}))?((?:;{_TOKEN}(?:=[^;\"\s\[\]]+)?)*)"
).fullmatch


def parse_via(text: str) -> Via | ParseError:
    value = text.strip()
    match = _COMMON_VIA(value)
    if match is not None:
        proto, host, port_text, param_text = match.groups()
        port = None
        if port_text is not None:
            port = int(port_text)
            if port > 65535:
                return _parse_via_plain(value)
        params: dict[str, str | None] = {}
        if param_text:
            for item in param_text[1:].split(";"):
                name, eq, param = item.partition("=")
                params[name.lower()] = param if eq else None
        return Via(proto.upper(), host, port, params, value)
    return _parse_via_plain(value)


_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")


def _parse_via_plain(value: str) -> Via | ParseError:
    """"SIP/2.0/transport host[:port];params" with single spaces and a plain host, the parameters
    as parse_header_params takes them; other shapes go to _parse_via_slow."""
    if value[:8] == "SIP/2.0/" and "[" not in value:
        space = value.find(" ", 8)
        semi = value.find(";", space)
        sent_by = value[space + 1 :] if semi < 0 else value[space + 1 : semi]
        host, colon, port_text = sent_by.partition(":")
        if space > 8 and host and _HOST_CHARS.issuperset(host) and (
            not colon or (port_text.isdigit() and len(port_text) <= 5 and int(port_text) <= 65535)
        ):
            params: dict[str, str | None] = {}
            if semi >= 0:
                parsed = parse_header_params(value[semi + 1 :])
                if isinstance(parsed, ParseError):
                    return ParseError(f"Via: {parsed.reason}")
                params = parsed
            port = int(port_text) if colon else None
            return Via(value[8:space].upper(), host, port, params, value)
    return _parse_via_slow(value)


def _parse_via_slow(value: str) -> Via | ParseError:
    if value.startswith("SIP/2.0/"):
        rest = value[8:]
    else:
        parts = value.split("/", 2)
        if len(parts) != 3 or parts[0].strip().upper() != "SIP":
            return ParseError("Via without SIP/2.0/transport")
        if parts[1].strip() != "2.0":
            return ParseError(f"Via with version {parts[1].strip()!r}", 505)
        rest = parts[2].lstrip()
    end = 0
    n = len(rest)
    while end < n and rest[end] not in " \t":
        end += 1
    proto = rest[:end].upper()
    if not proto:
        return ParseError("Via without transport")
    rest = rest[end:]
    semi = rest.find(";")
    sent_by = (rest if semi < 0 else rest[:semi]).strip()
    if " " in sent_by or "\t" in sent_by:
        sent_by = sent_by.replace(" ", "").replace("\t", "")
    hostport = parse_hostport(sent_by)
    if isinstance(hostport, ParseError):
        return ParseError(f"Via sent-by: {hostport.reason}")
    params = {}
    if semi >= 0:
        parsed = parse_header_params(rest[semi + 1 :])
        if isinstance(parsed, ParseError):
            return ParseError(f"Via: {parsed.reason}")
        params = parsed
    return Via(proto, hostport[0], hostport[1], params, value)


def parse_vias(values: list[str]) -> list[Via] | ParseError:
    out: list[Via] = []
    for value in values:
        for item in split_commas(value):
            via = parse_via(item)
            if isinstance(via, ParseError):
                return via
            out.append(via)
    return out
