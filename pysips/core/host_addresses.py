"""The IP addresses a destination's host stands for, as the routing modules (dispatcher,
load_balancer, drouting) learn them when they load their tables: an IP literal is itself, a name
is looked up once, at load (as OpenSIPS does), never on the SIP path."""

from __future__ import annotations

import ipaddress
import socket

MAX_ADDRESSES = 32  # OpenSIPS keeps at most this many IPs per destination


def canonical_ip(text: str) -> str | None:
    """An IP written any way ("[::1]", " 10.0.0.1", "0:0::1") in its one canonical text, so that
    script arguments compare equal to loaded addresses; None when it is not an IP."""
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        return None


def host_addresses(host: str) -> list[str]:
    """The host's IPs in resolver order, each once; [] when the name does not resolve."""
    literal = canonical_ip(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError:
        return []
    found: list[str] = []
    for info in infos:
        ip = str(info[4][0])
        if ip not in found:
            found.append(ip)
    return found[:MAX_ADDRESSES]
