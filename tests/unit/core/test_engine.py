"""The engine with in-memory sockets: requests through a script, replies, parse errors."""

from __future__ import annotations

from core_support import CLIENT, OTHER, PROXY, make_net, request

from pysips.core.forward import forward_request
from pysips.core.replies import set_last_error
from pysips.script.context import (
    ACT_DROP,
    ACT_EXIT,
    MSGFL_ADD_LOCAL_RPORT,
    MSGFL_FORCE_RPORT,
    MsgContext,
)
from pysips.sip.message import SipMessage


def reply_200(ctx: MsgContext) -> int:
    core = ctx.process.core
    return 1 if core.send_reply(ctx, core.build_reply(ctx, 200, "OK")) else -1


def test_request_runs_the_route_and_reply_goes_to_the_source_port() -> None:
    net = make_net(reply_200)
    out = net.deliver(request(), src=("127.0.0.1", 40001))
    assert len(out) == 1
    sent = out[0]
    assert sent.first_line == "SIP/2.0 200 OK"
    assert (sent.dst.ip, sent.dst.port) == ("127.0.0.1", 40001)  # rport: the source port
    assert sent.socket == PROXY
    reply = sent.msg
    via = reply.vias[0]
    assert via.params["rport"] == "40001" and via.received == "127.0.0.1"
    assert reply.to.tag  # a 200 gets a To tag
    assert reply.call_id == "call-1@example.com" and reply.cseq.method == "OPTIONS"


def test_without_rport_the_reply_goes_to_the_via_port_and_received_only_when_needed() -> None:
    net = make_net(reply_200)
    out = net.deliver(request(via_params="", via_host="127.0.0.1:5099"), src=("127.0.0.1", 40001))
    assert (out[0].dst.ip, out[0].dst.port) == ("127.0.0.1", 5099)
    assert out[0].msg.vias[0].received is None  # sent-by is the source address
    out = net.deliver(request(via_params="", via_host="client.example.com"), src=("10.0.0.9", 40001))
    assert (out[0].dst.ip, out[0].dst.port) == ("10.0.0.9", 5060)
    assert out[0].msg.vias[0].received == "10.0.0.9"


def test_force_rport_replies_to_the_source_port() -> None:
    def route(ctx: MsgContext) -> int:
        ctx.msg_flags |= MSGFL_FORCE_RPORT
        return reply_200(ctx)

    net = make_net(route)
    out = net.deliver(request(via_params="", via_host="127.0.0.1:5099"), src=("127.0.0.1", 40001))
    assert out[0].dst.port == 40001
    assert out[0].msg.vias[0].params["rport"] == "40001"


def test_a_request_the_script_leaves_alone_is_dropped() -> None:
    net = make_net(lambda ctx: 1)
    assert net.deliver(request("INVITE")) == []


def test_malformed_request_gets_400_and_never_reaches_the_script() -> None:
    seen: list[object] = []
    net = make_net(lambda ctx: seen.append(ctx) or 1)
    bad = request().replace("CSeq: 1 OPTIONS", "CSeq: x OPTIONS")
    out = net.deliver(bad, src=("127.0.0.1", 40002))
    assert seen == []
    assert [s.first_line for s in out] == ["SIP/2.0 400 Bad Request"]
    assert out[0].dst.port == 40002
    assert net.engine.stats["parse_errors"] == 1


def test_unsupported_version_gets_505() -> None:
    net = make_net(lambda ctx: 1)
    out = net.deliver(request().replace("sip:bob@127.0.0.1:5060 SIP/2.0", "sip:bob@127.0.0.1:5060 SIP/3.0"))
    assert [s.first_line for s in out] == ["SIP/2.0 505 Version Not Supported"]


def test_garbage_and_keepalives_are_dropped_without_a_reply() -> None:
    net = make_net(reply_200)
    for junk in (b"\r\n\r\n", b"\x00\xff" * 40, b"hello world this is not SIP at all\r\n\r\n",
                 b"SIP/2.0 200 OK\r\n\r\n"):
        assert net.deliver(junk) == []
    assert net.engine.stats["parse_errors"] >= 2


