"""uri.*, param.*, nameaddr.*, via.*, csv.*, ip.*, re.subst and sdp.line transformations."""

from __future__ import annotations

import pytest
from transform_support import POS, REG, apply, tr

from pysips.script import ast
from pysips.script.context import MsgContext, ProcessState, Value
from pysips.script.pv import PVError, compile_pvar
from pysips.sip.message import SipMessage, parse_message

SDP = "v=0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 5000 RTP/AVP 31\r\n"
URI = "sip:alice:pw@[2001:db8::1]:5070;transport=TCP;lr;user=phone;maddr=10.0.0.1?subject=hi&x=y"


CASES: list[tuple[ast.Transform, Value, Value]] = [
    # uri.*
    (tr("uri.user"), URI, "alice"),
    (tr("uri.passwd"), URI, "pw"),
    (tr("uri.host"), URI, "[2001:db8::1]"),
    (tr("uri.domain"), "sip:bob@example.com", "example.com"),
    (tr("uri.port"), URI, 5070),
    (tr("uri.port"), "sip:bob@example.com", None),
    (tr("uri.params"), URI, "transport=TCP;lr;user=phone;maddr=10.0.0.1"),
    (tr("uri.params"), "sip:bob@example.com", None),
    (tr("uri.param", "transport"), URI, "TCP"),
    (tr("uri.param", "TRANSPORT"), URI, "TCP"),
    (tr("uri.param", "lr"), URI, ""),
    (tr("uri.param", "nope"), URI, None),
    (tr("uri.param", "lr"), "sip:bob@example.com", None),
    (tr("uri.headers"), URI, "subject=hi&x=y"),
    (tr("uri.transport"), URI, "TCP"),
    (tr("uri.maddr"), URI, "10.0.0.1"),
    (tr("uri.uparam"), URI, "phone"),
    (tr("uri.lr"), URI, None),
    (tr("uri.schema"), "sips:bob@example.com", "sips"),
    (tr("uri.user"), "sip:example.com", None),
    (tr("uri.user"), "tel:+15551234;phone-context=x", "+15551234"),
    (tr("uri.user"), "not a uri", None),
    (tr("uri.user"), "<sip:a@b>", None),
    (tr("uri.user"), "", None),
    (tr("uri.host"), 5, None),
    # param.*
    (tr("param.value", "tag"), ";tag=abc;q=0.5;lr", "abc"),
    (tr("param.value", "Q"), "tag=abc;q=0.5;lr", "0.5"),
    (tr("param.value", "lr"), "tag=abc;q=0.5;lr", ""),
    (tr("param.value", "x"), "tag=abc", None),
    (tr("param.value", "a"), 'a="quoted; value";b=1', "quoted; value"),
    (tr("param.valueat", 1), "a=1;b=2;c", "2"),
    (tr("param.valueat", -1), "a=1;b=2;c", ""),
    (tr("param.valueat", 3), "a=1;b=2;c", None),
    (tr("param.name", 0), "a=1;b=2;c", "a"),
    (tr("param.name", -1), "a=1;b=2;c", "c"),
    (tr("param.count"), "a=1;b=2;c", 3),
    (tr("param.exist", "b"), "a=1;b=2;c", 1),
    (tr("param.exists", "z"), "a=1;b=2;c", 0),
    (tr("param.count"), "", None),
    (tr("param.count"), ";;", None),
    # nameaddr.*
    (tr("nameaddr.uri"), '"Alice" <sip:alice@a.example>;tag=9', "sip:alice@a.example"),
    (tr("nameaddr.name"), '"Alice" <sip:alice@a.example>;tag=9', '"Alice"'),
    (tr("nameaddr.name"), "<sip:alice@a.example>", None),
    (tr("nameaddr.param", "tag"), '"Alice" <sip:alice@a.example>;tag=9;x', "9"),
    (tr("nameaddr.param", "x"), '"Alice" <sip:alice@a.example>;tag=9;x', None),
    (tr("nameaddr.params"), '"Alice" <sip:alice@a.example>;tag=9;x', "tag=9;x"),
    (tr("nameaddr.len"), "<sip:a@b>;p=1", 9),  # the name-addr, not its parameters (OpenSIPS 3.6)
    (tr("nameaddr.len"), "<sip:a@b>", 11),  # no parameters: OpenSIPS counts its appended CRLF
    (tr("nameaddr.uri"), "sip:alice@a.example;tag=9", "sip:alice@a.example"),
    (tr("nameaddr.param", "tag"), "sip:alice@a.example;tag=9", "9"),
    (tr("nameaddr.uri", 1), "<sip:a@x>, <sip:b@y>", "sip:b@y"),
    (tr("nameaddr.uri", -1), "<sip:a@x>, <sip:b@y>", "sip:b@y"),
    (tr("nameaddr.uri", 2), "<sip:a@x>, <sip:b@y>", None),
    (tr("nameaddr.param", 1, "q"), "<sip:a@x>;q=1, <sip:b@y>;q=0.5", "0.5"),
    (tr("nameaddr.uri"), '"unterminated <sip:a@b>', None),
    (tr("nameaddr.uri"), "<sip:a@b", None),
    # via.*
    (tr("via.name"), "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=5062;received=1.2.3.4", "SIP"),
    (tr("via.version"), "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", "2.0"),
    (tr("via.transport"), "SIP/2.0/WSS abc.invalid;branch=z9hG4bK1", "WSS"),
    (tr("via.host"), "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", "10.0.0.1"),
    (tr("via.host"), "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1", "[2001:db8::1]"),
    (tr("via.port"), "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", 5060),
    (tr("via.port"), "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1", None),
    (tr("via.branch"), "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport", "z9hG4bK1"),
    (tr("via.rport"), "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport", None),
    (tr("via.rport"), "SIP/2.0/UDP 10.0.0.1;rport=5062", "5062"),
    (tr("via.received"), "SIP/2.0/UDP 10.0.0.1;received=1.2.3.4", "1.2.3.4"),
    # params run up to the comment, the blank before it included (OpenSIPS 3.6)
    (tr("via.params"), "SIP/2.0/UDP h;branch=z9hG4bK1;x=1 (a comment)", "branch=z9hG4bK1;x=1 "),
    (tr("via.comment"), "SIP/2.0/UDP h;branch=z9hG4bK1 (a comment)", "a comment"),
    (tr("via.param", "x"), "SIP/2.0/UDP h;branch=z9hG4bK1;x=1", "1"),
    (tr("via.host"), "garbage", None),
    # csv.*
    (tr("csv.count"), 'a,"b,c",d', 3),
    (tr("csv.value", 1), 'a,"b,c",d', "b,c"),
    (tr("csv.value", 0), '"say ""hi""",x', 'say "hi"'),
    (tr("csv.value", -1), "a,b,", ""),
    (tr("csv.value", 5), "a,b", None),
    (tr("csv.count"), "", None),
    # ip.*
    (tr("ip.isip"), "10.0.0.1", 1),
    (tr("ip.isip"), "2001:db8::1", 1),
    (tr("ip.isip"), "example.com", 0),
    (tr("ip.isip4"), "2001:db8::1", 0),
    (tr("ip.isip6"), "[2001:db8::1]", 1),
    (tr("ip.isprivate"), "192.168.1.1", 1),
    (tr("ip.isprivate"), "100.64.0.1", 1),
    (tr("ip.isprivate"), "8.8.8.8", 0),
    (tr("ip.isprivate"), "fd00::1", 0),
    (tr("ip.matches", "10.0.0.0/8"), "10.1.2.3", 1),
    (tr("ip.matches", "10.0.0.0/8"), "11.1.2.3", 0),
    (tr("ip.matches", "10.0.0.0/8"), "2001:db8::1", None),
    (tr("ip.matches", "10.0.0.0/8"), "nope", None),
    (tr("ip.pton"), "127.0.0.1", "\x7f\x00\x00\x01"),
    (tr("ip.ntop"), "\x7f\x00\x00\x01", "127.0.0.1"),
    (tr("ip.family"), "\x7f\x00\x00\x01", "INET"),
    (tr("ip.family"), "abc", None),
    # re.subst
    (tr("re.subst", "/^sip:([^@]+)@.*$/\\1/"), "sip:alice@example.com", "alice"),
    (tr("re.subst", "/a/b/g"), "banana", "bbnbnb"),
    (tr("re.subst", "/a/b/"), "banana", "bbnana"),
    (tr("re.subst", "/A/x/i"), "banana", "bxnana"),
    (tr("re.subst", "/z/x/"), "banana", "banana"),
    (tr("re.subst", "#/#-#g"), "a/b/c", "a-b-c"),
    # sdp.line
    (tr("sdp.line", "m"), SDP, "m=audio 4000 RTP/AVP 0"),
    (tr("sdp.line", "m", 1), SDP, "m=video 5000 RTP/AVP 31"),
    (tr("sdp.line", "m", 2), "v=0\r\nm=audio 4000 RTP/AVP 0\r\n", None),
    (tr("sdp.line", "b"), "v=0\r\n", None),
]


