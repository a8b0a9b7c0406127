"""RFC 3263 next-hop resolution of a SIP URI to ordered (proto, ip, port) destinations.

- An IP literal needs no lookup: the URI's transport (udp by default, tls for sips) and port
  (5060/5061 by default).
- A name with a port: A/AAAA only, transport as above.
- A name without a port but with a transport: SRV for that transport, then A/AAAA at the default
  port.
- A name with neither: NAPTR (services we have sockets for), else SRV for each of our transports,
  else A/AAAA at 5060 over UDP.

Answers are cached for their TTL (addresses from the system resolver for a fixed time), failures
for a short time, so a burst of requests to one domain costs one lookup. Lookups are synchronous,
as in an OpenSIPS worker: a slow DNS server blocks this worker for at most `timeout` seconds.
Hosts under `.invalid` (WebSocket clients, RFC 7118) are never looked up.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pysips.core.api import Destination
from pysips.core.sockets import default_port, is_ip_literal
from pysips.sip.errors import ParseError
from pysips.sip.uri import parse_uri

log = logging.getLogger("pysips.core.dns")

_NAPTR_SERVICES = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls", "SIP+D2W": "ws", "SIPS+D2W": "wss"}
_SRV_PREFIX = {"udp": "_sip._udp.", "tcp": "_sip._tcp.", "tls": "_sips._tcp.", "ws": "_sip._ws.",
               "wss": "_sips._ws."}
ADDRESS_TTL = 60.0
NEGATIVE_TTL = 10.0


@dataclass(frozen=True, slots=True)
class Naptr:
    order: int
    preference: int
    service: str  # upper case, e.g. SIP+D2U
    replacement: str  # an SRV name


@dataclass(frozen=True, slots=True)
class Srv:
    priority: int
    weight: int
    port: int
    target: str


# Lookup functions return (records, ttl); they raise nothing (an empty list means no answer).
NaptrLookup = Callable[[str], tuple[list[Naptr], float]]
SrvLookup = Callable[[str], tuple[list[Srv], float]]
AddrLookup = Callable[[str], tuple[list[str], float]]


class Resolver:
    """RFC 3263 with a TTL cache. The lookups are injectable so tests need no DNS server."""

    def __init__(
        self,
        protos: set[str],
        naptr: NaptrLookup | None = None,
        srv: SrvLookup | None = None,
        addresses: AddrLookup | None = None,
        try_ipv6: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.protos = protos  # transports we can send over
        dns_naptr, dns_srv = _dnspython_lookups()
        self._naptr = naptr or dns_naptr
        self._srv = srv or dns_srv
        self._addresses = addresses or system_addresses
        self.try_ipv6 = try_ipv6  # dns_try_ipv6
        self.try_naptr = True  # dns_try_naptr
        self._clock = clock
        self._cache: dict[str, tuple[float, list[Destination]]] = {}

    def resolve(self, uri: str) -> list[Destination]:
        now = self._clock()
        hit = self._cache.get(uri)
        if hit is not None and hit[0] > now:
            return hit[1]
        result, ttl = self._resolve(uri)
        if len(self._cache) > 10000:
            self._cache.clear()
        self._cache[uri] = (now + (ttl if result else NEGATIVE_TTL), result)
        return result

    def _resolve(self, uri_text: str) -> tuple[list[Destination], float]:
        uri = parse_uri(uri_text)
        if isinstance(uri, ParseError):
            log.error("cannot resolve %r: %s", uri_text, uri.reason)
            return [], NEGATIVE_TTL
        secure = uri.scheme == "sips"
        host = uri.params.get("maddr") or uri.host
        transport = (uri.params.get("transport") or "").lower() or None
        if transport == "tcp" and secure:
            transport = "tls"
        elif transport == "ws" and secure:
            transport = "wss"
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if is_ip_literal(host):
            proto = transport or ("tls" if secure else "udp")
            return [Destination(proto, host, uri.port or default_port(proto))], 3600.0
        if host.lower().endswith(".invalid"):
            log.error("not resolving %s: .invalid hosts are reached over their connection only", host)
            return [], NEGATIVE_TTL
        if uri.port is not None:
            proto = transport or ("tls" if secure else "udp")
            return self._a(host, proto, uri.port)
        if transport is not None:
            found = self._srv_targets(_SRV_PREFIX.get(transport, "_sip._udp.") + host, transport)
            if found[0]:
                return found
            return self._a(host, transport, default_port(transport))
        if self.try_naptr:
            found = self._by_naptr(host, secure)
            if found[0]:
                return found
        for proto in ("udp", "tcp", "tls") if not secure else ("tls",):
            if proto not in self.protos:
                continue
            found = self._srv_targets(_SRV_PREFIX[proto] + host, proto)
            if found[0]:
                return found
        proto = "tls" if secure else "udp"
        return self._a(host, proto, default_port(proto))

    def _by_naptr(self, host: str, secure: bool) -> tuple[list[Destination], float]:
        records, ttl = self._naptr(host)
        usable = [
            r for r in records
            if _NAPTR_SERVICES.get(r.service) in self.protos and (not secure or r.service.startswith("SIPS"))
        ]
        usable.sort(key=lambda r: (r.order, r.preference))
        out: list[Destination] = []
        for record in usable:
            dests, srv_ttl = self._srv_targets(record.replacement, _NAPTR_SERVICES[record.service])
            out.extend(dests)
            ttl = min(ttl, srv_ttl)
        return out, ttl

    def _srv_targets(self, name: str, proto: str) -> tuple[list[Destination], float]:
        records, ttl = self._srv(name)
        # RFC 2782: by priority; within one priority the heavier first (no random draw: the same
        # answer always gives the same order, which keeps failover predictable)
        records = sorted(records, key=lambda r: (r.priority, -r.weight))
        out: list[Destination] = []
        for record in records:
            dests, a_ttl = self._a(record.target.rstrip("."), proto, record.port)
            out.extend(dests)
            ttl = min(ttl, a_ttl) if dests else ttl
        return out, ttl

    def _a(self, host: str, proto: str, port: int) -> tuple[list[Destination], float]:
        addresses, ttl = self._addresses(host)
        if not self.try_ipv6:
            addresses = [a for a in addresses if ":" not in a]
        if not addresses:
            log.error("DNS: %s does not resolve", host)
        return [Destination(proto, a, port) for a in addresses], ttl


def system_addresses(host: str) -> tuple[list[str], float]:
    """A/AAAA through the system resolver (so /etc/hosts counts), IPv4 first."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return [], NEGATIVE_TTL
    seen: list[str] = []
    for family, _, _, _, sockaddr in sorted(infos, key=lambda i: i[0] != socket.AF_INET):
        ip = str(sockaddr[0])
        if family in (socket.AF_INET, socket.AF_INET6) and ip not in seen:
            seen.append(ip)
    return seen, ADDRESS_TTL


