"""RFC 3263 resolution with injected lookups, and its cache."""

from __future__ import annotations

from pysips.core.api import Destination
from pysips.core.resolve import Naptr, Resolver, Srv

NAPTRS = {
    "example.com": [
        Naptr(20, 10, "SIP+D2U", "_sip._udp.example.com"),
        Naptr(10, 10, "SIP+D2T", "_sip._tcp.example.com"),
        Naptr(5, 10, "SIP+D2X", "_sip._x.example.com"),  # unknown service: ignored
    ],
}
SRVS = {
    "_sip._udp.example.com": [Srv(20, 0, 5070, "b.example.com."), Srv(10, 0, 5060, "a.example.com.")],
    "_sip._tcp.example.com": [Srv(10, 0, 5080, "t.example.com.")],
    "_sip._udp.srvonly.org": [Srv(0, 0, 5062, "host.srvonly.org")],
}
ADDRS = {
    "a.example.com": ["192.0.2.1"],
    "b.example.com": ["192.0.2.2", "2001:db8::2"],
    "t.example.com": ["192.0.2.3"],
    "host.srvonly.org": ["192.0.2.9"],
    "plain.net": ["198.51.100.7"],
}


class Counting:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def naptr(self, name: str) -> tuple[list[Naptr], float]:
        self.calls.append(("NAPTR", name))
        return NAPTRS.get(name, []), 300.0

    def srv(self, name: str) -> tuple[list[Srv], float]:
        self.calls.append(("SRV", name))
        return SRVS.get(name, []), 300.0

    def addresses(self, name: str) -> tuple[list[str], float]:
        self.calls.append(("A", name))
        return ADDRS.get(name, []), 60.0


def resolver(protos: set[str], clock: list[float] | None = None) -> tuple[Resolver, Counting]:
    dns = Counting()
    now = clock if clock is not None else [0.0]
    return Resolver(protos, dns.naptr, dns.srv, dns.addresses, clock=lambda: now[0]), dns


def test_ip_literals_need_no_lookup() -> None:
    r, dns = resolver({"udp"})
    assert r.resolve("sip:bob@192.0.2.5") == [Destination("udp", "192.0.2.5", 5060)]
    assert r.resolve("sips:bob@[2001:db8::1]") == [Destination("tls", "2001:db8::1", 5061)]
    assert r.resolve("sip:192.0.2.5:5099;transport=TCP") == [Destination("tcp", "192.0.2.5", 5099)]
    assert dns.calls == []


def test_naptr_order_then_srv_priority_only_for_our_transports() -> None:
    r, _ = resolver({"udp"})  # no tcp socket: the better-ordered D2T record is skipped
    assert r.resolve("sip:example.com") == [
        Destination("udp", "192.0.2.1", 5060),
        Destination("udp", "192.0.2.2", 5070),
        Destination("udp", "2001:db8::2", 5070),
    ]
    r, _ = resolver({"udp", "tcp"})
    assert r.resolve("sip:example.com")[0] == Destination("tcp", "192.0.2.3", 5080)


def test_srv_without_naptr_and_plain_a_record() -> None:
    r, _ = resolver({"udp"})
    assert r.resolve("sip:srvonly.org") == [Destination("udp", "192.0.2.9", 5062)]
    assert r.resolve("sip:plain.net") == [Destination("udp", "198.51.100.7", 5060)]


def test_explicit_port_means_address_records_only() -> None:
    r, dns = resolver({"udp"})
    assert r.resolve("sip:a.example.com:5099") == [Destination("udp", "192.0.2.1", 5099)]
    assert dns.calls == [("A", "a.example.com")]


def test_transport_parameter_means_srv_for_it() -> None:
    r, dns = resolver({"udp", "tcp"})
    assert r.resolve("sip:example.com;transport=tcp") == [Destination("tcp", "192.0.2.3", 5080)]
    assert ("NAPTR", "example.com") not in dns.calls


def test_unresolvable_names_and_invalid_hosts_give_nothing() -> None:
    r, dns = resolver({"udp"})
    assert r.resolve("sip:nowhere.example") == []
    assert r.resolve("sip:abc@df7jal23ls0d.invalid;transport=ws") == []
    assert all("invalid" not in name for _, name in dns.calls)
    assert r.resolve("not a uri") == []


def test_answers_are_cached_until_they_expire() -> None:
    clock = [0.0]
    r, dns = resolver({"udp"}, clock)
    r.resolve("sip:plain.net")
    count = len(dns.calls)
    r.resolve("sip:plain.net")
    assert len(dns.calls) == count
    clock[0] = 61.0
    r.resolve("sip:plain.net")
    assert len(dns.calls) > count


def test_failures_are_cached_briefly() -> None:
    clock = [0.0]
    r, dns = resolver({"udp"}, clock)
    r.resolve("sip:nowhere.example")
    count = len(dns.calls)
    r.resolve("sip:nowhere.example")
    assert len(dns.calls) == count
    clock[0] = 11.0
    r.resolve("sip:nowhere.example")
    assert len(dns.calls) > count


def test_naptr_and_ipv6_can_be_switched_off() -> None:
    r, dns = resolver({"udp", "tcp"})
    r.try_naptr = False
    r.try_ipv6 = False
    assert r.resolve("sip:example.com") == [Destination("udp", "192.0.2.1", 5060),
                                             Destination("udp", "192.0.2.2", 5070)]
    assert all(kind != "NAPTR" for kind, _ in dns.calls)
