"""sipmsgops on parsed messages: fixups, return codes, and the serialized result of the lumps."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from pysips.script.context import MsgContext, ProcessState
from pysips.script.errors import FixupError
from pysips.script.exports import FixupContext, ModuleExports
from pysips.script.flags import FlagRegistry
from pysips.script.loader import ModuleFinder
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

RCV = ReceiveInfo("udp", "10.0.0.1", 5060, "10.0.0.2", 5062)
FCTX = FixupContext(FlagRegistry(), {})

INVITE = (
    "INVITE sip:bob@example.com;transport=udp;lr SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-1\r\n"
    "From: <sip:+15551234567@example.com>;tag=a1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: c1\r\n"
    "CSeq: 1 INVITE\r\n"
    "X-Foo: 1\r\n"
    "X-Bar: 2\r\n"
    "x-foo: 3\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n"
)

REPLY = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-1\r\n"
    "From: <sip:a@example.com>;tag=a1\r\n"
    "To: <sip:b@example.com>;tag=b2\r\n"
    "Call-ID: c1\r\n"
    "CSeq: 7 BYE\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)


def exports() -> ModuleExports:
    found = ModuleFinder().find("sipmsgops")
    assert found is not None
    return found.exports


def call(name: str, ctx: MsgContext, *args: Any) -> int:
    """Runs the handler with each argument passed through its spec's fixup, as the loader does."""
    fexp = exports().functions_by_name[name]
    fixed = []
    for spec, arg in zip(fexp.args, args, strict=False):
        fixed.append(spec.fixup(arg, FCTX) if spec.fixup is not None and arg is not None else arg)
    handler: Callable[..., int] = fexp.handler
    return handler(ctx, *fixed)


def ctx_for(text: str = INVITE) -> MsgContext:
    msg = parse_message(text.encode())
    assert isinstance(msg, SipMessage), msg
    return MsgContext(ProcessState(), msg, RCV)


def out(ctx: MsgContext) -> str:
    return ctx.msg.serialize().decode()


@pytest.mark.parametrize(
    ("methods", "ret"),
    [("INVITE", 1), ("REGISTER|INVITE", 1), ("BYE|CANCEL", -1), ("invite", 1), ("FOO", -1)],
)
def test_is_method_on_request(methods: str, ret: int) -> None:
    assert call("is_method", ctx_for(), methods) == ret


def test_is_method_on_reply_uses_cseq_and_fixup_makes_a_set() -> None:
    assert call("is_method", ctx_for(REPLY), "BYE|CANCEL") == 1
    assert call("is_method", ctx_for(REPLY), "INVITE") == -1
    methods = exports().functions_by_name["is_method"].args[0].fixup("INVITE|BYE", FCTX)  # type: ignore[misc]
    assert methods.exact == frozenset({"INVITE", "BYE"})
    with pytest.raises(FixupError):
        exports().functions_by_name["is_method"].args[0].fixup("INVITE||BYE", FCTX)  # type: ignore[misc]


def test_is_method_unknown_method_case_insensitive() -> None:
    text = INVITE.replace("INVITE sip", "FOO sip").replace("1 INVITE", "1 FOO")
    assert call("is_method", ctx_for(text), "foo|BAR") == 1


def test_has_totag() -> None:
    assert call("has_totag", ctx_for()) == -1
    assert call("has_totag", ctx_for(REPLY)) == 1


def test_has_body_with_and_without_type() -> None:
    assert call("has_body", ctx_for()) == 1
    assert call("has_body", ctx_for(), "application/sdp") == 1
    assert call("has_body", ctx_for(), "Application/SDP") == 1
    assert call("has_body", ctx_for(), "text/plain") == -1
    assert call("has_body", ctx_for(REPLY)) == -1
    assert call("has_body", ctx_for(REPLY), "application/sdp") == -1


def test_has_body_finds_a_multipart_part() -> None:
    body = (
        "--xyz\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
        "--xyz\r\nContent-Type: application/isup\r\n\r\nabc\r\n--xyz--\r\n"
    )
    text = INVITE.replace("Content-Type: application/sdp", 'Content-Type: multipart/mixed;boundary="xyz"')
    text = text.replace("Content-Length: 4\r\n\r\nv=0\n", f"Content-Length: {len(body)}\r\n\r\n{body}")
    ctx = ctx_for(text)
    assert call("has_body", ctx, "application/sdp") == 1
    assert call("has_body", ctx, "application/isup") == 1
    assert call("has_body", ctx, "multipart/mixed") == 1
    assert call("has_body", ctx, "text/html") == -1


def test_is_present_hf_uses_canonical_names() -> None:
    ctx = ctx_for()
    assert call("is_present_hf", ctx, "x-FOO") == 1
    assert call("is_present_hf", ctx, "f") == 1  # compact form of From
    assert call("is_present_hf", ctx, "Route") == -1


def test_append_hf_is_a_lump_invisible_to_header_reads() -> None:
    ctx = ctx_for()
    assert call("append_hf", ctx, "P-hint: outbound\r\n") == 1
    assert ctx.msg.header("P-hint") is None  # OpenSIPS semantics: not visible before sending
    assert call("is_present_hf", ctx, "P-hint") == -1
    assert "Content-Length: 4\r\nP-hint: outbound\r\n\r\nv=0\n" in out(ctx)


