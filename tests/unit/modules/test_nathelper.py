"""nathelper: Contact rewriting, the received AVP, nat_uac_test() flags, NAT pings."""

from __future__ import annotations

from test_registrar_fakes import PROXY_WS, Fx, fn, invite, module, register

from pysips.script.ast import NOWHERE
from pysips.script.errors import FixupError
from pysips.script.exports import FixupContext
from pysips.script.flags import FlagRegistry

WS_CONTACT = '<sip:8eu4ph0u@df7jal23ls0d.invalid;transport=ws>;+sip.instance="<urn:uuid:1>";reg-id=1'


def nh(name: str):
    return fn("nathelper", name)


def flags(text: str) -> int:
    fix = module("nathelper").functions_by_name["nat_uac_test"].args[0].fixup
    assert fix is not None
    return int(fix(text, FixupContext(FlagRegistry(), {}, NOWHERE)))


def test_fix_nated_contact_rewrites_and_save_stores_the_source() -> None:
    fx = Fx(nh={})
    ctx = fx.ctx(register(contact=WS_CONTACT, expires=600), src=("198.51.100.7", 40001), proto="ws",
                 conn_id=3)
    assert nh("fix_nated_contact")(ctx, None, None) == 1
    out = ctx.msg.serialize().decode()
    assert "Contact: <sip:8eu4ph0u@198.51.100.7:40001;transport=ws>;+sip.instance" in out
    assert nh("fix_nated_contact")(ctx, None, None) == -1  # a second rewrite is refused
    assert fn("registrar", "save")(ctx, "location", None, None) == 1
    c = fx.ul.domain("location").get("alice@example.com").contacts[0]
    assert c.uri == "sip:8eu4ph0u@198.51.100.7:40001;transport=ws"
    assert c.conn_id == 3 and c.socket == f"ws:{PROXY_WS.ip}:{PROXY_WS.port}"


def test_fix_nated_contact_params_and_preserve_uri() -> None:
    fx = Fx(nh={})
    ctx = fx.ctx(invite(), src=("198.51.100.7", 7000))
    assert nh("fix_nated_contact")(ctx, ";nat=yes", 1) == 1
    line = next(x for x in ctx.msg.serialize().decode().split("\r\n") if x.startswith("Contact:"))
    # "203.0.113.5:5060" in base64 is MjAzLjAuMTEzLjU6NTA2MA==
    assert line == "Contact: <sip:bob@198.51.100.7:7000;nat=yes;org=MjAzLjAuMTEzLjU6NTA2MA==>"


def test_fix_nated_contact_ipv6_and_unenclosed() -> None:
    fx = Fx(nh={})
    data = invite().replace("Contact: <sip:bob@203.0.113.5:5060>", "Contact: sip:bob@10.0.0.1;transport=tcp")
    ctx = fx.ctx(data, src=("2001:db8::7", 5070))
    assert nh("fix_nated_contact")(ctx, None, None) == 1
    assert "Contact: sip:bob@[2001:db8::7]:5070;transport=tcp\r\n" in ctx.msg.serialize().decode()


def test_fix_nated_register_fills_received_avp_for_save() -> None:
    fx = Fx(reg={"received_avp": "$avp(rcv)"}, nh={"received_avp": "$avp(rcv)"})
    ctx = fx.ctx(register(contact=WS_CONTACT, expires=600), src=("198.51.100.7", 40001), proto="ws")
    assert nh("fix_nated_register")(ctx) == 1
    assert ctx.avps["rcv"] == ["sip:198.51.100.7:40001;transport=ws"]
    fn("registrar", "save")(ctx, "location", None, None)
    _, lctx = fx.lookup(invite())
    assert lctx.dst_uri == "sip:198.51.100.7:40001;transport=ws"
    udp = fx.ctx(register(), src=("198.51.100.9", 5080))
    nh("fix_nated_register")(udp)
    assert udp.avps["rcv"] == ["sip:198.51.100.9:5080"]


def test_fix_nated_register_without_avp_param_fails() -> None:
    fx = Fx(nh={})
    assert nh("fix_nated_register")(fx.ctx(register())) == -1


