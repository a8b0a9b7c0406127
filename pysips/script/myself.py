"""`myself`: is a host[:port] one of ours? One rule, used by the script, the core and `is_myself()`.

The core builds a MyselfTable from its real listeners; without a core (`pysips -c`, unit tests) the
script's own `listen=`/`socket=` and `alias=` lines define it. As OpenSIPS 3.x's check_self: the
host must equal a listener's address or advertised name, or an alias (case-insensitively; IPv6 in
any spelling); a port, when given, must be one of that host's ports; an absent port (None) matches
any port we listen on.

`uri == myself` (and `from_uri`/`to_uri`) follows 3.x, where scripts say `is_myself("$rd")`: the
URI's host decides, whatever port the URI names or leaves out. OpenSIPS 1.x/2.x also compared the
port and read an absent one as 5060, so a script listening elsewhere relayed its own domain's
requests (every browser REGISTER) away.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol

from pysips.script import ast


class MyselfChecker(Protocol):
    def is_myself(self, host: str, port: int | None) -> bool: ...


def norm_host(host: str) -> str:
    """The one spelling of a host for comparisons: lower case, IPv6 without brackets, compressed."""
    host = host.strip().lower()
    if len(host) > 2 and host[0] == "[" and host[-1] == "]":
        host = host[1:-1]
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            return host
    return host


class MyselfTable:
    """A MyselfChecker: hosts of ours, each with the ports it is ours on (None: any port)."""

    __slots__ = ("_hosts",)

    def __init__(self, addresses: list[tuple[str, int | None]] | None = None) -> None:
        self._hosts: dict[str, set[int | None]] = {}
        for host, port in addresses or ():
            self.add(host, port)

    def add(self, host: str, port: int | None) -> None:
        self._hosts.setdefault(norm_host(host), set()).add(port)

    def is_myself(self, host: str, port: int | None) -> bool:
        ports = self._hosts.get(host)
        if ports is None:
            ports = self._hosts.get(norm_host(host))
            if ports is None:
                return False
        return port is None or None in ports or port in ports


StaticMyself = MyselfTable  # the name modules and tests know it by


def default_port(proto: str | None) -> int:
    return 5061 if proto in ("tls", "wss") else 5060


def from_script(params: list[ast.GlobalParam]) -> MyselfTable:
    addresses: list[tuple[str, int | None]] = []
    for param in params:
        values = param.value if isinstance(param.value, tuple) else (param.value,)
        if param.name in ("listen", "socket"):
            for v in values:
                if isinstance(v, ast.SocketSpec):
                    port: int = v.port if v.port is not None else default_port(v.proto)
                    ports = {port, *v.more_ports, v.advertised_port or port}
                    for host in (v.host, v.advertised_host or v.host):
                        addresses.extend((host, p) for p in ports)
        elif param.name == "advertised_address" and isinstance(param.value, str):
            addresses.append((param.value, None))  # advertised by every socket without its own
        elif param.name == "alias":
            for v in values:
                if isinstance(v, ast.SocketSpec):
                    addresses.append((v.host, v.port))
                elif isinstance(v, str):
                    addresses.append(split_hostport(v))
    return MyselfTable(addresses)


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
    """Host and port of a SIP URI (`sip:user@host:port;params`); None when there is no host.

    The port is None when the URI has none: for `myself`, an absent port matches any of ours."""
    text = uri.strip()
    if text.startswith("<"):
        text = text[1 : text.find(">")] if ">" in text else text[1:]
    colon = text.find(":")
    if colon < 0:
        return None
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
    return host, port


def _first_of(text: str, chars: str) -> int:
    best = len(text)
    for c in chars:
        i = text.find(c)
        if 0 <= i < best:
            best = i
    return best