def test_append_and_insert_next_to_a_header() -> None:
    ctx = ctx_for()
    assert call("append_hf", ctx, "A: 1", "Call-ID") == 1  # CRLF added when missing
    assert call("insert_hf", ctx, "B: 2\r\n", "CSeq") == 1
    assert call("insert_hf", ctx, "C: 3\r\n") == 1
    text = out(ctx)
    assert "Call-ID: c1\r\nA: 1\r\nB: 2\r\nCSeq: 1 INVITE\r\n" in text
    assert text.split("\r\n")[1] == "C: 3"
    # an anchor header that is absent falls back to the end
    ctx2 = ctx_for()
    call("append_hf", ctx2, "D: 4\r\n", "Nope")
    assert "D: 4\r\n\r\n" in out(ctx2)


def test_remove_hf_variants() -> None:
    ctx = ctx_for()
    assert call("remove_hf", ctx, "X-Foo") == 1
    assert call("remove_hf", ctx, "X-Nope") == -1
    text = out(ctx)
    assert "X-Foo" not in text and "x-foo" not in text and "X-Bar: 2" in text
    ctx = ctx_for()
    assert call("remove_hf_re", ctx, re.compile("^x-", re.I)) == 1
    assert "X-" not in out(ctx) and "x-foo" not in out(ctx)
    ctx = ctx_for()
    assert call("remove_hf_glob", ctx, "X-B*") == 1
    assert "X-Bar" not in out(ctx) and "X-Foo: 1" in out(ctx)
    assert call("remove_hf_glob", ctx_for(), "Nothing*") == -1


def test_2x_remove_hf_with_flags() -> None:
    """2.x remove_hf(name, "r"|"g"): the name is a regex or a glob (3.x: remove_hf_re/_glob)."""
    ctx = ctx_for()
    assert call("remove_hf/2", ctx, "^x-f", "r") == 1
    assert "X-Foo" not in out(ctx) and "x-foo" not in out(ctx) and "X-Bar: 2" in out(ctx)
    ctx = ctx_for()
    assert call("remove_hf/2", ctx, "X-B*", "g") == 1
    assert "X-Bar" not in out(ctx) and "X-Foo: 1" in out(ctx)
    ctx = ctx_for()
    assert call("remove_hf/2", ctx, "x-foo", "") == 1
    assert "X-Foo" not in out(ctx) and "x-foo" not in out(ctx) and "X-Bar: 2" in out(ctx)
    assert call("remove_hf/2", ctx_for(), "^X-Nope", "r") == -1
    with pytest.raises(FixupError):
        call("remove_hf/2", ctx_for(), "X-Foo", "x")


def test_append_urihf_and_append_to_reply() -> None:
    ctx = ctx_for()
    assert call("append_urihf", ctx, "X-Uri: <", ">\r\n") == 1
    assert "X-Uri: <sip:bob@example.com;transport=udp;lr>\r\n" in out(ctx)
    assert call("append_to_reply", ctx, "Contact: <sip:x@y>\r\nX-A: 1\r\n") == 1
    assert ctx.extra["core.reply_headers"] == ["Contact: <sip:x@y>", "X-A: 1"]


def test_ruri_params() -> None:
    ctx = ctx_for()
    assert call("ruri_has_param", ctx, "transport", "udp") == 1
    assert call("ruri_has_param", ctx, "transport", "tcp") == -1
    assert call("ruri_has_param", ctx, "lr") == 1
    assert call("ruri_has_param", ctx, "transport") == -1  # has a value, none asked
    assert call("ruri_add_param", ctx, "user=phone") == 1
    assert ctx.new_ruri == "sip:bob@example.com;transport=udp;lr;user=phone"
    assert call("ruri_has_param", ctx, "user", "phone") == 1  # reads the new R-URI
    assert call("ruri_del_param", ctx, "transport") == 1
    assert ctx.new_ruri == "sip:bob@example.com;lr;user=phone"
    assert call("ruri_del_param", ctx, "nope") == -1


def test_ruri_add_param_before_uri_headers() -> None:
    ctx = ctx_for()
    ctx.new_ruri = "sip:bob@example.com?Subject=x"
    assert call("ruri_add_param", ctx, "a=1") == 1
    assert ctx.new_ruri == "sip:bob@example.com;a=1?Subject=x"


@pytest.mark.parametrize(
    ("uri", "ret"),
    [("sip:+15551234567@example.com", 1), ("sip:15551234567@example.com", -1), ("sip:+1@x", -1),
     ("sip:+1555abc@x", -1), ("sip:example.com", -1), ("garbage", -1)],
)
def test_is_uri_user_e164(uri: str, ret: int) -> None:
    assert call("is_uri_user_e164", ctx_for(), uri) == ret


def test_ruri_tel2sip() -> None:
    ctx = ctx_for()
    ctx.new_ruri = "tel:+4930123"
    assert call("ruri_tel2sip", ctx) == 1
    assert ctx.new_ruri == "sip:+4930123@example.com;user=phone"


def test_unimplemented_functions_are_declared_missing() -> None:
    fexp = exports().functions_by_name["sipmsg_validate"]
    assert fexp.missing
