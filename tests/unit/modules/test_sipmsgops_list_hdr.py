"""sipmsgops list_hdr_* on parsed messages: what is found, and the serialized result of the edits."""

from __future__ import annotations

from test_sipmsgops import call, ctx_for

from pysips.sip.message import SipMessage

INVITE = (
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-1\r\n"
    "From: <sip:a@example.com>;tag=a1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: c1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Supported: timer, 100rel,path\r\n"
    "Require: precondition\r\n"
    "k: replaces, 100rel\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)


def headers(ctx: object, name: str) -> list[str]:
    msg = ctx.msg  # type: ignore[attr-defined]
    assert isinstance(msg, SipMessage)
    text = msg.serialize().decode()
    return [line for line in text.split("\r\n") if line.lower().startswith(name.lower() + ":")]


def test_has_option_any_instance_case_insensitive() -> None:
    ctx = ctx_for(INVITE)
    assert call("list_hdr_has_option", ctx, "Supported", "100REL") == 1
    assert call("list_hdr_has_option", ctx, "supported", "replaces") == 1  # compact `k:` instance
    assert call("list_hdr_has_option", ctx, "Supported", "100") == -1
    assert call("list_hdr_has_option", ctx, "Allow", "INVITE") == -1


def test_add_option_to_the_first_instance_and_repeat() -> None:
    ctx = ctx_for(INVITE)
    assert call("list_hdr_add_option", ctx, "Supported", "gruu") == 1
    assert call("list_hdr_add_option", ctx, "Supported", "outbound") == 1
    assert headers(ctx, "Supported") == ["Supported: timer, 100rel,path,gruu,outbound"]
    assert call("list_hdr_add_option", ctx, "Allow", "INVITE") == -1  # no such header


def test_remove_option_from_every_instance() -> None:
    ctx = ctx_for(INVITE)
    assert call("list_hdr_remove_option", ctx, "Supported", "100rel") == 1
    assert headers(ctx, "Supported") == ["Supported: timer, path"]
    assert headers(ctx, "k") == ["k: replaces"]
    assert call("list_hdr_remove_option", ctx, "Supported", "timer") == 1
    assert headers(ctx, "Supported") == ["Supported: path"]
    assert call("list_hdr_remove_option", ctx, "Supported", "nothere") == -1


def test_removing_the_only_option_removes_the_header_and_add_rebuilds_it() -> None:
    ctx = ctx_for(INVITE)
    assert call("list_hdr_remove_option", ctx, "Require", "precondition") == 1
    assert headers(ctx, "Require") == []
    assert call("list_hdr_remove_option", ctx, "Require", "precondition") == -1
    assert call("list_hdr_add_option", ctx, "Require", "100rel") == 1
    assert headers(ctx, "Require") == ["Require: 100rel"]
    # $hdr still reads the received value
    assert call("list_hdr_has_option", ctx, "Require", "precondition") == 1
