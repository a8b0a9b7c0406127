"""Via received/rport rules, destination parsing, listeners from the script."""

from __future__ import annotations

import re

import pytest

from pysips.core.forward import HostPort, parse_phostport
from pysips.core.listeners import listeners_from, script_aliases
from pysips.core.server import StartupError, usable_listeners
from pysips.core.via_fix import fixed_via_text
from pysips.script import ast
from pysips.sip.receive import ReceiveInfo
from pysips.sip.via import Via, parse_via

RCV = ReceiveInfo("udp", "127.0.0.1", 5060, "203.0.113.5", 40000)


def via(text: str) -> Via:
    parsed = parse_via(text)
    assert isinstance(parsed, Via)
    return parsed


# OpenSIPS's placement: a new received= right after host:port; rport (even one with a value)
# overwritten in place; a forced rport the Via lacks goes in front of received= in a request
@pytest.mark.parametrize(
    ("text", "force", "expected"),
    [
        ("SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK1", False, None),
        ("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", False,
         "SIP/2.0/UDP 10.0.0.1:5060;received=203.0.113.5;branch=z9hG4bK1"),
        ("SIP/2.0/UDP 203.0.113.5:5060;rport;branch=z9hG4bK1", False,
         "SIP/2.0/UDP 203.0.113.5:5060;received=203.0.113.5;rport=40000;branch=z9hG4bK1"),
        ("SIP/2.0/UDP host.example:5060;branch=z9hG4bK1", True,
         "SIP/2.0/UDP host.example:5060;rport=40000;received=203.0.113.5;branch=z9hG4bK1"),
        ("SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport=1234", False,
         "SIP/2.0/UDP h:5060;received=203.0.113.5;branch=z9hG4bK1;rport=40000"),
        ("SIP/2.0/UDP h:5060;branch=z9hG4bK1;received=10.1.1.1", False,
         "SIP/2.0/UDP h:5060;branch=z9hG4bK1;received=203.0.113.5"),
    ],
)
def test_fixed_via_text(text: str, force: bool, expected: str | None) -> None:
    assert fixed_via_text(via(text), RCV, force) == expected


def test_forced_rport_follows_received_in_a_local_reply() -> None:
    assert fixed_via_text(via("SIP/2.0/UDP h:5060;branch=z9hG4bK1"), RCV, True, reply=True) == \
        "SIP/2.0/UDP h:5060;received=203.0.113.5;rport=40000;branch=z9hG4bK1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("udp:1.2.3.4:5060", HostPort("udp", "1.2.3.4", 5060)),
        ("1.2.3.4", HostPort(None, "1.2.3.4", None)),
        ("tls:pbx.example.com", HostPort("tls", "pbx.example.com", None)),
        ("[2001:db8::1]:5070", HostPort(None, "2001:db8::1", 5070)),
        ("udp:[::1]:5070", HostPort("udp", "::1", 5070)),
        ("host:99999", None),
        ("host:abc", None),
        ("", None),
    ],
)
def test_parse_phostport(text: str, expected: HostPort | None) -> None:
    assert parse_phostport(text) == expected


def spec(proto: str | None, host: str, port: int | None, **kw: object) -> ast.SocketSpec:
    return ast.SocketSpec(proto, host, port, raw=f"{proto}:{host}:{port}", **kw)  # type: ignore[arg-type]


def test_listeners_apply_defaults_ranges_and_advertised() -> None:
    found = listeners_from([
        spec("udp", "127.0.0.1", None),
        spec("udp", "127.0.0.1", 6000, more_ports=(6001,)),
        spec(None, "::1", 5070, advertised_host="sip.example.com", advertised_port=5080),
    ], advertised_address=None)
    socks = [lst.socket for lst in found]
    assert [(s.proto, s.ip, s.port) for s in socks] == [
        ("udp", "127.0.0.1", 5060), ("udp", "127.0.0.1", 6000), ("udp", "127.0.0.1", 6001),
        ("udp", "::1", 5070)]
    assert (socks[3].host_for_headers, socks[3].port_for_headers) == ("sip.example.com", 5080)


def test_global_advertised_address_applies_to_sockets_without_their_own() -> None:
    (lst,) = listeners_from([spec("udp", "127.0.0.1", 5060)], advertised_address="1.2.3.4",
                            advertised_port=7000)
    assert (lst.socket.host_for_headers, lst.socket.port_for_headers) == ("1.2.3.4", 7000)


def test_unimplemented_listener_is_a_startup_error_unless_skipped() -> None:
    found = listeners_from([spec("sctp", "127.0.0.1", 8080), spec("udp", "127.0.0.1", 5060)])
    with pytest.raises(StartupError, match=re.escape("sctp:127.0.0.1:8080")):
        usable_listeners(found, skip_unimplemented=False)
    assert [lst.socket.proto for lst in usable_listeners(found, skip_unimplemented=True)] == ["udp"]
    with pytest.raises(StartupError, match="no usable listener"):
        usable_listeners(found[:1], skip_unimplemented=True)


def test_aliases_from_core_params() -> None:
    core = {"alias": [spec(None, "example.com", 5060), "other.org"]}
    assert script_aliases(core) == [("example.com", 5060), ("other.org", None)]
