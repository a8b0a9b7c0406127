"""Address tests of nat_uac_test(): private ranges and where a URI's host:port sits in its text."""

from __future__ import annotations

import ipaddress

from pysips.sip.errors import ParseError
from pysips.sip.uri import parse_uri

_PRIVATE = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918
    "100.64.0.0/10",  # RFC 6598 shared address space
))
_CGN = (ipaddress.ip_network("192.0.0.0/29"),)  # RFC 6333 (DS-Lite), with carrier-grade-nat


def is_private(host: str, carrier_grade: bool = False) -> bool:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if ip.version != 4:
        return False
    nets = _PRIVATE + _CGN if carrier_grade else _PRIVATE
    return any(ip in net for net in nets)


def same_ip(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a.strip("[]")) == ipaddress.ip_address(b.strip("[]"))
    except ValueError:
        return a.strip("[]").lower() == b.strip("[]").lower()


def hostport_span(uri: str) -> tuple[int, int] | None:
    """Offsets of host[:port] inside a SIP URI's text; None when it does not parse."""
    parsed = parse_uri(uri)
    if isinstance(parsed, ParseError) or parsed.scheme == "tel":
        return None
    start = uri.find(":") + 1
    at = uri.find("@", start)
    if parsed.user is not None and at >= 0:
        start = at + 1
    end = start + len(parsed.host)
    if uri[start:end].lower() != parsed.host.lower():
        return None
    if end < len(uri) and uri[end] == ":":
        end += 1
        while end < len(uri) and uri[end].isdigit():
            end += 1
    return start, end


def host_and_port(uri: str) -> tuple[str, int] | None:
    """Host (no brackets) and port (5060 default, 5061 for sips) of a URI."""
    parsed = parse_uri(uri)
    if isinstance(parsed, ParseError) or parsed.scheme == "tel":
        return None
    default = 5061 if parsed.scheme == "sips" else 5060
    return parsed.host.strip("[]"), parsed.port or default
