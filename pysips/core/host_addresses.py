"""The IP addresses a destination's host stands for, as the routing modules (dispatcher,
load_balancer, drouting) learn them when they load their tables: an IP literal is itself, a name
is looked up once, at load (as OpenSIPS does), never on the SIP path."""

from __future__ import annotations

import ipaddress
import socket

MAX_ADDRESSES = 32  # OpenSIPS keeps at most this many IPs per destination


def host_addresses(host: str) -> list[str]:
    """The host's IPs in resolver order, each once; [] when the name does not resolve."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
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
