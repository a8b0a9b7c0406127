"""Our listening sockets as the engine sees them: lookup, choice of an outbound socket, `myself`.

The table is built once at startup from `listen=`/`socket=` lines (after any name or `*` in them has
been turned into addresses). Everything the per-message path asks is a dict lookup.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from pysips.core.api import Destination, Socket
from pysips.script.myself import MyselfTable
from pysips.script.myself import norm_host as _norm_host


def default_port(proto: str) -> int:
    return 5061 if proto in ("tls", "wss") else 5060


def is_ip_literal(host: str) -> bool:
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# The `myself` rule lives in one place (pysips.script.myself); the core fills it from real sockets.
SocketMyself = MyselfTable


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
            # as OpenSIPS: a given port matches a socket's real or advertised port, and the host its
            # address or advertised name, whichever pairing of the two
            ports: set[int | None] = {sock.port, sock.advertised_port or sock.port}
            for host in (sock.ip, sock.advertised_host or sock.ip):
                for port in ports:
                    self.myself.add(host, port)
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