def test_nat_uac_test_flags() -> None:
    fx = Fx(nh={})
    test = nh("nat_uac_test")
    # Via and Contact say 203.0.113.5:5060
    same = fx.ctx(invite(), src=("203.0.113.5", 5060))
    moved = fx.ctx(invite(), src=("198.51.100.7", 5060))
    other_port = fx.ctx(invite(), src=("203.0.113.5", 6000))
    assert test(same, flags("2")) == -1 and test(moved, flags("2")) == 1
    assert test(moved, flags("diff-ip-src-via")) == 1
    assert test(other_port, flags("16")) == 1 and test(other_port, flags("diff-port-src-contact")) == 1
    assert test(same, flags("19")) == -1  # 1|2|16
    assert test(moved, flags("diff-ip-src-contact")) == 1
    private = fx.ctx(invite().replace("203.0.113.5:5060>", "192.168.1.20:5060>"), src=("203.0.113.5", 5060))
    assert test(private, flags("1")) == 1 and test(private, flags("private-contact")) == 1
    assert test(same, flags("private-contact,private-via")) == -1
    cgn = fx.ctx(invite().replace("203.0.113.5:5060>", "100.64.0.9:5060>"), src=("203.0.113.5", 5060))
    assert test(cgn, flags("1")) == 1
    sdp = "v=0\r\no=- 1 1 IN IP4 10.1.2.3\r\ns=-\r\nc=IN IP4 10.1.2.3\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    with_sdp = invite(extra="Content-Type: application/sdp\r\n").replace(
        "Content-Length: 0\r\n\r\n", f"Content-Length: {len(sdp)}\r\n\r\n{sdp}")
    assert test(fx.ctx(with_sdp, src=("203.0.113.5", 5060)), flags("8")) == 1
    assert test(fx.ctx(with_sdp, src=("203.0.113.5", 5060)), flags("private-sdp")) == 1


def test_nat_uac_test_bad_flags_fail_at_load() -> None:
    import pytest

    for bad in ("private-contct", "", "4096"):
        with pytest.raises(FixupError):
            flags(bad)


def test_add_rcv_param() -> None:
    fx = Fx(nh={})
    ctx = fx.ctx(register(contact="<sip:alice@10.0.0.5>;expires=60"), src=("198.51.100.7", 5099))
    assert nh("add_rcv_param")(ctx, None) == 1
    assert ('Contact: <sip:alice@10.0.0.5>;expires=60;received="sip:198.51.100.7:5099"\r\n'
            in ctx.msg.serialize().decode())
    ctx = fx.ctx(register(contact="<sip:alice@10.0.0.5>"), src=("198.51.100.7", 5099), proto="tcp")
    assert nh("add_rcv_param")(ctx, 1) == 1
    assert ('Contact: <sip:alice@10.0.0.5;received="sip:198.51.100.7:5099;transport=tcp">\r\n'
            in ctx.msg.serialize().decode())


def _registered(fx: Fx, contact: str, proto: str = "udp", bflags: int = 0, conn_id: int = 0,
                call_id: str = "r", src: tuple[str, int] = ("198.51.100.7", 5060)) -> None:
    ctx = fx.ctx(register(contact=contact, call_id=call_id, expires=3600), src=src, proto=proto,
                 conn_id=conn_id)
    ctx.bflags = bflags
    nh("fix_nated_register")(ctx)
    assert fn("registrar", "save")(ctx, "location", None, None) == 1


def test_natping_udp_sipping_and_nated_only() -> None:
    fx = Fx(reg={"received_avp": "$avp(rcv)"},
            nh={"natping_interval": 30, "ping_nated_only": 1, "received_avp": "$avp(rcv)",
                "sipping_bflag": 5, "sipping_from": "sip:pinger@example.com"})
    nat = 1 << fx.nat_bit
    _registered(fx, "<sip:alice@10.0.0.5:5060>", bflags=nat, call_id="a", src=("198.51.100.7", 5060))
    _registered(fx, "<sip:alice@10.0.0.6:5060>", bflags=nat | (1 << 5), call_id="b",
                src=("198.51.100.8", 5062))
    _registered(fx, "<sip:alice@203.0.113.9:5060>", bflags=0, call_id="c", src=("203.0.113.9", 5060))
    fx.core.sent.clear()
    fx.core.advance(30)
    sent = {(s.dst.ip, s.dst.port): s for s in fx.core.sent}
    assert set(sent) == {("198.51.100.7", 5060), ("198.51.100.8", 5062)}  # the received address
    assert sent["198.51.100.7", 5060].data == b"\x00\x00\x00\x00"
    ping = sent["198.51.100.8", 5062].msg
    assert ping.method == "OPTIONS" and ping.ruri == "sip:alice@10.0.0.6:5060"
    assert ping.from_.uri == "sip:pinger@example.com"
    # its reply is swallowed by the module's reply hook
    from pysips.sip.build import make_response
    from pysips.sip.message import parse_message
    from pysips.sip.receive import ReceiveInfo

    reply = parse_message(make_response(ping, 200, "OK", to_tag="x"))
    rcv = ReceiveInfo("udp", "192.0.2.1", 5060, "198.51.100.8", 5062)
    assert any(hook(reply, rcv) for hook in fx.core.hooks.reply)
    fx.core.sent.clear()
    fx.core.advance(30)
    assert len(fx.core.sent) == 2  # every interval


