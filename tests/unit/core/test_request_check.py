"""The engine answers a request whose R-URI, From, To or Vias do not parse statelessly (400/416)
instead of running the script on it (RFC 4475 messages from the shared corpus)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core_support import Net, make_net, request

from pysips.script.context import MsgContext

TORTURE = Path("/work/shared/corpus/torture")


def _net() -> tuple[list[MsgContext], Net]:
    routed: list[MsgContext] = []

    def route(ctx: MsgContext) -> int:
        routed.append(ctx)
        return 1

    return routed, make_net(route)


@pytest.mark.parametrize(("name", "status"), [
    ("quotbal", 400), ("ltgtruri", 400), ("escruri", 400), ("ipv6-bad", 400), ("unkscm", 416),
])
def test_broken_torture_requests_are_answered_not_routed(name: str, status: int) -> None:
    path = TORTURE / f"{name}.sip"
    assert path.exists(), f"the shared torture corpus is missing: {path}"
    routed, net = _net()
    out = net.deliver(path.read_bytes())
    assert routed == []
    assert len(out) == 1 and out[0].first_line.startswith(f"SIP/2.0 {status} ")


def test_a_broken_from_is_answered_and_a_good_request_is_routed() -> None:
    routed, net = _net()
    good_from = "From: <sip:alice@example.com>;tag=a1"
    bad = request().replace(good_from, 'From: "Alice <sip:alice@example.com>;tag=a1')
    out = net.deliver(bad)
    assert [s.first_line for s in out] == ["SIP/2.0 400 Bad Request"] and routed == []
    assert net.deliver(request(branch="z9hG4bKok")) == [] and len(routed) == 1


def test_a_broken_ack_is_dropped_silently() -> None:
    routed, net = _net()
    bad = request("ACK").replace("To: <sip:bob@example.com>", 'To: "Bob <sip:bob@example.com>')
    assert net.deliver(bad) == [] and routed == []
