"""The addresses dispatcher, load_balancer and drouting give a destination's host at load."""

from __future__ import annotations

from pysips.core.host_addresses import canonical_ip, host_addresses


def test_a_literal_is_itself_normalised() -> None:
    assert host_addresses("10.0.0.5") == ["10.0.0.5"]
    assert host_addresses("::0:1") == ["::1"]


def test_a_name_is_looked_up_once_per_address() -> None:
    found = host_addresses("localhost")  # /etc/hosts: one entry per family, each once
    assert "127.0.0.1" in found and len(found) == len(set(found))


def test_a_name_that_does_not_resolve_has_none() -> None:
    assert host_addresses("no-such-host.invalid") == []


def test_canonical_ip_drops_brackets_and_blanks() -> None:
    assert canonical_ip(" [0:0::1] ") == "::1"
    assert canonical_ip("10.0.0.1") == "10.0.0.1"
    assert canonical_ip("gw.example.com") is None
