"""The addresses dispatcher, load_balancer and drouting give a destination's host at load."""

from __future__ import annotations

from pysips.core.host_addresses import host_addresses


def test_a_literal_is_itself_normalised() -> None:
    assert host_addresses("10.0.0.5") == ["10.0.0.5"]
    assert host_addresses("::0:1") == ["::1"]


def test_a_name_is_looked_up_once_per_address() -> None:
    found = host_addresses("localhost")  # /etc/hosts: one entry per family, each once
    assert "127.0.0.1" in found and len(found) == len(set(found))


def test_a_name_that_does_not_resolve_has_none() -> None:
    assert host_addresses("no-such-host.invalid") == []
