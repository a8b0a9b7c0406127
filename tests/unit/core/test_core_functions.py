"""forward(), send() and force_send_socket() as script handlers on the in-memory engine."""

from __future__ import annotations

import pytest
from core_support import OTHER, PROXY, make_net, request

from pysips.core.forward import HostPort
from pysips.core.functions import ENGINE_FUNCTIONS, fix_hostport, w_force_send_socket, w_forward, w_send
from pysips.script.context import MsgContext, ProcessState
from pysips.script.errors import FixupError
from pysips.script.exports import FixupContext
from pysips.script.flags import FlagRegistry


def test_exports_replace_the_placeholders_by_name() -> None:
    cache = {"cache_store", "cache_remove", "cache_fetch", "cache_counter_fetch", "cache_add", "cache_sub",
             "cache_raw_query"}
    assert {f.name for f in ENGINE_FUNCTIONS} == {"forward", "send", "force_send_socket"} | cache
    assert all(f.missing is None for f in ENGINE_FUNCTIONS)


def test_fixup_rejects_bad_destinations() -> None:
    fctx = FixupContext(FlagRegistry(), {})
    assert fix_hostport("udp:10.0.0.1:5070", fctx) == HostPort("udp", "10.0.0.1", 5070)
    with pytest.raises(FixupError):
        fix_hostport("udp:10.0.0.1:notaport", fctx)


def test_forward_to_an_explicit_destination() -> None:
    net = make_net(lambda ctx: w_forward(ctx, HostPort("udp", "192.0.2.20", 5090)))
    out = net.deliver(request("MESSAGE"))
    assert (out[0].dst.ip, out[0].dst.port) == ("192.0.2.20", 5090)
    assert len(out[0].msg.vias) == 2


def test_send_adds_no_via_but_the_given_headers() -> None:
    net = make_net(lambda ctx: w_send(ctx, HostPort(None, "192.0.2.20", None), "X-Sent: 1"))
    out = net.deliver(request("MESSAGE"))
    assert (out[0].dst.ip, out[0].dst.port) == ("192.0.2.20", 5060)
    msg = out[0].msg
    assert len(msg.vias) == 1 and msg.header("X-Sent") == "1"


def test_force_send_socket_picks_one_of_ours_or_fails() -> None:
    results: list[int] = []

    def route(ctx: MsgContext) -> int:
        results.append(w_force_send_socket(ctx, HostPort("udp", "10.9.9.9", 5060)))
        results.append(w_force_send_socket(ctx, HostPort("udp", "127.0.0.2", 5070)))
        ctx.dst_uri = "sip:192.0.2.10"
        return w_forward(ctx)

    net = make_net(route)
    out = net.deliver(request("MESSAGE"))
    assert results == [-1, 1]
    assert out[0].socket == OTHER and out[0].socket != PROXY


def test_handlers_fail_cleanly_without_an_engine() -> None:
    ctx = MsgContext(ProcessState())
    assert w_forward(ctx) == -1
    assert w_force_send_socket(ctx, HostPort("udp", "127.0.0.1", 5060)) == -1
