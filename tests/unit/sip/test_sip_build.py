from __future__ import annotations

from pysips.sip.branch import make_branch, new_branch, parse_branch, stateless_branch, transaction_key
from pysips.sip.build import make_ack_for_non2xx, make_cancel, make_request, make_response, tag_of
from pysips.sip.message import SipMessage, parse_message

REQUEST = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport\r\n"
    b"Via: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bKdef\r\n"
    b"Max-Forwards: 70\r\n"
    b"Record-Route: <sip:p1.example.com;lr>\r\n"
    b"Route: <sip:p9.example.com;lr>\r\n"
    b"From: Alice <sip:alice@example.com>;tag=1234\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: abc@192.0.2.1\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Timestamp: 54\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def msg(data: bytes) -> SipMessage:
    result = parse_message(data)
    assert isinstance(result, SipMessage), result
    return result


def test_response_copies_headers_and_adds_to_tag() -> None:
    request = msg(REQUEST)
    reply = msg(
        make_response(
            request,
            180,
            "Ringing",
            to_tag="xyz",
            copy_record_route=True,
            extra_headers=["Contact: <sip:bob@192.0.2.9>"],
        )
    )
    assert reply.status == 180 and reply.reason == "Ringing"
    assert reply.raw_header_bytes("via") == request.raw_header_bytes(
        "via"
    )  # byte for byte, compact name kept
    assert reply.to_tag == "xyz" and reply.from_tag == "1234" and reply.call_id == request.call_id
    assert (reply.cseq.number, reply.cseq.method) == (7, "INVITE")
    assert reply.record_routes()[0].uri == "sip:p1.example.com;lr"
    assert reply.header("contact") == "<sip:bob@192.0.2.9>" and reply.content_length == 0
    assert reply.header("timestamp") is None


def test_100_trying_has_no_tag_but_echoes_timestamp() -> None:
    reply = msg(make_response(msg(REQUEST), 100, "Trying", to_tag="xyz"))
    assert reply.to_tag is None and reply.header("timestamp") == "54" and reply.header("record-route") is None


def test_existing_to_tag_is_kept() -> None:
    request = msg(REQUEST.replace(b"To: <sip:bob@example.com>", b"To: <sip:bob@example.com>;tag=old"))
    assert msg(make_response(request, 200, "OK", to_tag="new")).to_tag == "old"


def test_a_to_tag_in_any_spelling_is_kept() -> None:
    # an unusual spelling (case, spaces) is read by the full name-addr parser, not the quick search
    for to in (b"To: <sip:bob@example.com> ; TAG = old", b"t: <sip:bob@example.com>;Tag=old;x=1"):
        request = msg(REQUEST.replace(b"To: <sip:bob@example.com>", to))
        assert request.to_tag == "old"
        assert make_response(request, 200, "OK", to_tag="new").count(b"new") == 0


def test_a_to_that_does_not_parse_keeps_a_written_tag_and_gets_one_otherwise() -> None:
    # junk after the URI: the full parser fails, a ";tag=" written in it still counts
    broken = parse_message(REQUEST.replace(b"To: <sip:bob@example.com>", b"To: <sip:bob@ex.com;tag=old> x"))
    assert not isinstance(broken, SipMessage) and broken.partial is not None  # the 400 is built on it
    written = broken.partial
    assert written.to_tag is None
    assert b"To: <sip:bob@ex.com;tag=old> x\r\n" in make_response(written, 400, "Bad", to_tag="new")
    bare = msg(REQUEST.replace(b"To: <sip:bob@example.com>", b"To: <sip:bob@example.com"))
    assert bare.check() is not None
    assert b"To: <sip:bob@example.com;tag=new\r\n" in make_response(bare, 400, "Bad", to_tag="new")


def test_response_with_body() -> None:
    reply = msg(
        make_response(msg(REQUEST), 200, "OK", to_tag="t", body=b"v=0\r\n", content_type="application/sdp")
    )
    assert reply.body == b"v=0\r\n" and reply.content_type == "application/sdp"


def test_cancel_per_section_9_1() -> None:
    request = msg(REQUEST)
    cancel = msg(make_cancel(request))
    assert cancel.method == "CANCEL" and cancel.ruri == request.ruri
    assert len(cancel.vias) == 1 and cancel.vias[0].branch == "z9hG4bKabc"
    assert (cancel.cseq.number, cancel.cseq.method) == (7, "CANCEL")
    assert cancel.from_tag == "1234" and cancel.to_tag is None and cancel.call_id == request.call_id
    assert [r.uri for r in cancel.routes()] == ["sip:p9.example.com;lr"]
    assert transaction_key(cancel) == transaction_key(request)


def test_ack_for_non_2xx_takes_the_reply_to_tag() -> None:
    request = msg(REQUEST)
    reply = msg(make_response(request, 486, "Busy Here", to_tag="busy"))
    ack = msg(make_ack_for_non2xx(request, reply))
    assert ack.method == "ACK" and ack.ruri == request.ruri and ack.to_tag == "busy"
    assert len(ack.vias) == 1 and ack.vias[0].branch == "z9hG4bKabc"
    assert (ack.cseq.number, ack.cseq.method) == (7, "ACK")
    assert [r.uri for r in ack.routes()] == ["sip:p9.example.com;lr"]


def test_new_request() -> None:
    data = make_request(
        "OPTIONS",
        "sip:gw@example.com",
        from_="<sip:ping@example.org>;tag=1",
        to="<sip:gw@example.com>",
        call_id="c1",
        cseq=3,
        via="SIP/2.0/UDP 192.0.2.5;branch=" + new_branch(),
        routes=["<sip:p;lr>"],
        extra_headers=["Accept: application/sdp"],
    )
    m = msg(data)
    assert m.method == "OPTIONS" and m.cseq.number == 3 and m.max_forwards == 70 and m.validate() is None
    assert m.top_via is not None and m.top_via.rfc3261_branch and m.header("accept") == "application/sdp"
    assert tag_of("<sip:a@b>;tag=9") == "9" and tag_of("<broken") is None


def test_branches() -> None:
    first, second = new_branch(), new_branch()
    assert first != second and first.startswith("z9hG4bK") and second.startswith("z9hG4bK")
    branch = make_branch("a1b2", 3)
    assert parse_branch(branch) == ("a1b2", 3)
    assert (
        parse_branch("z9hG4bKnodot") is None and parse_branch("123.4") is None and parse_branch(None) is None
    )


def test_stateless_branch_is_shared_by_invite_and_its_cancel() -> None:
    request = msg(REQUEST)
    cancel = msg(make_cancel(request))
    other = msg(REQUEST.replace(b"z9hG4bKabc", b"z9hG4bKzzz"))
    assert stateless_branch(request) == stateless_branch(cancel) != stateless_branch(other)
    legacy = msg(REQUEST.replace(b";branch=z9hG4bKabc", b""))
    legacy_cancel = msg(make_cancel(legacy))
    assert stateless_branch(legacy) == stateless_branch(legacy_cancel)
