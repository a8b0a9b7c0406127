"""sl, signaling and maxfwd through real scripts on the in-memory engine."""

from __future__ import annotations

from typing import Any

from core_support import request, script_net

from pysips.core.services import TRANSACTIONS
from pysips.script.context import MsgContext

SCRIPT = """
listen=udp:127.0.0.1:5060
loadmodule "sl.so"
loadmodule "signaling.so"
loadmodule "maxfwd.so"
loadmodule "proto_udp.so"
modparam("proto_udp", "udp_workers", 4)
route{
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483","Too Many Hops");
        exit;
    }
    if ($rm == "OPTIONS") {
        sl_send_reply(200, "OK");
        exit;
    }
    if ($rm == "MESSAGE") {
        send_reply("403", "Relay forbidden");
        exit;
    }
    if ($rm == "ACK") {
        sl_send_reply(500, "should not see this ACK");
        exit;
    }
    sl_reply_error();
}
"""


def test_options_answered_by_sl_send_reply_with_a_stable_to_tag() -> None:
    net, _ = script_net(SCRIPT)
    first = net.deliver(request())
    again = net.deliver(request())  # a retransmission
    assert [s.first_line for s in first] == ["SIP/2.0 200 OK"]
    assert first[0].msg.to.tag and first[0].msg.to.tag == again[0].msg.to.tag
    other = net.deliver(request(branch="z9hG4bKother"))
    assert other[0].msg.to.tag != first[0].msg.to.tag


def test_max_forwards_zero_gets_483() -> None:
    net, _ = script_net(SCRIPT)
    out = net.deliver(request("INVITE", max_forwards=0))
    assert [s.first_line for s in out] == ["SIP/2.0 483 Too Many Hops"]


def test_ack_to_a_stateless_reply_is_absorbed_other_acks_reach_the_script() -> None:
    net, _ = script_net(SCRIPT)
    out = net.deliver(request("INVITE", max_forwards=0))
    tag = out[0].msg.to.tag
    assert tag
    assert net.deliver(request("ACK", to_tag=tag)) == []
    assert net.engine.process.modules["sl"].received_acks == 1
    # an ACK with a foreign To tag runs the script, whose sl_send_reply() ignores ACKs
    assert net.deliver(request("ACK", to_tag="foreign")) == []


def test_sl_reply_error_defaults_to_500() -> None:
    net, _ = script_net(SCRIPT)
    out = net.deliver(request("INVITE"))
    assert [s.first_line for s in out] == ["SIP/2.0 500 Server error occurred (1/SL)"]


def test_send_reply_without_tm_is_stateless() -> None:
    net, _ = script_net(SCRIPT)
    out = net.deliver(request("MESSAGE"))
    assert [s.first_line for s in out] == ["SIP/2.0 403 Relay forbidden"]
    assert out[0].msg.to.tag


class FakeTm:
    def __init__(self, has: bool) -> None:
        self.has = has
        self.replies: list[tuple[int, str]] = []

    def has_transaction(self, ctx: MsgContext) -> bool:
        return self.has

    def reply(self, ctx: MsgContext, code: int, reason: str, body: bytes = b"",
              extra_headers: tuple[str, ...] = ()) -> int:
        self.replies.append((code, reason))
        return 1


def test_send_reply_goes_through_tm_when_a_transaction_exists() -> None:
    net, _ = script_net(SCRIPT)
    tm: Any = FakeTm(True)
    net.engine.process.services.provide(TRANSACTIONS, tm, "tm")
    assert net.deliver(request("MESSAGE")) == []
    assert tm.replies == [(403, "Relay forbidden")]
    tm.has = False
    assert [s.first_line for s in net.deliver(request("MESSAGE"))] == ["SIP/2.0 403 Relay forbidden"]


def test_bad_reply_code_is_a_load_error() -> None:
    import pytest

    from pysips.script.errors import ScriptLoadError

    with pytest.raises(ScriptLoadError) as info:
        script_net('loadmodule "sl.so"\nroute{ sl_send_reply("99", "x"); }\n')
    assert "99" in str(info.value.problems[0].format())
