"""Docker addresses to loopback addresses.

Each test gets its own /24 inside 127.0.0.0/8 (Linux delivers all of 127/8 to `lo`, so any of these
can be bound without configuration). Every address of the test's docker networks (from the defines,
the scenario and the OpenSIPS script) gets one loopback address; ports stay as they are. A block
with anything already bound on it is skipped, so parallel runs and other software keep out of the way.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

IPV4_LITERAL = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?!\d|\.\d)")
PROC_NET = Path("/proc/net")
# A test's /24 is cut in four /26, one per docker network (in declaration order), so that addresses
# of one network share a longer prefix with each other than with the others' (the kernel cannot tell
# networks apart on `lo`; a server picking its socket by address prefix still can).
NETWORKS_PER_BLOCK = 4
NETWORK_SIZE = 64
FRESH_FROM = 40  # docker addresses with a last byte below this keep it; the others take spare hosts
_TCP_LISTEN = "0A"


def ipv4_literals(text: str) -> set[str]:
    found: set[str] = set()
    for match in IPV4_LITERAL.finditer(text):
        try:
            ipaddress.IPv4Address(match.group(1))
        except ValueError:
            continue
        found.add(match.group(1))
    return found


def strings_in(value: Any) -> Iterable[str]:
    """Every string (and number rendered as text) inside a YAML value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings_in(v)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif value is not None:
        yield str(value)


def _network_rank(address: str, subnets: list[ipaddress.IPv4Network]) -> int | None:
    """Which docker network holds `address` (0 = the first one declared), None when it is not mapped."""
    ip = ipaddress.IPv4Address(address)
    if (
        ip.is_loopback
        or ip.is_unspecified
        or ip.is_multicast
        or ip == ipaddress.IPv4Address("255.255.255.255")
    ):
        return None
    if not subnets:
        return 0
    for rank, net in enumerate(subnets):
        if ip in net and ip not in (net.network_address, net.broadcast_address):
            return rank
    return None


def docker_addresses(texts: Iterable[str], subnets: Iterable[str]) -> list[tuple[str, int]]:
    """The addresses to map with their network's rank: literals found in `texts` that lie in the
    docker subnets (all, if none are declared), ordered by network then address."""
    nets = []
    for subnet in subnets:
        try:
            nets.append(ipaddress.IPv4Network(subnet, strict=False))
        except ValueError:
            continue
    ranked: dict[str, int] = {}
    for text in texts:
        for address in ipv4_literals(text):
            rank = _network_rank(address, nets)
            if rank is not None:
                ranked[address] = min(rank, NETWORKS_PER_BLOCK - 1)
    return sorted(ranked.items(), key=lambda item: (item[1], ipaddress.IPv4Address(item[0])))


def _hex_to_ipv4(hex_addr: str) -> str:
    # /proc/net/* prints the address as the host-order 32-bit word of a network-order value
    raw = int(hex_addr, 16)
    return str(ipaddress.IPv4Address(raw.to_bytes(4, "little")))


def bound_sockets(proc_net: Path = PROC_NET) -> set[tuple[str, str, int]]:
    """(proto, address, port) of every IPv4 UDP socket and listening TCP socket on this host."""
    result: set[tuple[str, str, int]] = set()
    for proto in ("udp", "tcp"):
        try:
            lines = (proc_net / proto).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4:
                continue
            if proto == "tcp" and fields[3] != _TCP_LISTEN:
                continue
            addr, _, port = fields[1].partition(":")
            try:
                result.add((proto, _hex_to_ipv4(addr), int(port, 16)))
            except ValueError:
                continue
    return result


class AddressMap:
    """Rewrites docker addresses into the test's loopback block, in text and in YAML values."""

    __slots__ = ("_pattern", "block", "mapping")

    def __init__(self, block: str, mapping: dict[str, str]) -> None:
        self.block = block  # "127.A.B"
        self.mapping = dict(mapping)
        self._pattern = self._compile()

    def _compile(self) -> re.Pattern[str] | None:
        if not self.mapping:
            return None
        alternatives = "|".join(re.escape(a) for a in sorted(self.mapping, key=len, reverse=True))
        return re.compile(rf"(?<![\d.])(?:{alternatives})(?!\d|\.\d)")

    def text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.mapping[m.group(0)], text)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def fresh(self, used: set[str], network: int = 0) -> str:
        """An address of the block for a task that names none, on docker network number `network`:
        the lowest host free in that network's part, as docker's address allocator hands out, so
        that a task lands in the small subnets a test's tables allow (permissions' 192.168.52.0/27
        for the UAC of permissions/01.check-address)."""
        taken = set(self.mapping.values()) | used
        base = NETWORK_SIZE * min(network, NETWORKS_PER_BLOCK - 1)
        order = [base + h for h in range(1, NETWORK_SIZE - 1)] + list(range(1, 255))
        for host in order:
            candidate = f"{self.block}.{host}"
            if candidate not in taken:
                return candidate
        raise RuntimeError(f"no free address left in {self.block}.0/24")

    def add_networks(self, subnets: Iterable[str]) -> None:
        """Maps each docker network's own address (192.168.52.0) to the start of its part of the
        block, so that a table naming the network with a mask (permissions' `address` rows
        192.168.52.0/27) covers the same tasks here."""
        for rank, subnet in enumerate(subnets):
            try:
                net = ipaddress.IPv4Network(subnet, strict=False)
            except ValueError:
                continue
            base = NETWORK_SIZE * min(rank, NETWORKS_PER_BLOCK - 1)
            self.mapping.setdefault(str(net.network_address), f"{self.block}.{base}")
        self._pattern = self._compile()

    def addresses(self) -> list[str]:
        return sorted(set(self.mapping.values()), key=ipaddress.IPv4Address)


def plan(addresses: list[tuple[str, int]], block: str) -> AddressMap:
    """Map each docker address into its network's part of `block`, keeping the last byte when it fits."""
    mapping: dict[str, str] = {}
    taken: set[int] = set()
    pending: list[tuple[str, int]] = []
    for address, rank in addresses:
        base = NETWORK_SIZE * rank
        last = int(address.rsplit(".", 1)[1])
        host = base + last
        if 1 <= last < FRESH_FROM and host not in taken:
            taken.add(host)
            mapping[address] = f"{block}.{host}"
        else:
            pending.append((address, rank))
    for address, rank in pending:
        base = NETWORK_SIZE * rank
        spare = [h for h in range(base + 1, base + FRESH_FROM) if h not in taken]
        spare += [h for h in range(1, 255) if h not in taken]
        if not spare:
            raise RuntimeError("too many docker addresses in one test")
        taken.add(spare[0])
        mapping[address] = f"{block}.{spare[0]}"
    return AddressMap(block, mapping)


def choose_block(index: int, pid: int | None = None, bound: set[tuple[str, str, int]] | None = None) -> str:
    """A 127.A.B block for test number `index` of this run with nothing bound on it.

    A comes from the process id so that two runs at the same time land in different blocks."""
    pid = os.getpid() if pid is None else pid
    busy = {addr.rsplit(".", 1)[0] for _, addr, _ in (bound_sockets() if bound is None else bound)}
    first = 64 + pid % 160
    for step in range(256 * 160):
        a = 64 + (first - 64 + (index + step) // 250) % 160
        b = 1 + (index + step) % 250
        block = f"127.{a}.{b}"
        if block not in busy:
            return block
    raise RuntimeError("no free loopback block")
