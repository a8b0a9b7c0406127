"""nathelper fix_nated_sdp(): SDP rewriting as OpenSIPS 3.6 does it."""

from __future__ import annotations

import pytest
from test_registrar_fakes import Fx, fn, module

from pysips.script.ast import NOWHERE
from pysips.script.errors import FixupError
from pysips.script.exports import FixupContext
from pysips.script.flags import FlagRegistry

SDP = (
    "v=0\r\n"
    "o=- 1 1 IN IP4 192.168.1.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.168.1.10\r\n"
    "t=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\n"
    "c=IN IP4 192.168.1.11\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
)


def invite_with(body: str, ctype: str = "application/sdp") -> str:
    return (
        "INVITE sip:alice@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKinv1\r\n"
        "From: <sip:bob@example.com>;tag=b1\r\n"
        "To: <sip:alice@example.com>\r\n"
        "Call-ID: inv-1\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Content-Type: {ctype}\r\n"
        f"Content-Length: {len(body.encode())}\r\n\r\n" + body
    )


def flags(text: str) -> int:
    fix = module("nathelper").functions_by_name["fix_nated_sdp"].args[0].fixup
    assert fix is not None
    return int(fix(text, FixupContext(FlagRegistry(), {}, NOWHERE)))


def body_after(ctx: object) -> str:
    out: str = ctx.msg.serialize().decode()  # type: ignore[attr-defined]
    head, _, body = out.partition("\r\n\r\n")
    length = int(next(x for x in head.split("\r\n") if x.startswith("Content-Length:")).split(":")[1])
    assert length == len(body.encode())
    return body


def test_flag_names_and_2x_numbers() -> None:
    assert flags("add-dir-active") == 1
    assert flags("rewrite-media-ip,rewrite-origin-ip") == 10
    assert flags("3") == 3 and flags("0x10") == 16
    with pytest.raises(FixupError, match="unknown flag"):
        flags("rewrite-everything")


def test_rewrite_media_and_origin_with_old_ip_lines_and_direction() -> None:
    fx = Fx(nh={})
    ctx = fx.ctx(invite_with(SDP), src=("198.51.100.7", 7000))
    assert fn("nathelper", "fix_nated_sdp")(ctx, flags("add-dir-active,rewrite-media-ip,rewrite-origin-ip"),
                                            None, None) == 1
    assert body_after(ctx) == (
        "v=0\r\n"
        "o=- 1 1 IN IP4 198.51.100.7\r\n"
        "s=-\r\n"
        "c=IN IP4 198.51.100.7\r\n"
        "t=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\n"
        "c=IN IP4 198.51.100.7\r\n"
        "a=rtpmap:0 PCMU/8000"
        "\r\na=direction:active"
        "\r\na=oldoip:192.168.1.10"
        "\r\na=oldcip:192.168.1.10\r\na=oldcip:192.168.1.11"
        "\r\n"
    )


def test_given_ip_null_addresses_extra_lines_and_skip() -> None:
    fx = Fx(nh={"oldip_skip": "c", "nortpproxy_str": "a=nortpproxy:yes"})
    sdp = SDP.replace("c=IN IP4 192.168.1.11", "c=IN IP4 0.0.0.0")
    ctx = fx.ctx(invite_with(sdp), src=("198.51.100.7", 7000))
    assert fn("nathelper", "fix_nated_sdp")(ctx, flags("add-no-rtpproxy,rewrite-media-ip"), "203.0.113.9",
                                            "\r\na=x-one") == 1
    body = body_after(ctx)
    assert "c=IN IP4 203.0.113.9\r\nt=0" in body and "c=IN IP4 0.0.0.0" in body  # null left alone
    assert body.endswith("a=rtpmap:0 PCMU/8000\r\na=x-one\r\na=nortpproxy:yes\r\n")
    assert "oldcip" not in body
    ctx = fx.ctx(invite_with(sdp), src=("198.51.100.7", 7000))
    assert fn("nathelper", "fix_nated_sdp")(ctx, flags("rewrite-media-ip,rewrite-null-ips"), None, None) == 1
    assert "c=IN IP4 0.0.0.0" not in body_after(ctx)


def test_multipart_sdp_part_and_errors() -> None:
    fx = Fx(nh={})
    body = ("--b1\r\nContent-Type: application/sdp\r\n\r\n" + SDP + "\r\n--b1\r\n"
            "Content-Type: text/plain\r\n\r\nc=IN IP4 10.9.9.9\r\n--b1--\r\n")
    ctx = fx.ctx(invite_with(body, 'multipart/mixed;boundary="b1"'), src=("198.51.100.7", 7000))
    assert fn("nathelper", "fix_nated_sdp")(ctx, flags("rewrite-media-ip"), None, None) == 1
    out = body_after(ctx)
    assert out.count("c=IN IP4 198.51.100.7") == 2 and "c=IN IP4 10.9.9.9" in out
    assert "a=oldcip:192.168.1.11\r\n\r\n--b1\r\nContent-Type: text/plain" in out
    v6 = SDP.replace("IN IP4 192.168.1.10", "IN IP6 2001:db8::1")
    ctx = fx.ctx(invite_with(v6), src=("198.51.100.7", 7000))
    assert fn("nathelper", "fix_nated_sdp")(ctx, flags("rewrite-origin-ip"), None, None) == -1