def test_natping_streams_only_with_natping_tcp() -> None:
    params = {"natping_interval": 10, "received_avp": "$avp(rcv)"}
    for tcp in (0, 1):
        fx = Fx(reg={"received_avp": "$avp(rcv)"}, nh={**params, "natping_tcp": tcp})
        _registered(fx, "<sip:alice@198.51.100.7:40001;transport=ws>", proto="ws", conn_id=9,
                    src=("198.51.100.7", 40001), call_id="w")
        _registered(fx, "<sip:alice@198.51.100.8:50000;transport=tcp>", proto="tcp", conn_id=10,
                    src=("198.51.100.8", 50000), call_id="t")
        fx.core.sent.clear()
        fx.core.advance(10)
        if not tcp:
            assert fx.core.sent == []
            continue
        by_proto = {s.dst.proto: s for s in fx.core.sent}
        assert set(by_proto) == {"ws", "tcp"}
        ws = by_proto["ws"]
        assert ws.dst.conn_id == 9 and ws.socket == PROXY_WS
        assert ws.msg.method == "OPTIONS"  # a whole SIP request: the WS transport frames it
        assert ws.msg.vias[0].proto == "WS"
        assert by_proto["tcp"].data == b"\r\n\r\n" and by_proto["tcp"].dst.conn_id == 10


def test_browser_saved_plainly_is_pinged_over_its_connection() -> None:
    fx = Fx(nh={"natping_interval": 10, "natping_tcp": 1})
    ctx = fx.ctx(register(contact="<sip:a@x.invalid;transport=ws>", expires=600), src=("198.51.100.7", 40000),
                 proto="ws", conn_id=4)
    fn("registrar", "save")(ctx, "location", None, None)
    fx.core.sent.clear()
    fx.core.advance(10)
    (ping,) = fx.core.sent
    assert (ping.dst.proto, ping.dst.ip, ping.dst.port, ping.dst.conn_id) == ("ws", "198.51.100.7", 40000, 4)


def test_no_ping_to_invalid_host_without_received() -> None:
    fx = Fx(nh={"natping_interval": 10, "natping_tcp": 1})
    dom = fx.ul.domain("location")
    rec = dom.get_or_create("a@example.com")
    binding = fx.ul.new_contact("a@example.com", "sip:a@x.invalid;transport=ws", int(fx.core.wall) + 600,
                                conn_id=4, last_modified=fx.core.wall)
    dom.insert(rec, binding)
    fx.core.advance(10)
    assert fx.core.sent == []


def test_remove_on_timeout_bflag_deletes_bindings_that_stop_answering() -> None:
    from pysips.sip.build import make_response
    from pysips.sip.message import parse_message
    from pysips.sip.receive import ReceiveInfo

    fx = Fx(reg={"received_avp": "$avp(rcv)"},
            nh={"natping_interval": 10, "received_avp": "$avp(rcv)", "sipping_bflag": 5,
                "sipping_from": "sip:pinger@example.com", "remove_on_timeout_bflag": 6,
                "ping_threshold": 3, "max_pings_lost": 2})
    flags = (1 << 5) | (1 << 6)
    _registered(fx, "<sip:alice@10.0.0.5:5060>", bflags=flags, call_id="silent", src=("198.51.100.7", 5060))
    _registered(fx, "<sip:alice@10.0.0.6:5060>", bflags=flags, call_id="alive", src=("198.51.100.8", 5062))
    _registered(fx, "<sip:alice@10.0.0.7:5060>", bflags=1 << 5, call_id="plain", src=("198.51.100.9", 5064))

    def answer_alive() -> None:
        for s in fx.core.sent:
            if s.dst.port == 5062 and s.data.startswith(b"OPTIONS"):
                reply = parse_message(make_response(s.msg, 200, "OK", to_tag="x"))
                rcv = ReceiveInfo("udp", "192.0.2.1", 5060, "198.51.100.8", 5062)
                assert any(hook(reply, rcv) for hook in fx.core.hooks.reply)
        fx.core.sent.clear()

    def bindings() -> set[str]:
        rec = fx.ul.domain("location").get("alice@example.com")
        return {c.uri for c in rec.contacts} if rec is not None else set()

    for _ in range(10):  # the first round of pings, then 3 s without an answer from "silent"
        fx.core.advance(1)
        answer_alive()
    fx.core.advance(4)
    assert len(bindings()) == 3  # one ping lost: not enough
    for _ in range(10):
        fx.core.advance(1)
        answer_alive()
    assert bindings() == {"sip:alice@10.0.0.6:5060", "sip:alice@10.0.0.7:5060"}
