"""The address table of one partition, in memory: which (group, ip/mask, port, proto, pattern)
entries a source matches (check_address, check_source_address, get_source_group).

Matching follows OpenSIPS: group 0 means any group, port 0 any port, proto "any" any protocol
(on either side: the entry or the question); an entry with a pattern matches only when the given
pattern text fnmatch-es it (no pattern given: the entry's pattern is not consulted). The first
entry found in OpenSIPS's search order answers (AddressTable). Sans-I/O: rows in, answers out.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pysips.db.api import DbValue
from pysips.db.text import text_or_none as _text
from pysips.script.posixfnmatch import fnmatch_period

log = logging.getLogger("pysips.modules.permissions")

GROUP_ANY = 0
PORT_ANY = 0
PROTO_ANY = "any"

# OpenSIPS's protocol names (proto_char2int), lower case; "any" stands for every one
PROTOCOLS = frozenset(("udp", "tcp", "tls", "sctp", "ws", "wss", "bin", "bins", "hep_udp",
                       "hep_tcp", "smpp", "msrp", "msrps", "ipsec", "any"))

IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_proto(text: str) -> str | None:
    """The protocol name, lower case ("any" for an empty one), None when unknown."""
    name = text.strip().lower() or PROTO_ANY
    return name if name in PROTOCOLS else None


def parse_ip(text: str) -> IpAddr | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class AddressEntry:
    group: int
    net: IpNet
    port: int
    proto: str  # "any" or a protocol name
    pattern: str | None
    context_info: str | None

    @property
    def is_host(self) -> bool:
        """What address_dump lists (subnet_dump the others): a full-length mask."""
        return self.net.prefixlen == self.net.max_prefixlen

    def matches(self, ip: IpAddr, port: int, proto: str, pattern: str | None) -> bool:
        if not (self.proto == PROTO_ANY or proto == PROTO_ANY or self.proto == proto):
            return False
        if not (self.port == PORT_ANY or port == PORT_ANY or self.port == port):
            return False
        if ip.version != self.net.version or ip not in self.net:
            return False
        if self.pattern is None or pattern is None:
            return True
        return fnmatch_period(self.pattern, pattern)


def _int(value: DbValue) -> int | None:
    if value is None or isinstance(value, bytes):
        return None
    try:
        return int(value)
    except ValueError:
        return None


COLUMNS = ("ip", "grp", "mask", "port", "proto", "pattern", "context_info", "id")


def entry_from_row(row: Sequence[DbValue]) -> AddressEntry | None:
    """One row (in COLUMNS order) as an entry; None (logged) for a row OpenSIPS skips too."""
    ip_text, grp, mask, port, proto_text, pattern, info, row_id = row
    ip = parse_ip(_text(ip_text) or "")
    group, bits, port_no = _int(grp), _int(mask), _int(port)
    if ip is None or group is None or group < 0 or bits is None or bits < 0 or port_no is None:
        log.debug("permissions: ignoring address row %s (ip %r, grp %r, mask %r, port %r)",
                  row_id, ip_text, grp, mask, port)
        return None
    if bits > ip.max_prefixlen:
        log.debug("permissions: netmask %d too large for %s, ignoring row %s", bits, ip, row_id)
        return None
    proto_name = _text(proto_text) or ""
    if proto_name.lower() == "none":
        return None
    proto = parse_proto(proto_name)
    if proto is None:
        log.debug("permissions: unknown protocol %r, ignoring row %s", proto_name, row_id)
        return None
    net = ipaddress.ip_network(f"{ip}/{bits}", strict=False)
    return AddressEntry(group, net, port_no, proto, _text(pattern), _text(info))


class _GroupIndex:
    """One group's entries as OpenSIPS files them: by exact address (its hash table), and the
    subnets by prefix length (its prefix tree), each list newest row first."""

    __slots__ = ("by_address", "prefixes")

    def __init__(self, entries: list[AddressEntry]) -> None:
        self.by_address: dict[IpAddr, list[AddressEntry]] = {}
        # (version, prefix length) -> network bits (the address shifted right) -> entries
        by_prefix: dict[tuple[int, int], dict[int, list[AddressEntry]]] = {}
        for entry in reversed(entries):
            net = entry.net
            self.by_address.setdefault(net.network_address, []).append(entry)
            if net.prefixlen not in (32, 128):
                bits = int(net.network_address) >> (net.max_prefixlen - net.prefixlen)
                by_prefix.setdefault((net.version, net.prefixlen), {}).setdefault(bits, []).append(entry)
        # shortest prefix first, as the tree is walked from its root
        self.prefixes = sorted(by_prefix.items(), key=lambda item: item[0][1])

    def candidates(self, ip: IpAddr) -> Iterable[AddressEntry]:
        yield from self.by_address.get(ip, ())
        value = int(ip)
        for (version, prefixlen), nets in self.prefixes:
            if version == ip.version:
                yield from nets.get(value >> (ip.max_prefixlen - prefixlen), ())


class AddressTable:
    """The entries by group, groups in ascending id as OpenSIPS walks them.

    Within a group OpenSIPS looks first at the entries filed under the asked address itself
    (newest row first), then through its subnet tree from the shortest prefix down (newest first
    on one prefix); entries with a mask of 32 or 128 are not in the tree. `_GroupIndex` keeps
    that order so the context_info returned is the same entry's.
    """

    __slots__ = ("groups", "indexes")

    def __init__(self, entries: Iterable[AddressEntry] = ()) -> None:
        by_group: dict[int, list[AddressEntry]] = {}
        for entry in entries:
            by_group.setdefault(entry.group, []).append(entry)
        self.groups = {g: by_group[g] for g in sorted(by_group)}
        self.indexes = {g: _GroupIndex(e) for g, e in self.groups.items()}

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[DbValue]]) -> AddressTable:
        return cls(e for e in (entry_from_row(r) for r in rows) if e is not None)

    def entries(self) -> Iterable[AddressEntry]:
        for group in self.groups.values():
            yield from group

    def _match_in(self, group: int, ip: IpAddr, port: int, proto: str,
                  pattern: str | None) -> AddressEntry | None:
        for entry in self.indexes[group].candidates(ip):
            if entry.matches(ip, port, proto, pattern):
                return entry
        return None

    def match(self, group: int, ip: IpAddr, port: int, proto: str,
              pattern: str | None) -> AddressEntry | int:
        """The entry matched, or OpenSIPS's failure code: -2 the group does not exist, -1 no
        match."""
        if group != GROUP_ANY:
            if group not in self.indexes:
                return -2
            found = self._match_in(group, ip, port, proto, pattern)
            return found if found is not None else -1
        for each in self.indexes:
            found = self._match_in(each, ip, port, proto, pattern)
            if found is not None:
                return found
        return -1

    def find_group(self, ip: IpAddr, port: int) -> int | None:
        """The first group holding an entry for this source (any protocol, pattern ignored)."""
        for group in self.indexes:
            if self._match_in(group, ip, port, PROTO_ANY, None) is not None:
                return group
        return None
