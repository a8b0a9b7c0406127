"""RFC 3263 next-hop resolution of a SIP URI to ordered (proto, ip, port) destinations.

- An IP literal needs no lookup: the URI's transport (udp by default, tls for sips) and port
  (5060/5061 by default).
- A name with a port: A/AAAA only, transport as above.
- A name without a port but with a transport: SRV for that transport, then A/AAAA at the default
  port.
- A name with neither: NAPTR (services we have sockets for), else SRV for each of our transports,
  else A/AAAA at 5060 over UDP.

Every target is kept, in order (NAPTR order/preference, SRV priority then weight, each host's
addresses IPv4 first): tm fails over to the next one on a 503 or a timeout (RFC 3263 4.3).

Answers are cached for their TTL, failures for a short time, so a burst of requests to one domain
costs one lookup. The lookups (`DnsLookups`) use dnspython's asyncio resolver and
pysips.core.suspend.wait: a message waiting on DNS is suspended, other messages go on; nothing
blocks the event loop (getaddrinfo is never called). /etc/hosts is read once and answers first.
The servers are the system's (/etc/resolv.conf) unless `pysips --dns-server IP[:PORT]` names
others. Hosts under `.invalid` (WebSocket clients, RFC 7118) are never looked up.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysips.core.api import Destination
from pysips.core.sockets import default_port, is_ip_literal
from pysips.core.suspend import wait
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
        # the DNS client, unless every lookup is injected (tests)
        self.dns: DnsLookups | None = None
        if naptr is None or srv is None or addresses is None:
            self.dns = DnsLookups()
            naptr = naptr or self.dns.naptr
            srv = srv or self.dns.srv
            addresses = addresses or self.dns.addresses
        self._naptr: NaptrLookup = naptr
        self._srv: SrvLookup = srv
        self._addresses: AddrLookup = addresses
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


def parse_server(text: str) -> tuple[str, int]:
    """`IP`, `IP:PORT` or `[IPv6]:PORT` to (ip, port); ValueError when it is none of them."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        host, port = text, 53
    ipaddress.ip_address(host)
    if not 0 < port < 65536:
        raise ValueError(f"bad port in {text!r}")
    return host, port


def read_hosts(path: Path = Path("/etc/hosts")) -> dict[str, list[str]]:
    """Name -> addresses from a hosts file (lower-case names, file order)."""
    table: dict[str, list[str]] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return table
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            ip = str(ipaddress.ip_address(fields[0].split("%", 1)[0]))
        except ValueError:
            continue
        for name in fields[1:]:
            known = table.setdefault(name.lower().rstrip("."), [])
            if ip not in known:
                known.append(ip)
    return table


class DnsLookups:
    """NAPTR, SRV and A/AAAA through dnspython's asyncio resolver, each awaited with
    pysips.core.suspend.wait (the message's script is suspended meanwhile). A lookup that fails
    or times out is an empty answer, logged at debug level; the caller logs what it means."""

    def __init__(self) -> None:
        import dns.asyncresolver
        import dns.resolver

        try:
            self.resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            self.resolver = dns.asyncresolver.Resolver(configure=False)
            self.resolver.nameservers = ["127.0.0.1"]
        self.resolver.lifetime = 2.0
        self.hosts = read_hosts()

    def use_servers(self, servers: list[tuple[str, int]]) -> None:
        """Ask these servers instead of the system's (`pysips --dns-server`)."""
        import dns.nameserver

        self.resolver.nameservers = [dns.nameserver.Do53Nameserver(ip, port) for ip, port in servers]

    def set_timing(self, retr_time: int | None, retr_no: int | None, servers_no: int | None = None) -> None:
        """OpenSIPS's dns_retr_time (seconds per try), dns_retr_no (tries) and dns_servers_no
        (how many of the configured servers are asked)."""
        if retr_time is not None and retr_time > 0:
            self.resolver.timeout = float(retr_time)
            self.resolver.lifetime = float(retr_time) * max(1, retr_no or 1)
        if servers_no is not None and servers_no > 0:
            self.resolver.nameservers = list(self.resolver.nameservers)[:servers_no]

    def _query(self, name: str, rdtype: str) -> tuple[list[Any], float]:
        import dns.exception

        try:
            answer = wait(self.resolver.resolve(name, rdtype))
        except (dns.exception.DNSException, OSError) as exc:
            log.debug("DNS %s %s: %s", rdtype, name, exc)
            return [], NEGATIVE_TTL
        except RuntimeError as exc:  # called where no script can wait (on the bare event loop)
            log.error("DNS %s %s not looked up: %s", rdtype, name, exc)
            return [], NEGATIVE_TTL
        ttl = float(answer.rrset.ttl) if answer.rrset is not None else ADDRESS_TTL
        return list(answer), ttl

    def naptr(self, name: str) -> tuple[list[Naptr], float]:
        records, ttl = self._query(name, "NAPTR")
        out = [
            Naptr(int(r.order), int(r.preference), r.service.decode().upper(), str(r.replacement))
            for r in records
            if r.flags.decode().lower() == "s"
        ]
        return out, ttl

    def srv(self, name: str) -> tuple[list[Srv], float]:
        records, ttl = self._query(name, "SRV")
        return [Srv(int(r.priority), int(r.weight), int(r.port), str(r.target)) for r in records], ttl

    def addresses(self, host: str) -> tuple[list[str], float]:
        """/etc/hosts first, else A then AAAA (IPv4 first)."""
        known = self.hosts.get(host.lower().rstrip("."))
        if known:
            return sorted(known, key=lambda a: ":" in a), ADDRESS_TTL
        v4, ttl4 = self._query(host, "A")
        v6, ttl6 = self._query(host, "AAAA")
        found = [r.address for r in v4] + [r.address for r in v6]
        ttls = [t for t, recs in ((ttl4, v4), (ttl6, v6)) if recs]
        return found, (min(ttls) if ttls else NEGATIVE_TTL)
