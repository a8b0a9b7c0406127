"""Core pseudo-variables read against real parsed messages: (expression, message, expected)."""

from __future__ import annotations

import time

import pytest

from pysips.script import ast
from pysips.script.context import MsgContext, ProcessState, Value
from pysips.script.pv import PVError, PVRegistry, compile_pvar
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

INVITE = (
    "INVITE sip:bob;user=phone@example.com:5070;transport=tcp SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Via: SIP/2.0/TCP proxy.example.net;branch=z9hG4bK1\r\n"
    "v: SIP/2.0/UDP third.example.org;branch=z9hG4bK2\r\n"
    "Max-Forwards: 70\r\n"
    'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    "To: <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@10.0.0.1:5060>;expires=60, <sip:alice@10.0.0.2>\r\n"
    "Contact: sip:alice@10.0.0.3\r\n"
    "User-Agent: TestPhone/1.0\r\n"
    "P-Asserted-Identity: \"Alice\" <sip:+15551234@atlanta.example.com>\r\n"
    "X-Custom: one\r\n"
    "X-Custom: two\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 10\r\n"
    "\r\n"
    "v=0\r\no=x\r\n"
)

REPLY = (
    "SIP/2.0 486 Busy Here\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n"
    "From: <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "To: \"Bob\" <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Server: X\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)

NOUSER = (
    "OPTIONS sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
    "From: sip:example.net;tag=x\r\n"
    "To: sip:example.com\r\n"
    "Call-ID: c\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)

MESSAGES = {"invite": INVITE, "reply": REPLY, "nouser": NOUSER}
RCV = ReceiveInfo("udp", "192.0.2.10", 5060, "198.51.100.7", 40123)
RCV6 = ReceiveInfo("tcp", "2001:db8::1", 5061, "2001:db8::99", 1234, conn_id=7)


def message(key: str) -> SipMessage:
    msg = parse_message(MESSAGES[key].encode())
    assert isinstance(msg, SipMessage), msg
    return msg


def ctx_for(key: str, rcv: ReceiveInfo | None = RCV) -> MsgContext:
    return MsgContext(ProcessState(), message(key), rcv, now=1_700_000_000.25)


def P(name: str, subname: str | None = None, index: ast.Expr | str | None = None) -> ast.PVar:
    return ast.PVar(name, subname, index, pos=ast.Pos("t.cfg", 1, 1))


REG = PVRegistry(start_time=1_600_000_000.0)


def read(node: ast.PVar, ctx: MsgContext) -> Value:
    return compile_pvar(node, REG).get(ctx)


CASES: list[tuple[ast.PVar, str, Value]] = [
    (P("ru"), "invite", "sip:bob;user=phone@example.com:5070;transport=tcp"),
    (P("ruri"), "invite", "sip:bob;user=phone@example.com:5070;transport=tcp"),
    (P("rU"), "invite", "bob;user=phone"),
    (P("rd"), "invite", "example.com"),
    (P("rp"), "invite", 5070),
    (P("rP"), "invite", "tcp"),
    (P("rU"), "nouser", None),
    (P("rp"), "nouser", 5060),
    (P("rP"), "nouser", "udp"),
    (P("ru"), "reply", None),
    (P("rU"), "reply", None),
    (P("ou"), "invite", "sip:bob;user=phone@example.com:5070;transport=tcp"),
    (P("oU"), "invite", "bob;user=phone"),
    (P("od"), "invite", "example.com"),
    (P("fu"), "invite", "sip:alice@atlanta.example.com"),
    (P("from"), "invite", "sip:alice@atlanta.example.com"),
    (P("fU"), "invite", "alice"),
    (P("fd"), "invite", "atlanta.example.com"),
    (P("fn"), "invite", '"Alice Liddell"'),
    (P("ft"), "invite", "1928301774"),
    (P("fU"), "nouser", None),
    (P("fn"), "nouser", None),
    (P("tu"), "invite", "sip:bob@biloxi.example.com"),
    (P("tU"), "invite", "bob"),
    (P("td"), "invite", "biloxi.example.com"),
    (P("tt"), "invite", None),
    (P("tn"), "invite", None),
    (P("tt"), "reply", "a6c85cf"),
    (P("tn"), "reply", '"Bob"'),
    (P("ci"), "invite", "a84b4c76e66710@pc33.atlanta.example.com"),
    (P("cs"), "invite", "314159"),  # a string in OpenSIPS 3.6
    (P("rm"), "invite", "INVITE"),
    (P("rm"), "reply", "INVITE"),
    (P("rs"), "reply", 486),
    (P("rr"), "reply", "Busy Here"),
    (P("rs"), "invite", None),
    (P("rr"), "invite", None),
    (P("cl"), "invite", 10),
    (P("cl"), "reply", 0),
    (P("cT"), "invite", "application/sdp"),
    (P("cT"), "reply", None),
    (P("ua"), "invite", "TestPhone/1.0"),
    (P("ua"), "reply", None),
    (P("ct"), "invite", "<sip:alice@10.0.0.1:5060>;expires=60"),
    (P("ct"), "reply", None),
    (P("ai"), "invite", "sip:+15551234@atlanta.example.com"),
    (P("ai"), "reply", None),
    (P("rb"), "invite", "v=0\r\no=x\r\n"),
    (P("rb"), "reply", None),
    (P("ml"), "reply", len(REPLY)),
    (P("mb"), "reply", REPLY),
    (P("hdr", "User-Agent"), "invite", "TestPhone/1.0"),
    (P("hdr", "user-agent"), "invite", "TestPhone/1.0"),
    (P("hdr", "Via"), "invite", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport"),
    (P("hdr", "X-Custom"), "invite", "one"),
    (P("hdr", "X-Missing"), "invite", None),
    (P("hdr", "v", ast.IntLit(-1)), "invite", "SIP/2.0/UDP third.example.org;branch=z9hG4bK2"),
    (P("hdr", "Via", ast.IntLit(1)), "invite", "SIP/2.0/TCP proxy.example.net;branch=z9hG4bK1"),
    (P("hdr", "Via", ast.UnOp("-", ast.IntLit(3))),
     "invite", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport"),
    (P("hdr", "Via", ast.IntLit(3)), "invite", None),
    (P("hdr", "Via", ast.IntLit(-4)), "invite", None),
    (P("hdr", "X-Custom", "*"), "invite", "one, two"),
    (P("hdr", "X-Missing", "*"), "invite", None),
    (P("hdrcnt", "Via"), "invite", 3),
    (P("hdrcnt", "X-Missing"), "invite", 0),
    (P("ct", None, ast.IntLit(1)), "invite", "<sip:alice@10.0.0.2>"),
    (P("ct", None, ast.IntLit(-1)), "invite", "sip:alice@10.0.0.3"),
    (P("si"), "invite", "198.51.100.7"),
    (P("src_ip"), "invite", "198.51.100.7"),
    (P("sp"), "invite", 40123),
    (P("pr"), "invite", "udp"),
    (P("proto"), "invite", "udp"),
    (P("Ri"), "invite", "192.0.2.10"),
    (P("Rp"), "invite", 5060),
    (P("socket_in"), "invite", "udp:192.0.2.10:5060"),
    (P("socket_in", "port"), "invite", 5060),
    (P("socket_in", "af"), "invite", "INET"),
    (P("Ts"), "invite", 1_700_000_000),
    (P("Tsm"), "invite", 250_000),
    (P("TS"), "invite", 1_600_000_000),
    (P("time", "%Y"), "invite", time.strftime("%Y", time.localtime(1_700_000_000.25))),
    (P("rc"), "invite", 1),
    (P("retcode"), "invite", 1),
    (P("du"), "invite", None),
    (P("cfg_line"), "invite", 1),
]


@pytest.mark.parametrize(("node", "key", "expected"), CASES, ids=lambda x: getattr(x, "name", None) or str(x))
def test_read(node: ast.PVar, key: str, expected: Value) -> None:
    assert read(node, ctx_for(key)) == expected


def test_hdr_all_values_list() -> None:
    acc = compile_pvar(P("hdr", "Via", "*"), REG)
    assert len(acc.get_all(ctx_for("invite"))) == 3
    assert compile_pvar(P("hdr", "X-Custom"), REG).get_all(ctx_for("invite")) == ["one", "two"]


def test_network_vars_ipv6_and_missing_receive_info() -> None:
    ctx = ctx_for("invite", RCV6)
    assert read(P("si"), ctx) == "2001:db8::99"
    assert read(P("pr"), ctx) == "tcp"
    assert read(P("socket_in"), ctx) == "tcp:[2001:db8::1]:5061"
    assert read(P("socket_in", "af"), ctx) == "INET6"
    assert read(P("si"), ctx_for("invite", None)) is None


def test_no_message_reads_null() -> None:
    ctx = MsgContext(ProcessState())
    for name in ("ru", "rU", "fu", "ci", "rs", "ua", "ml"):
        assert read(P(name), ctx) is None
    assert read(P("hdr", "Via"), ctx) is None
    assert read(P("rc"), ctx) == 1


def test_err_reads_the_error_of_an_error_route() -> None:
    ctx = MsgContext(ProcessState())
    # no error: the numbers read 0 and the texts NULL, as in OpenSIPS 3.6
    assert read(P("err.class"), ctx) == 0
    assert read(P("err.info"), ctx) is None
    ctx.error_info = {"class": 1, "level": 2, "info": "parse error in message", "rcode": 400,
                      "rreason": "Bad Request"}
    assert read(P("err.class"), ctx) == 1
    assert read(P("err.level"), ctx) == 2
    assert read(P("err.info"), ctx) == "parse error in message"
    assert read(P("err.rcode"), ctx) == 400
    assert read(P("err.rreason"), ctx) == "Bad Request"
    assert not compile_pvar(P("err.rcode"), REG).writable


def test_ru_reads_new_ruri_and_ou_keeps_original() -> None:
    ctx = ctx_for("invite")
    ctx.new_ruri = "sip:carol@chicago.example.com"
    assert read(P("ru"), ctx) == "sip:carol@chicago.example.com"
    assert read(P("rU"), ctx) == "carol"
    assert read(P("rp"), ctx) == 5060
    assert read(P("ou"), ctx) == "sip:bob;user=phone@example.com:5070;transport=tcp"


def test_retcode_and_flags_follow_context() -> None:
    ctx = ctx_for("invite")
    ctx.retcode = -2
    ctx.flags = 5
    assert read(P("rc"), ctx) == -2
    assert read(P("mf"), ctx) == 5


def test_time_uses_wall_clock_when_context_has_none() -> None:
    ctx = MsgContext(ProcessState())
    before = int(time.time())
    value = read(P("Ts"), ctx)
    assert isinstance(value, int) and before <= value <= int(time.time())


REGISTER = (
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:alice@example.com>\r\n"
    "Call-ID: r1\r\n"
    "CSeq: 2 REGISTER\r\n"
    'Authorization: Digest username="alice@corp.example", realm="example.com", nonce="abc", '
    'uri="sip:example.com", response="0123", algorithm=MD5, qop=auth, nc=00000001, cnonce="xyz"\r\n'
    "Content-Length: 0\r\n\r\n"
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("au", "alice"),
        ("ad", "corp.example"),
        ("aU", "alice@corp.example"),
        ("ar", "example.com"),
        ("adu", "sip:example.com"),
        ("an", "abc"),
        ("auth.resp", "0123"),
        ("auth.cnonce", "xyz"),
        ("auth.alg", "MD5"),
        ("auth.qop", "auth"),
        ("auth.nc", "00000001"),
        ("auth.opaque", None),
    ],
)
def test_credentials(name: str, expected: Value) -> None:
    msg = parse_message(REGISTER.encode())
    assert isinstance(msg, SipMessage)
    ctx = MsgContext(ProcessState(), msg)
    assert read(P(name), ctx) == expected
    assert read(P(name), ctx_for("invite")) is None  # no credentials


@pytest.mark.parametrize(
    ("field", "index", "expected"),
    [
        ("uri", None, "sip:alice@10.0.0.1:5060"),
        ("expires", None, "60"),
        ("q", None, None),
        ("uri", ast.IntLit(2), "sip:alice@10.0.0.3"),
    ],
)
def test_contact_fields(field: str, index: ast.Expr | None, expected: Value) -> None:
    assert read(P("ct.fields", field, index), ctx_for("invite")) == expected
    assert read(P("ct.fields", field), ctx_for("reply")) is None


def test_contact_fields_unknown_is_load_error() -> None:
    with pytest.raises(PVError, match="unknown field"):
        compile_pvar(P("ct.fields", "colour"), REG)


MULTIPART = (
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
    "From: <sip:alice@a.example>;tag=1\r\n"
    "To: <sip:bob@b.example>\r\n"
    "Call-ID: m1\r\n"
    "CSeq: 1 INVITE\r\n"
    'Content-Type: multipart/mixed;boundary="XyZ"\r\n'
    "Content-Length: {length}\r\n"
    "\r\n"
    "{body}"
)
PARTS = (
    "--XyZ\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n"
    "--XyZ\r\nContent-Type: application/isup;version=itu-t92+\r\n\r\nISUP\r\n"
    "--XyZ--\r\n"
)


@pytest.mark.parametrize(
    ("key", "mime", "expected"),
    [
        ("invite", "application/sdp", "v=0\r\no=x\r\n"),
        ("invite", "Application/SDP", "v=0\r\no=x\r\n"),
        ("invite", "application/isup", None),
        ("reply", "application/sdp", None),
    ],
)
def test_body_by_type(key: str, mime: str, expected: Value) -> None:
    assert read(P("rb", mime), ctx_for(key)) == expected


def test_body_part_of_multipart() -> None:
    msg = parse_message(MULTIPART.format(length=len(PARTS), body=PARTS).encode())
    assert isinstance(msg, SipMessage)
    ctx = MsgContext(ProcessState(), msg)
    assert read(P("rb", "application/sdp"), ctx) == "v=0\r\n"
    assert read(P("rb", "application/isup"), ctx) == "ISUP"
    assert read(P("rb", "text/plain"), ctx) is None
    assert read(P("rb"), ctx) == PARTS
    with pytest.raises(PVError, match="content type"):
        compile_pvar(P("rb", "sdp"), REG)