@pytest.mark.parametrize(("transform", "value", "expected"), CASES, ids=lambda x: getattr(x, "name", repr(x)))
def test_sip_transformation(transform: ast.Transform, value: Value, expected: Value) -> None:
    assert apply(value, transform) == expected


@pytest.mark.parametrize("name", sorted({c[0].name for c in CASES}))
def test_null_in_null_out(name: str) -> None:
    transform = next(c[0] for c in CASES if c[0].name == name)
    assert apply(None, transform) is None


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        (tr("uri.nope"), "unknown transformation {uri.nope}"),
        (tr("uri.user", 1), "takes 0 argument"),
        (tr("uri.param"), "takes 1 argument"),
        (tr("param.value"), "takes 1 argument"),
        (tr("param.valueat", "x"), "is not a number"),
        (tr("param.nope"), "unknown transformation"),
        (tr("nameaddr.param", 1, 2), "must be a string"),
        (tr("nameaddr.bogus"), "unknown transformation"),
        (tr("via.nope"), "unknown transformation"),
        (tr("csv.value"), "takes 1 argument"),
        (tr("ip.resolve"), "not supported"),
        (tr("ip.matches", "10.0.0.1"), "IP/prefix"),
        (tr("re.subst", "abc"), "bad substitution"),
        (tr("re.subst", "/(/x/"), "bad substitution"),
        (tr("re.other", "/a/b/"), "unknown transformation"),
        (tr("sdp.stream", "audio"), "not supported"),
        (tr("sdp.line", "mm"), "one-letter"),
    ],
)
def test_load_errors(transform: ast.Transform, message: str) -> None:
    with pytest.raises(PVError) as info:
        compile_pvar(ast.PVar("var", "x", transforms=(transform,), pos=POS), REG)
    assert message in info.value.message


