"""RFC 3263 failover in tm: a 503 received, or a timeout with no reply at all, moves the request to
the next DNS target of the branch's destination, as OpenSIPS's tm does; anything else does not."""

from __future__ import annotations

from typing import Any

from test_tm_fake import ALICE, BOB, CALLER, Rig, Script, Sent, fn, invite, route
from test_tm_proxy import lines, proxy_script, start_call, to

from pysips.core.resolve import Naptr, Resolver, Srv
from pysips.script.ast import RouteKind
from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage

RURI = "sip:bob@example.com"
# as a DNS server would answer: SRV _sip._udp to a.example.com (10.0.0.3, priority 10), then
# b.example.com (10.0.0.4, priority 20), listed in the wrong order
ZONE_SRV = {
    "_sip._udp.example.com": [Srv(20, 10, 5060, "b.example.com."), Srv(10, 10, 5060, "a.example.com.")],
}
ZONE_A = {"a.example.com": ["10.0.0.3"], "b.example.com": ["10.0.0.4"]}


def _naptr(name: str) -> tuple[list[Naptr], float]:
    return [], 60.0


def _srv(name: str) -> tuple[list[Srv], float]:
    return list(ZONE_SRV.get(name, [])), 60.0


def _addresses(name: str) -> tuple[list[str], float]:
    return list(ZONE_A.get(name, [])), 60.0


def failover_rig(script: Script, params: dict[str, Any] | None = None, dns_failover: bool = True) -> Rig:
    rig = Rig(script, params)
    rig.engine.resolver = Resolver({"udp"}, naptr=_naptr, srv=_srv, addresses=_addresses)
    rig.tm.use_dns_failover = dns_failover
    return rig


def call(rig: Rig) -> list[Sent]:
    _, sent = start_call(rig, invite(ruri=RURI))
    return sent


def test_a_503_moves_the_call_to_the_next_srv_target() -> None:
    rig = failover_rig(proxy_script())
    (first,) = to(call(rig), ALICE)
    rig.receive(rig.answer(first, 503, "Service Unavailable"), ALICE)
    sent = rig.take()
    assert lines(to(sent, CALLER)) == []  # the 503 is not relayed: a new branch is tried
    assert [s.first_line for s in to(sent, ALICE)] == ["ACK sip:bob@example.com SIP/2.0"]
    (second,) = to(sent, BOB)
    assert second.first_line == "INVITE sip:bob@example.com SIP/2.0"
    branch = second.msg.vias[0].branch
    assert branch is not None and branch.endswith(".1")
    assert len(second.msg.vias) == 2  # ours (new branch) and the caller's
    rig.receive(rig.answer(second, 200, "OK", to_tag="b"), BOB)
    (ok,) = to(rig.take(), CALLER)
    assert ok.first_line == "SIP/2.0 200 OK" and ok.msg.to.tag == "b"


def test_a_timeout_without_any_reply_moves_the_call_too() -> None:
    rig = failover_rig(proxy_script(), {"fr_timeout": 2})
    call(rig)
    rig.advance(2.1)
    sent = rig.take()
    assert lines(to(sent, CALLER)) == []
    assert [s.first_line for s in to(sent, BOB)] == ["INVITE sip:bob@example.com SIP/2.0"]


def test_no_failover_after_a_provisional_or_on_other_codes() -> None:
    rig = failover_rig(proxy_script(), {"fr_inv_timeout": 3})
    (first,) = to(call(rig), ALICE)
    rig.receive(rig.answer(first, 180, "Ringing"), ALICE)
    rig.take()
    rig.advance(3.1)
    sent = rig.take()
    assert to(sent, BOB) == []
    assert lines(to(sent, CALLER)) == ["SIP/2.0 408 Request Timeout"]

    rig = failover_rig(proxy_script())
    (first,) = to(call(rig), ALICE)
    rig.receive(rig.answer(first, 486, "Busy Here"), ALICE)
    sent = rig.take()
    assert to(sent, BOB) == []
    assert lines(to(sent, CALLER)) == ["SIP/2.0 486 Busy Here"]


def test_the_no_dns_failover_flag_and_the_core_param_turn_it_off() -> None:
    def relay_without_failover(ctx: MsgContext) -> int:
        msg = ctx.msg
        assert isinstance(msg, SipMessage)
        return fn("t_relay")(ctx, 0x04)

    for rig in (failover_rig(relay_without_failover), failover_rig(proxy_script(), dns_failover=False)):
        (first,) = to(call(rig), ALICE)
        rig.receive(rig.answer(first, 503, "Service Unavailable"), ALICE)
        sent = rig.take()
        assert to(sent, BOB) == []
        assert lines(to(sent, CALLER)) == ["SIP/2.0 500 Service Unavailable"]  # 503 goes up as 500 (OpenSIPS)


def test_failure_route_runs_only_when_no_target_is_left() -> None:
    ran: list[Any] = []

    def failure(ctx: MsgContext) -> int:
        ran.append(ctx.reply.status if ctx.reply is not None else None)
        return 1

    rig = failover_rig(proxy_script(on_failure=route(RouteKind.FAILURE, failure)))
    (first,) = to(call(rig), ALICE)
    rig.receive(rig.answer(first, 503, "Service Unavailable"), ALICE)
    (second,) = to(rig.take(), BOB)
    assert ran == []
    rig.receive(rig.answer(second, 503, "Service Unavailable"), BOB)
    assert ran == [503]
    # a 503 goes up as 500 (OpenSIPS)
    assert lines(to(rig.take(), CALLER)) == ["SIP/2.0 500 Service Unavailable"]
