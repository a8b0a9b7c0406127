"""`myself`: is a host[:port] one of ours?

The core will provide a checker built from its real listeners; until then (and for `pysips -c`)
the script's own `listen=`/`socket=` and `alias=` lines define it. As in OpenSIPS, the host must
equal a listener's address or name (or an alias, case-insensitively); a port, when given, must be
one of that listener's ports, and an absent port in a URI means 5060 (5061 for sips).
"""

from __future__ import annotations

from typing import Protocol

from pysips.script import ast


class MyselfChecker(Protocol):
    def is_myself(self, host: str, port: int | None) -> bool: ...


def _norm_host(host: str) -> str:
    host = host.strip().lower()
    if len(host) > 2 and host[0] == "[" and host[-1] == "]":
        host = host[1:-1]
    return host


class StaticMyself:
    """A MyselfChecker from (host, port) pairs; a port of None matches any port."""

    __slots__ = ("_hosts",)

    def __init__(self, addresses: list[tuple[str, int | None]]) -> None:
        self._hosts: dict[str, set[int | None]] = {}
        for host, port in addresses:
            self._hosts.setdefault(_norm_host(host), set()).add(port)

    def is_myself(self, host: str, port: int | None) -> bool:
        ports = self._hosts.get(_norm_host(host))
        if ports is None:
            return False
        return port is None or None in ports or port in ports


def default_port(proto: str | None) -> int:
    return 5061 if proto in ("tls", "wss") else 5060


def from_script(params: list[ast.GlobalParam]) -> StaticMyself:
    addresses: list[tuple[str, int | None]] = []
    for param in params:
        values = param.value if isinstance(param.value, tuple) else (param.value,)
        if param.name in ("listen", "socket"):
            for v in values:
                if isinstance(v, ast.SocketSpec):
                    port: int = v.port if v.port is not None else default_port(v.proto)
                    addresses.append((v.host, port))
                    if v.advertised_host:
                        addresses.append((v.advertised_host, v.advertised_port or port))
        elif param.name == "alias":
            for v in values:
                if isinstance(v, ast.SocketSpec):
                    addresses.append((v.host, v.port))
                elif isinstance(v, str):
                    addresses.append(split_hostport(v))
    return StaticMyself(addresses)


def split_hostport(text: str) -> tuple[str, int | None]:
    text = text.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    if text.count(":") >= 1 and not text.startswith("[") and text.count(":") > 1:
        return text, None  # bare IPv6
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[: end + 1], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        parts = text.split(":")
        if len(parts) == 3:  # proto:host:port
            parts = parts[1:]
        host = parts[0]
        port_text = parts[1] if len(parts) > 1 else ""
    return host, int(port_text) if port_text.isdigit() else None


def uri_hostport(uri: str) -> tuple[str, int | None] | None:
    """Host and port of a SIP URI (`sip:user@host:port;params`); None when there is no host."""
    text = uri.strip()
    if text.startswith("<"):
        text = text[1 : text.find(">")] if ">" in text else text[1:]
    colon = text.find(":")
    if colon < 0:
        return None
    scheme = text[:colon].lower()
    rest = text[colon + 1 :]
    at = rest.rfind("@", 0, _first_of(rest, ";?"))
    if at >= 0:
        rest = rest[at + 1 :]
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            return None
        host, tail = rest[: end + 1], rest[end + 1 :]
    else:
        end = _first_of(rest, ":;?>")
        host, tail = rest[:end], rest[end:]
    if not host:
        return None
    port: int | None = None
    if tail.startswith(":"):
        digits = tail[1 : _first_of(tail[1:], ";?>") + 1]
        if not digits.isdigit():
            return None
        port = int(digits)
    if port is None:
        port = 5061 if scheme == "sips" else 5060
    return host, port


def _first_of(text: str, chars: str) -> int:
    best = len(text)
    for c in chars:
        i = text.find(c)
        if 0 <= i < best:
            best = i
    return best