INVITE = (
    "INVITE sip:bob@example.com;transport=ws SIP/2.0\r\n"
    "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKnashds7\r\n"
    'From: "Alice" <sip:alice@example.com>;tag=456248\r\n'
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: c1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>;expires=600\r\n"
    "Diversion: <sip:carol@example.com>;reason=unconditional;counter=1\r\n"
    "Content-Length: 0\r\n\r\n"
)


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (ast.PVar("ct", transforms=(tr("nameaddr.uri"),)), "sip:alice@df7jal23ls0d.invalid;transport=ws"),
        (ast.PVar("ct", transforms=(tr("nameaddr.uri"), tr("uri.host"))), "df7jal23ls0d.invalid"),
        (ast.PVar("ct", transforms=(tr("nameaddr.param", "expires"),)), "600"),
        (ast.PVar("hdr", "Diversion", transforms=(tr("nameaddr.param", "reason"),)), "unconditional"),
        (ast.PVar("ru", transforms=(tr("uri.param", "transport"),)), "ws"),
        (ast.PVar("hdr", "Via", transforms=(tr("via.transport"),)), "WSS"),
        (ast.PVar("hdr", "From", transforms=(tr("nameaddr.param", "tag"),)), "456248"),
        (ast.PVar("fu", transforms=(tr("uri.user"), tr("s.toupper"))), "ALICE"),
        (ast.PVar("hdr", "X-None", transforms=(tr("nameaddr.uri"),)), None),
    ],
)
def test_on_message_variables(node: ast.PVar, expected: Value) -> None:
    msg = parse_message(INVITE.encode())
    assert isinstance(msg, SipMessage)
    assert compile_pvar(node, REG).get(MsgContext(ProcessState(), msg)) == expected
