"""Daemon sets: the `rtpengine_sock` parameter, weights, selection by Call-ID, disabled daemons.

`rtpengine_sock` values look like `udp:host:port`, several separated by spaces, each optionally
weighted (`udp:host:port=3`), optionally prefixed by a set id (`2 == udp:a:1 udp:b:2`); without
an id the daemons join set 0, the one used unless `rtpengine_use_set()` or `setid_avp` picks
another. A Call-ID always hashes to the same daemon while the set's health does not change, so
offer, answer and delete of a call meet the same daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pysips.script.errors import FixupError

from .ng_client import Endpoint

DEFAULT_SET = 0


@dataclass(slots=True)
class Node:
    url: str  # as written, without the weight: "udp:127.0.0.1:22222"
    host: str
    port: int
    weight: int
    ipv6: bool
    index: int = 0  # unique across sets: the transport's socket key
    endpoint: Endpoint | None = None
    disabled: bool = False
    recheck_at: float = 0.0  # when a disabled node may be probed again

    def __hash__(self) -> int:
        return self.index


@dataclass(slots=True)
class NodeSet:
    id: int
    nodes: list[Node] = field(default_factory=list)

    def find(self, url: str) -> Node | None:
        for node in self.nodes:
            if node.url == url:
                return node
        return None


def parse_node(text: str) -> Node:
    """`udp:host:port[=weight]`, `udp6:host:port`, `udp:[v6]:port`. Raises FixupError."""
    url, _, weight_text = text.partition("=")
    weight = 1
    if weight_text:
        digits = weight_text[: len(weight_text) - len(weight_text.lstrip("0123456789"))]
        weight = int(digits) if digits else 0
    lower = url.lower()
    if lower.startswith("udp6:"):
        rest, ipv6 = url[5:], True
    elif lower.startswith("udp:"):
        rest, ipv6 = url[4:], False
    elif lower.startswith("unix:") or ":" not in url:
        raise FixupError(f"rtpengine socket {url!r}: UNIX sockets are not supported by pysips, use udp:")
    else:
        raise FixupError(f"rtpengine socket {url!r}: unknown protocol (udp: or udp6:)")
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise FixupError(f"rtpengine socket {url!r}: unterminated IPv6 address")
        host, port_text, ipv6 = rest[1:end], rest[end + 1 :].lstrip(":"), True
    else:
        host, _, port_text = rest.rpartition(":")
        if not host:
            host, port_text = rest, ""
    if not port_text:
        port_text = "22222"  # the daemon's default NG port, as OpenSIPS assumes
    if not port_text.isdigit() or not 0 < int(port_text) < 65536 or not host:
        raise FixupError(f"rtpengine socket {url!r}: bad host or port")
    return Node(url, host, int(port_text), weight, ipv6)


def parse_sock_param(value: str) -> tuple[int, list[Node]]:
    """One `rtpengine_sock` value: (set id, daemons). Raises FixupError."""
    text = value.strip()
    set_id = DEFAULT_SET
    if "==" in text:
        head, _, text = text.partition("==")
        head = head.strip()
        if not head.isdigit():
            raise FixupError(f"invalid rtpengine set id {head!r}")
        set_id = int(head)
    nodes = [parse_node(item) for item in text.split()]
    if not nodes:
        raise FixupError("empty rtpengine list")
    return set_id, nodes


def check_sock_param(values: object) -> object:
    """ParamExport check: validate every value when the script loads."""
    items = values if isinstance(values, list) else [values]
    for item in items:
        if str(item).strip() and str(item).strip().upper() != "NONE":
            parse_sock_param(str(item))
    return values


def build_sets(values: Iterable[str]) -> dict[int, NodeSet]:
    sets: dict[int, NodeSet] = {}
    index = 0
    for value in values:
        if not value.strip() or value.strip().upper() == "NONE":
            continue
        set_id, nodes = parse_sock_param(value)
        nodeset = sets.setdefault(set_id, NodeSet(set_id))
        for node in nodes:
            if nodeset.find(node.url) is not None:
                continue  # the same daemon twice in a set counts once
            node.index = index
            index += 1
            nodeset.nodes.append(node)
    return sets


Probe = Callable[[Node], bool]
Changed = Callable[[Node], None]  # a daemon's disabled state or recheck time changed here


def select_node(
    nodeset: NodeSet,
    call_id: str,
    skip: set[int],
    now: float,
    probe: Probe | None = None,
    quarantine: float = 60.0,
    changed: Changed | None = None,
) -> Node | None:
    """The daemon for this Call-ID among the usable ones, or None.

    A disabled daemon whose quarantine is over is probed (`probe`, a ping) before it counts again.
    The spread is OpenSIPS's: the byte sum of the Call-ID modulo the total weight picks a slot;
    when that slot's daemon is out, the sum is spread over the remaining daemons' weights.
    """
    for node in nodeset.nodes:
        if node.disabled and now >= node.recheck_at and node.index not in skip and probe is not None:
            if probe(node):
                node.disabled = False
            else:
                node.recheck_at = now + quarantine
            if changed is not None:
                changed(node)

    def usable(node: Node) -> bool:
        return not node.disabled and node.index not in skip

    nodes = nodeset.nodes
    if len(nodes) == 1:
        return nodes[0] if usable(nodes[0]) else None
    total = sum(n.weight for n in nodes)
    alive = [n for n in nodes if usable(n)]
    if not alive:
        return None
    digest = sum(call_id.encode("utf-8", "surrogateescape")) & 0xFF
    if total > 0:
        cut = digest % total
        for node in nodes:
            if cut < node.weight:
                if usable(node):
                    return node
                break
            cut -= node.weight
    alive_total = sum(n.weight for n in alive)
    if alive_total <= 0:
        return alive[0]
    cut = digest % alive_total
    for node in alive:
        if cut < node.weight:
            return node
        cut -= node.weight
    return alive[-1]

