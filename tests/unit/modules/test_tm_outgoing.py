"""tm's relayed reply: the quick cut of our Via line gives the same bytes as the general path."""

from __future__ import annotations

import pytest
from test_tm_fake import tm_exports

from pysips.sip.message import SipMessage, parse_message

tm_exports()  # loads the bundled tm package
from pysips_modules.tm.outgoing import relayed_reply  # noqa: E402

TAIL = (
    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: c1\r\n"
    "CSeq: 1 INVITE\r\nContent-Length: 4\r\n\r\nv=0\r\n"
)
OURS = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKours.0"
THEIRS = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKcaller;received=10.0.0.2;rport=5060"


def reply(head: str) -> SipMessage:
    parsed = parse_message(("SIP/2.0 180 Ringing\r\n" + head + TAIL).encode())
    assert isinstance(parsed, SipMessage)
    return parsed


def general(head: str) -> bytes:
    msg = reply(head)
    msg.pop_via()
    return msg.serialize()


@pytest.mark.parametrize("head", [
    f"Via: {OURS}\r\nVia: {THEIRS}\r\n",  # the usual layout: the quick path
    f"v: {OURS}\r\nv: {THEIRS}\r\n",  # compact form
    f"VIA : {OURS}\r\nVia: {THEIRS}\r\n",
    f"Via: {OURS}, {THEIRS}\r\n",  # both values on one line: the general path
    f"Via: {OURS}\r\n {';x=1'}\r\nVia: {THEIRS}\r\n",  # folded
    f"Record-Route: <sip:p;lr>\r\nVia: {OURS}\r\nVia: {THEIRS}\r\n",  # another header first
])
def test_relayed_reply_drops_exactly_our_via(head: str) -> None:
    out = relayed_reply(reply(head))
    assert out == general(head)
    parsed = parse_message(out)
    assert isinstance(parsed, SipMessage)
    assert [v.branch for v in parsed.vias] == ["z9hG4bKcaller"]
    assert parsed.body == b"v=0\r"  # Content-Length: 4


def test_trailing_bytes_after_the_body_are_not_relayed() -> None:
    head = f"Via: {OURS}\r\nVia: {THEIRS}\r\n"
    msg = parse_message(("SIP/2.0 180 Ringing\r\n" + head + TAIL + "junk").encode())
    assert isinstance(msg, SipMessage)
    assert relayed_reply(msg).endswith(b"\r\n\r\nv=0\r")