def test_broken_ack_is_not_answered() -> None:
    net = make_net(reply_200)
    bad = request("ACK").replace("CSeq: 1 ACK", "CSeq: x ACK")
    assert net.deliver(bad) == []


def test_a_bug_in_the_script_costs_one_message_only() -> None:
    def broken(ctx: MsgContext) -> int:
        raise RuntimeError("boom")

    net = make_net(broken)
    assert net.deliver(request()) == []
    assert net.engine.stats["script_errors"] == 1
    net.engine.main_route = reply_200
    assert len(net.deliver(request())) == 1


def test_reply_without_transaction_is_forwarded_by_the_second_via() -> None:
    net = make_net(None)
    reply = (
        "SIP/2.0 180 Ringing\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKours\r\n"
        "Via: SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bKtheirs;received=192.0.2.7;rport=6000\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\n"
        "To: <sip:bob@example.com>;tag=b1\r\n"
        "Call-ID: call-1@example.com\r\n"
        "CSeq: 1 INVITE\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    out = net.deliver(reply, src=("127.0.0.9", 5080))
    assert len(out) == 1
    assert (out[0].dst.ip, out[0].dst.port) == ("192.0.2.7", 6000)
    forwarded = out[0].msg
    assert [v.branch for v in forwarded.vias] == ["z9hG4bKtheirs"]
    assert forwarded.status == 180


def test_reply_hook_consumes_before_stateless_forwarding() -> None:
    net = make_net(None)
    taken: list[int] = []
    net.engine.hooks.reply.append(lambda msg, rcv: taken.append(msg.status) is None)
    reply = (
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKours\r\n"
        "Via: SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n"
        "Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    onreply_runs: list[int] = []
    net.engine.onreply_route = lambda ctx: onreply_runs.append(1) or 1
    assert net.deliver(reply) == []
    assert taken == [200]
    assert onreply_runs == []  # tm runs the global onreply_route itself for its replies
    net.engine.hooks.reply.clear()
    assert len(net.deliver(reply)) == 1  # not taken: onreply_route, then stateless forwarding
    assert onreply_runs == [1]


def test_reply_whose_top_via_is_not_ours_is_dropped() -> None:
    net = make_net(None)
    reply = (
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKnotours\r\n"
        "Via: SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n"
        "Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    assert net.deliver(reply) == []


def test_onreply_route_drop_stops_forwarding() -> None:
    net = make_net(None)

    def onreply(ctx: MsgContext) -> int:
        ctx.action_flags |= ACT_DROP | ACT_EXIT
        return 0

    net.engine.onreply_route = onreply
    reply = (
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKours\r\n"
        "Via: SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n"
        "Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    assert net.deliver(reply) == []


def test_request_hook_absorbs_before_the_script() -> None:
    ran: list[int] = []
    net = make_net(lambda ctx: ran.append(1) or 1)
    net.engine.hooks.request.append(lambda msg, rcv: msg.method == "ACK")
    net.deliver(request("ACK"))
    net.deliver(request("BYE"))
    assert ran == [1]


def test_forward_to_the_new_ruri_adds_our_via_and_received() -> None:
    def route(ctx: MsgContext) -> int:
        ctx.new_ruri = "sip:bob@192.0.2.10:5080"
        return forward_request(ctx.process.core, ctx)

    net = make_net(route)
    out = net.deliver(request("INVITE", via_host="client.example.com:5062", via_params=""),
                      src=("203.0.113.5", 5062))
    assert len(out) == 1
    sent = out[0]
    assert (sent.dst.ip, sent.dst.port) == ("192.0.2.10", 5080)
    msg = sent.msg
    assert msg.ruri == "sip:bob@192.0.2.10:5080"
    assert len(msg.vias) == 2
    ours, theirs = msg.vias
    assert ours.host == "127.0.0.1" and ours.port == 5060 and ours.rfc3261_branch
    assert "rport" not in ours.params
    assert theirs.received == "203.0.113.5"
    assert theirs.branch == "z9hG4bKabc1"


def test_forward_twice_sends_two_clean_copies_with_the_same_stateless_branch() -> None:
    def route(ctx: MsgContext) -> int:
        ctx.dst_uri = "sip:192.0.2.10:5080"
        forward_request(ctx.process.core, ctx)
        ctx.dst_uri = "sip:192.0.2.11"
        return forward_request(ctx.process.core, ctx)

    net = make_net(route)
    out = net.deliver(request("INVITE"))
    assert [(s.dst.ip, s.dst.port) for s in out] == [("192.0.2.10", 5080), ("192.0.2.11", 5060)]
    first, second = (s.msg for s in out)
    assert len(first.vias) == len(second.vias) == 2
    assert first.vias[0].branch == second.vias[0].branch
    assert first.ruri == "sip:bob@127.0.0.1:5060"  # $du does not change the R-URI


def test_forward_with_add_local_rport_and_forced_socket() -> None:
    def route(ctx: MsgContext) -> int:
        ctx.msg_flags |= MSGFL_ADD_LOCAL_RPORT
        ctx.force_socket = OTHER
        ctx.dst_uri = "sip:192.0.2.10"
        return forward_request(ctx.process.core, ctx)

    net = make_net(route)
    out = net.deliver(request("MESSAGE"))
    assert out[0].socket == OTHER
    ours = out[0].msg.vias[0]
    assert (ours.host, ours.port, ours.rport) == ("127.0.0.2", 5070, "")


def test_forward_to_ipv6_uses_the_ipv6_socket() -> None:
    def route(ctx: MsgContext) -> int:
        ctx.dst_uri = "sip:[2001:db8::5]:5090"
        return forward_request(ctx.process.core, ctx)

    net = make_net(route)
    out = net.deliver(request("MESSAGE"))
    assert out[0].socket.ip == "::1"
    assert (out[0].dst.ip, out[0].dst.port) == ("2001:db8::5", 5090)
    assert out[0].msg.vias[0].host == "[::1]"


def test_forward_to_a_name_that_does_not_resolve_fails() -> None:
    results: list[int] = []

    def route(ctx: MsgContext) -> int:
        ctx.dst_uri = "sip:nowhere.example.net"
        results.append(forward_request(ctx.process.core, ctx))
        return 1

    net = make_net(route)
    assert net.deliver(request("MESSAGE")) == []
    assert results == [-1]


def test_forward_to_a_name_uses_dns() -> None:
    def route(ctx: MsgContext) -> int:
        ctx.dst_uri = "sip:pbx.example.net:5070"
        return forward_request(ctx.process.core, ctx)

    net = make_net(route, hosts={"pbx.example.net": ["192.0.2.44"]})
    out = net.deliver(request("MESSAGE"))
    assert (out[0].dst.ip, out[0].dst.port) == ("192.0.2.44", 5070)


def test_build_reply_uses_queued_headers_and_last_error() -> None:
    def route(ctx: MsgContext) -> int:
        ctx.extra["core.reply_headers"] = ["X-Why: testing"]
        set_last_error(ctx, 488, "Not Acceptable Here")
        core = ctx.process.core
        return 1 if core.send_reply(ctx, core.build_reply(ctx, 100, "Trying")) else -1

    net = make_net(route)
    out = net.deliver(request())
    msg = out[0].msg
    assert msg.header("X-Why") == "testing"
    assert msg.to.tag is None  # no tag below 180


def test_myself_knows_listeners_and_aliases() -> None:
    net = make_net(None)
    my = net.engine.myself
    assert my.is_myself("127.0.0.1", 5060)
    assert not my.is_myself("127.0.0.1", 5061)
    assert my.is_myself("[::1]", 5060)
    assert my.is_myself("PROXY.example.com", 5999)  # an alias without a port matches any port
    assert not my.is_myself("example.com", 5060)
    assert CLIENT[0] == "127.0.0.1"


def test_parsed_reply_type() -> None:
    net = make_net(reply_200)
    out = net.deliver(request())
    assert isinstance(out[0].msg, SipMessage)
