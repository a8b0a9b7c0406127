from __future__ import annotations

from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.uri import SipUri

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport\r\n"
    b"Via: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bKdef, SIP/2.0/UDP 192.0.2.3;branch=z9hG4bKghi\r\n"
    b"Max-Forwards: 70\r\n"
    b"Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b'From: "Alice" <sip:alice@example.com>;tag=1234\r\n'
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: abc@192.0.2.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.1:5060>\r\n"
    b"X-Thing: one\r\n"
    b"x-thing: two\r\n"
    b"c: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)


def msg(data: bytes = INVITE) -> SipMessage:
    result = parse_message(data)
    assert isinstance(result, SipMessage), result
    return result


def test_routing_fields() -> None:
    m = msg()
    assert m.is_request and m.method == "INVITE" and m.ruri == "sip:bob@example.com" and m.status == 0
    assert m.call_id == "abc@192.0.2.1" and (m.cseq.number, m.cseq.method) == (1, "INVITE")
    assert (
        m.from_tag == "1234" and m.from_.tag == "1234" and m.from_.display == '"Alice"' and m.to_tag is None
    )
    assert m.max_forwards == 70 and m.content_length == len(SDP) and m.body == SDP
    assert m.top_via is not None and m.top_via.branch == "z9hG4bKabc" and m.top_via.rport == ""
    assert [v.host for v in m.vias] == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert m.content_type == "application/sdp"
    assert [r.uri for r in m.routes()] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    uri = m.uri()
    assert isinstance(uri, SipUri) and uri.user == "bob"
    assert m.check() is None and m.validate() is None


def test_header_access_is_case_insensitive_and_knows_compact_forms() -> None:
    m = msg()
    assert m.header("content-type") == m.header("C") == "application/sdp"
    assert m.header("x-THING") == "one" and m.headers("X-Thing") == ["one", "two"]
    assert m.header("nosuch") is None and m.headers("nosuch") == []
    assert m.header_names()[:3] == ["Via", "Via", "Max-Forwards"] and "c" in m.header_names()
    assert m.header_count("via") == 2 and m.has_header("v")


