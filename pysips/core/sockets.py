"""Our listening sockets as the engine sees them: lookup, choice of an outbound socket, `myself`.

The table is built once at startup from `listen=`/`socket=` lines (after any name or `*` in them has
been turned into addresses). Everything the per-message path asks is a dict lookup.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from pysips.core.api import Destination, Socket


def default_port(proto: str) -> int:
    return 5061 if proto in ("tls", "wss") else 5060


def _norm_host(host: str) -> str:
    host = host.strip().lower()
    if len(host) > 2 and host[0] == "[" and host[-1] == "]":
        host = host[1:-1]
    if ":" in host:
        # one spelling per IPv6 address: "::1" and "0:0:0:0:0:0:0:1" are the same host
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            return host
    return host


def is_ip_literal(host: str) -> bool:
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class SocketMyself:
    """`myself` from the real listeners, their advertised addresses and `alias=` entries.

    As OpenSIPS's check_self: the host must be one of ours (case-insensitive); a port, when given,
    must be a port we listen on (or was given with that alias); a port of None matches any port.
    """

    __slots__ = ("_hosts",)

    def __init__(self) -> None:
        self._hosts: dict[str, set[int | None]] = {}

    def add(self, host: str, port: int | None) -> None:
        self._hosts.setdefault(_norm_host(host), set()).add(port)

    def is_myself(self, host: str, port: int | None) -> bool:
        ports = self._hosts.get(host)
        if ports is None:
            ports = self._hosts.get(_norm_host(host))
            if ports is None:
                return False
        return port is None or None in ports or port in ports


class SocketTable:
    """Every socket of ours, indexed for the per-message questions."""

    __slots__ = ("_by_addr", "_by_family", "myself", "sockets")

    def __init__(self, sockets: Iterable[Socket], aliases: Iterable[tuple[str, int | None]] = ()) -> None:
        self.sockets: list[Socket] = list(sockets)
        self._by_addr: dict[tuple[str, str, int], Socket] = {}
        self._by_family: dict[tuple[str, bool], list[Socket]] = {}
        self.myself = SocketMyself()
        for sock in self.sockets:
            self._by_addr[(sock.proto, _norm_host(sock.ip), sock.port)] = sock
            self._by_family.setdefault((sock.proto, sock.is_ipv6), []).append(sock)
            self.myself.add(sock.ip, sock.port)
            if sock.advertised_host:
                self.myself.add(sock.advertised_host, sock.advertised_port or sock.port)
        for host, port in aliases:
            self.myself.add(host, port)

    def find(self, proto: str, ip: str, port: int) -> Socket | None:
        sock = self._by_addr.get((proto, ip, port))
        if sock is None:
            sock = self._by_addr.get((proto, _norm_host(ip), port))
        return sock

    def protos(self) -> set[str]:
        return {s.proto for s in self.sockets}

    def choose(self, dst: Destination, preferred: Socket | None = None) -> Socket | None:
        """A socket of dst's protocol and address family; `preferred` (the receiving socket) wins
        when it fits, so replies and in-dialog requests leave from where the peer knows us."""
        v6 = ":" in dst.ip
        if preferred is not None and preferred.proto == dst.proto and preferred.is_ipv6 == v6:
            return preferred
        candidates = self._by_family.get((dst.proto, v6))
        return candidates[0] if candidates else None
