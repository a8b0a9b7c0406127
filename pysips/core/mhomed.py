"""`mhomed=yes`: the outgoing UDP socket chosen by destination, as OpenSIPS's get_out_socket.

The kernel's route says which local address would send to the destination (a connected UDP
socket's getsockname(); nothing is sent). When none of our sockets has that address — every
address on `lo` routes from 127.0.0.1, so test networks inside 127/8 look alike to the kernel —
the socket whose address shares the longest prefix with the destination wins. Answers are cached
per destination address: the route lookup is a few system calls.
"""

from __future__ import annotations

import ipaddress
import socket as _socket
from collections.abc import Callable, Iterable

from pysips.core.api import Destination, Socket

RouteLookup = Callable[[str], str | None]
_CACHE_MAX = 4096
_WILDCARDS = ("0.0.0.0", "::")


def kernel_source(dst_ip: str) -> str | None:
    """The local address the kernel would send from to `dst_ip`, or None."""
    family = _socket.AF_INET6 if ":" in dst_ip else _socket.AF_INET
    try:
        with _socket.socket(family, _socket.SOCK_DGRAM) as probe:
            probe.connect((dst_ip, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return None


def _address_int(ip: str) -> tuple[int, int] | None:
    try:
        addr = ipaddress.ip_address(ip.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    return int(addr), addr.max_prefixlen


def common_prefix(a: str, b: str) -> int:
    """How many leading bits two addresses of one family share (-1 across families or bad input)."""
    pa, pb = _address_int(a), _address_int(b)
    if pa is None or pb is None or pa[1] != pb[1]:
        return -1
    width = pa[1]
    return width - (pa[0] ^ pb[0]).bit_length()


def pick_socket(candidates: list[Socket], dst_ip: str, route_ip: str | None) -> Socket | None:
    """The socket bound to the kernel's source address, else the longest prefix with dst."""
    if not candidates:
        return None
    source = _address_int(route_ip) if route_ip is not None else None
    if source is not None:
        for sock in candidates:
            if _address_int(sock.ip) == source:
                return sock
    best = candidates[0]
    best_len = -1
    for sock in candidates:
        if sock.ip in _WILDCARDS:
            continue
        length = common_prefix(sock.ip, dst_ip)
        if length > best_len:
            best, best_len = sock, length
    return best


class OutSocketChooser:
    """Per-destination choice among our UDP sockets of the destination's family."""

    __slots__ = ("_by_family", "_cache", "_lookup")

    def __init__(self, sockets: Iterable[Socket], lookup: RouteLookup = kernel_source) -> None:
        self._by_family: dict[bool, list[Socket]] = {}
        for sock in sockets:
            if sock.proto == "udp":
                self._by_family.setdefault(sock.is_ipv6, []).append(sock)
        self._cache: dict[str, Socket | None] = {}
        self._lookup = lookup

    def choose(self, dst: Destination) -> Socket | None:
        """None when mhomed has nothing to say (not UDP, fewer than two sockets)."""
        if dst.proto != "udp":
            return None
        ip = dst.ip
        cached = self._cache.get(ip)
        if cached is not None:
            return cached
        candidates = self._by_family.get(":" in ip)
        if candidates is None or len(candidates) < 2:
            return None
        route_ip = self._lookup(ip)
        chosen = pick_socket(candidates, ip, route_ip)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[ip] = chosen
        return chosen