def test_response() -> None:
    m = msg(
        b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
        b"To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    assert not m.is_request and m.status == 180 and m.reason == "Ringing" and m.method == "INVITE"
    assert m.ruri == "" and isinstance(m.uri(), ParseError) and m.to_tag == "2"


def test_errors_are_values_with_status_hints() -> None:
    bad_version = parse_message(INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1))
    assert (
        isinstance(bad_version, ParseError) and bad_version.status == 505 and bad_version.partial is not None
    )
    no_callid = parse_message(INVITE.replace(b"Call-ID: abc@192.0.2.1\r\n", b""))
    assert isinstance(no_callid, ParseError) and no_callid.status == 400 and no_callid.can_answer
    no_via = parse_message(
        INVITE.replace(b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport\r\n", b"").replace(
            b"Via: SIP/2.0/TCP", b"X-Via: SIP/2.0/TCP"
        )
    )
    assert isinstance(no_via, ParseError) and no_via.status is None  # nowhere to send a reply
    broken_reply = parse_message(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\nCSeq: 1 INVITE\r\n\r\n")
    assert isinstance(broken_reply, ParseError) and broken_reply.status is None
    for junk in (b"", b"\r\n\r\n", b"\x00\xff", b"INVITE", b"SIP/2.0 99 x\r\n\r\n"):
        assert isinstance(parse_message(junk), ParseError)


def test_lazy_errors_surface_in_check() -> None:
    m = msg(INVITE.replace(b"To: <sip:bob@example.com>", b'To: "open <sip:bob@example.com>'))
    error = m.check()
    assert error is not None and error.status == 400 and error.reason.startswith("to:") and error.partial is m
    assert m.to.uri == ""  # a placeholder, never an exception


def test_body_framing() -> None:
    m = msg(INVITE + b"trailing junk")
    assert m.body == SDP and m.serialize() == INVITE
    short = parse_message(INVITE[:-5])
    assert isinstance(short, ParseError) and "Content-Length" in short.reason
    no_length = msg(INVITE.replace(b"Content-Length: " + str(len(SDP)).encode() + b"\r\n", b""))
    assert no_length.content_length is None and no_length.body == SDP


def test_folded_headers_keep_spans() -> None:
    data = INVITE.replace(b"X-Thing: one\r\n", b"X-Thing: one\r\n  and more\r\n")
    m = msg(data)
    assert m.header("x-thing") == "one and more"
    m.remove_header("x-thing")
    out = m.serialize()
    assert b"X-Thing" not in out and b"x-thing" not in out and b"and more" not in out
    assert msg(out).call_id == "abc@192.0.2.1"


# ---------------------------------------------------------------- lumps


def test_untouched_serialize_is_identical() -> None:
    assert msg().serialize() == INVITE


def test_edits_are_invisible_until_serialized() -> None:
    m = msg()
    m.append_header("X-Added: 1")
    m.insert_header("X-First: 0\r\n")
    assert m.remove_header("x-thing") == 2
    assert m.header("x-added") is None and m.header("x-thing") == "one"  # as OpenSIPS: the original
    out = msg(m.serialize())
    assert out.header("x-added") == "1" and out.header("x-thing") is None
    assert out.header_names()[0] == "X-First" and out.header_names()[-1] == "X-Added"
    assert out.body == SDP


def test_several_modules_edit_one_message() -> None:
    m = msg()
    m.set_ruri("sip:bob@192.0.2.50:5080")
    assert m.ruri == "sip:bob@192.0.2.50:5080" and m.original_ruri == "sip:bob@example.com"
    m.set_ruri("sip:carol@192.0.2.60")  # the last one wins
    m.push_via("SIP/2.0/UDP 192.0.2.100:5060;branch=z9hG4bKnew")
    m.remove_header("route")
    m.append_header("Record-Route: <sip:192.0.2.100;lr>")
    m.set_body(b"v=0\r\n", "application/sdp")
    out = msg(m.serialize())
    assert out.ruri == "sip:carol@192.0.2.60"
    assert [v.host for v in out.vias] == ["192.0.2.100", "192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert out.routes() == [] and out.record_routes()[0].uri == "sip:192.0.2.100;lr"
    assert out.body == b"v=0\r\n" and out.content_length == 5 and out.content_type == "application/sdp"
    assert out.header_count("content-type") == 1


def test_pop_via_removes_values_across_lines() -> None:
    m = msg()
    m.pop_via()
    assert [v.host for v in msg(m.serialize()).vias] == ["192.0.2.2", "192.0.2.3"]
    m.pop_via()
    out = msg(m.serialize())
    assert [v.host for v in out.vias] == ["192.0.2.3"]


def test_remove_body_drops_content_type() -> None:
    m = msg()
    m.set_body(b"")
    out = msg(m.serialize())
    assert out.body == b"" and out.content_length == 0 and out.header("content-type") is None


def test_add_content_length_for_streams() -> None:
    m = msg(INVITE.replace(b"Content-Length: " + str(len(SDP)).encode() + b"\r\n", b""))
    out = msg(m.serialize(add_content_length=True))
    assert out.content_length == len(SDP) and out.body == SDP


def test_overlapping_lumps() -> None:
    m = msg()
    ((start, end),) = m.header_spans("call-id")
    m.add_lump(start, end, b"")
    m.add_lump(start + 3, start + 5, b"XX")  # inside the deleted field: dropped
    m.add_lump(start, start, b"Call-ID: new\r\n")  # insertion at the start of a deletion: kept
    out = msg(m.serialize())
    assert out.call_id == "new"


def test_copy_has_its_own_edits() -> None:
    m = msg()
    m.append_header("X-Shared: 1")
    branch = m.copy()
    branch.set_ruri("sip:other@example.net")
    branch.append_header("X-Branch: 2")
    assert b"X-Branch" not in m.serialize() and b"X-Shared" in m.serialize()
    assert msg(branch.serialize()).ruri == "sip:other@example.net" and m.ruri == "sip:bob@example.com"


def test_tags_found_by_the_fast_path_match_the_full_parser() -> None:
    cases = {
        b"<sip:a@b>;tag=x1": "x1",
        b"sip:a@b;tag=x2;other": "x2",
        b'"a;tag=no" <sip:a@b>;tag=x3': "x3",
        b"<sip:a@b;tag=inuri>": None,
        b"<sip:a@b>;TAG=x4": "x4",
        b"<sip:a@b> ; tag = x5": "x5",
        b"<sip:tagger@b>": None,
        b"<sip:a@b>;xtag=1;tag=x6": "x6",
        b"<sip:a@b>": None,
    }
    for value, tag in cases.items():
        data = INVITE.replace(b'"Alice" <sip:alice@example.com>;tag=1234', value)
        m = msg(data)
        assert m.from_tag == tag == m.from_.tag, value