def _no_naptr(name: str) -> tuple[list[Naptr], float]:
    return [], NEGATIVE_TTL


def _no_srv(name: str) -> tuple[list[Srv], float]:
    return [], NEGATIVE_TTL


def _dnspython_lookups() -> tuple[NaptrLookup, SrvLookup]:
    try:
        import dns.exception
        import dns.resolver
    except ImportError:
        log.warning("dnspython is not installed: NAPTR/SRV lookups disabled, A/AAAA only")
        return _no_naptr, _no_srv

    resolver = dns.resolver.Resolver()
    resolver.lifetime = 2.0

    def query(name: str, rdtype: str) -> tuple[list[Any], float]:
        try:
            answer = resolver.resolve(name, rdtype)
        except (dns.exception.DNSException, OSError):
            return [], NEGATIVE_TTL
        ttl = float(answer.rrset.ttl) if answer.rrset is not None else ADDRESS_TTL
        return list(answer), ttl

    def naptr(name: str) -> tuple[list[Naptr], float]:
        records, ttl = query(name, "NAPTR")
        out = [
            Naptr(int(r.order), int(r.preference), r.service.decode().upper(), str(r.replacement))
            for r in records
            if r.flags.decode().lower() == "s"
        ]
        return out, ttl

    def srv(name: str) -> tuple[list[Srv], float]:
        records, ttl = query(name, "SRV")
        return [Srv(int(r.priority), int(r.weight), int(r.port), str(r.target)) for r in records], ttl

    return naptr, srv
