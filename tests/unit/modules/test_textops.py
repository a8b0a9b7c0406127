"""textops: search/replace/subst over parsed messages, checked on the serialized output."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pysips.script.context import MsgContext, ProcessState
from pysips.script.errors import FixupError
from pysips.script.exports import FixupContext, ModuleExports
from pysips.script.flags import FlagRegistry
from pysips.script.loader import ModuleFinder
from pysips.script.posixre import compile_posix
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

RCV = ReceiveInfo("udp", "10.0.0.1", 5060, "10.0.0.2", 5062)
FCTX = FixupContext(FlagRegistry(), {})

BODY = "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n"
INVITE = (
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-1\r\n"
    "From: <sip:alice@example.com>;tag=a1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: c1\r\n"
    "CSeq: 1 INVITE\r\n"
    "User-Agent: OldPhone 1.0\r\n"
    "Content-Type: application/sdp\r\n"
    f"Content-Length: {len(BODY)}\r\n"
    "\r\n" + BODY
)


def exports() -> ModuleExports:
    found = ModuleFinder().find("textops")
    assert found is not None
    return found.exports


def call(name: str, ctx: MsgContext, *args: Any) -> int:
    fexp = exports().functions_by_name[name]
    fixed = []
    for spec, arg in zip(fexp.args, args, strict=False):
        value = compile_posix(arg) if spec.kind.name == "REGEX" else arg
        fixed.append(spec.fixup(value, FCTX) if spec.fixup is not None else value)
    return fexp.handler(ctx, *fixed)


def ctx_for(text: str = INVITE) -> MsgContext:
    msg = parse_message(text.encode())
    assert isinstance(msg, SipMessage), msg
    return MsgContext(ProcessState(), msg, RCV)


def out(ctx: MsgContext) -> str:
    return ctx.msg.serialize().decode()


def test_search_and_search_body() -> None:
    ctx = ctx_for()
    assert call("search", ctx, "^user-agent: oldphone") == 1  # case-insensitive, ^ at line starts
    assert call("search", ctx, "^INVITE sip:bob") == 1
    assert call("search", ctx, "Asterisk") == -1
    assert call("search_body", ctx, "^m=audio [0-9]+") == 1
    assert call("search_body", ctx, "User-Agent") == -1


def test_replace_first_and_all_keep_the_first_line() -> None:
    ctx = ctx_for()
    assert call("replace", ctx, "10\\.0\\.0\\.2", "192.0.2.9") == 1
    text = out(ctx)
    assert "Via: SIP/2.0/UDP 192.0.2.9:5062" in text
    assert text.count("10.0.0.2") == 2  # only the first match changed
    ctx = ctx_for()
    assert call("replace_all", ctx, "example\\.com", "example.org") == 1
    text = out(ctx)
    assert text.startswith("INVITE sip:bob@example.com SIP/2.0\r\n")  # the R-URI is left alone
    assert "<sip:alice@example.org>" in text and "<sip:bob@example.org>" in text
    assert call("replace", ctx_for(), "nomatch", "x") == -1


def test_replace_body_all_keeps_content_length_of_lumps_consistent() -> None:
    ctx = ctx_for()
    assert call("replace_body_all", ctx, "10\\.0\\.0\\.2", "203.0.113.1") == 1
    text = out(ctx)
    assert text.count("c=IN IP4 203.0.113.1") == 2
    assert "Via: SIP/2.0/UDP 10.0.0.2" in text
    ctx = ctx_for()
    assert call("replace_body", ctx, "IP4 10", "IP4 11") == 1
    assert out(ctx).count("IP4 11.0.0.2") == 1


def test_search_append() -> None:
    ctx = ctx_for()
    assert call("search_append", ctx, "OldPhone 1\\.0", " (patched)") == 1
    assert "User-Agent: OldPhone 1.0 (patched)\r\n" in out(ctx)
    ctx = ctx_for()
    assert call("search_append_body", ctx, "^v=0\r\n", "o=- 1 1 IN IP4 1.2.3.4\r\n") == 1
    assert "\r\n\r\nv=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN" in out(ctx)


def test_subst_with_groups_and_flags() -> None:
    ctx = ctx_for()
    # as with POSIX REG_NEWLINE, only LF ends a line: `.*` would take the CR along
    assert call("subst", ctx, "/^(User-Agent): ([^\r]*)/\\1: pysips (was \\2)/") == 1
    assert "User-Agent: pysips (was OldPhone 1.0)\r\n" in out(ctx)
    ctx = ctx_for()
    assert call("subst", ctx, "/user-agent/X-UA/") == -1  # case-sensitive without i
    assert call("subst", ctx, "/user-agent/X-UA/i") == 1
    ctx = ctx_for()
    assert call("subst_body", ctx, "/10\\.0\\.0\\.2/1.1.1.1/g") == 1
    assert out(ctx).count("c=IN IP4 1.1.1.1") == 2


def test_subst_uri_and_user() -> None:
    ctx = ctx_for()
    assert call("subst_uri", ctx, "/^sip:([a-z]+)@example\\.com$/sip:\\1@gw.example.net;user=phone/") == 1
    assert ctx.new_ruri == "sip:bob@gw.example.net;user=phone"
    assert call("subst_user", ctx, "/^bob$/+4930123/") == 1
    assert ctx.new_ruri == "sip:+4930123@gw.example.net;user=phone"
    assert call("subst_uri", ctx, "/nomatch/x/") == -1


@pytest.mark.parametrize("bad", ["/a/b", "ab", "/a/$var(x)/", "/(/x/", "/a/b/q", "/a/\\3/"])
def test_bad_subst_expressions_are_load_errors(bad: str) -> None:
    spec = exports().functions_by_name["subst"].args[0]
    assert spec.static
    with pytest.raises(FixupError):
        assert spec.fixup is not None
        spec.fixup(bad, FCTX)


def test_regex_fixup_adds_line_anchors_once() -> None:
    spec = exports().functions_by_name["search"].args[0]
    assert spec.fixup is not None
    fixed = spec.fixup(compile_posix("^b"), FCTX)
    assert isinstance(fixed, re.Pattern) and fixed.flags & re.MULTILINE and fixed.flags & re.IGNORECASE
