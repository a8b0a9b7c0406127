"""Messages the transaction layer writes: ACK for a non-2xx, 100 Trying; byte-level helpers."""

from __future__ import annotations

from pysips.sip.message import SipMessage, parse_message
from pysips.sip.transaction import build_ack_for_non2xx, build_trying, status_of
from pysips.sip.transaction_build import to_tag_of

COMPACT_INVITE = (
    b"INVITE sip:bob@b.example;transport=udp SIP/2.0\r\n"
    b"v: SIP/2.0/UDP proxy.example;branch=z9hG4bKtop, SIP/2.0/UDP uac.example;branch=z9hG4bKlow\r\n"
    b"Via: SIP/2.0/TCP first.example;branch=z9hG4bKfirst\r\n"
    b"Route: <sip:r1.example;lr>,\r\n <sip:r2.example;lr>\r\n"
    b'f: "A, B" <sip:a@a.example>;tag=from1\r\n'
    b"t: <sip:bob@b.example>\r\n"
    b"i: abc@a.example\r\n"
    b"CSeq:   42   INVITE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"l: 4\r\n\r\nv=0\n"
)


def parsed(data: bytes) -> SipMessage:
    msg = parse_message(data)
    assert isinstance(msg, SipMessage), msg
    return msg


def test_ack_from_compact_folded_request_keeps_only_the_top_via() -> None:
    data = build_ack_for_non2xx(COMPACT_INVITE, "<sip:bob@b.example>;tag=to9")
    assert data is not None
    ack = parsed(data)
    assert ack.method == "ACK" and ack.ruri == "sip:bob@b.example;transport=udp"
    assert [v.branch for v in ack.vias] == ["z9hG4bKtop"]
    assert ack.headers("Route") == ["<sip:r1.example;lr>, <sip:r2.example;lr>"]
    assert ack.header("From") == '"A, B" <sip:a@a.example>;tag=from1'
    assert ack.to.tag == "to9" and ack.call_id == "abc@a.example"
    assert (ack.cseq.number, ack.cseq.method) == (42, "ACK")
    assert ack.max_forwards == 70 and ack.content_length == 0 and ack.body == b""


def test_ack_needs_the_dialog_headers() -> None:
    assert build_ack_for_non2xx(b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", "<sip:x>") is None
    assert build_ack_for_non2xx(b"garbage", "<sip:x>") is None
    bad_cseq = COMPACT_INVITE.replace(b"CSeq:   42", b"CSeq: x")
    assert build_ack_for_non2xx(bad_cseq, "<sip:x>") is None


def test_trying_copies_all_vias_and_no_to_tag() -> None:
    req = parsed(COMPACT_INVITE)
    trying = parsed(build_trying(req))
    assert trying.status == 100
    assert [v.branch for v in trying.vias] == ["z9hG4bKtop", "z9hG4bKlow", "z9hG4bKfirst"]
    assert trying.to.tag is None and trying.call_id == "abc@a.example"
    assert trying.cseq.number == 42 and trying.content_length == 0


def test_status_of_bytes() -> None:
    assert status_of(b"SIP/2.0 180 Ringing\r\n\r\n") == 180
    assert status_of(b"SIP/2.0 200\r\n\r\n") == 200
    assert status_of(b"SIP/2.0 99 Low\r\n") == 0
    assert status_of(b"SIP/2.0 7000 High\r\n") == 0
    assert status_of(b"INVITE sip:x SIP/2.0\r\n") == 0
    assert status_of(b"") == 0


def test_to_tag_of_bytes_ignores_uri_parameters() -> None:
    assert to_tag_of(b"SIP/2.0 486 Busy\r\nTo: <sip:b@h;tag=uri>;tag=real\r\n\r\n") == "real"
    assert to_tag_of(b"SIP/2.0 486 Busy\r\nt: sip:b@h ; TAG = x1\r\n\r\n") == "x1"
    assert to_tag_of(b"SIP/2.0 100 Trying\r\nTo: <sip:b@h>\r\n\r\n") is None
    assert to_tag_of(b"SIP/2.0 100 Trying\r\n\r\n") is None
