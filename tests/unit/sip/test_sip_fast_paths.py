"""The parser's shortcuts (one-regex Via, name-addr and tag reads, the header table's spans) must
give exactly what the general code gives: each shortcut is compared with its fallback."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pysips.sip import nameaddr, parser, via
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage, parse_message

FAST = settings(max_examples=400, deadline=None)

# each part drawn from spellings that keep the shortcut and spellings that make it bail out
def shaped(*choices: list[str]) -> st.SearchStrategy[str]:
    """One of each list joined; the first two entries of a list (the usual spellings) weigh most."""
    return st.tuples(*(st.sampled_from(c[:2] * 6 + c[2:]) for c in choices)).map("".join)


PARAM = st.sampled_from(
    ["", ";branch=z9hG4bK1", ";rport", ";RPORT=5", ";received=2001:db8::1", ";x=[1]", ";a=", ";", '; q="a b"',
     ";lr", ";tag=1", ";é=1", ";b\x0bc=1", " ;lr"]
)
USUAL_PARAM = st.sampled_from(["", ";branch=z9hG4bK1", ";rport", ";lr"])
PARAMS = st.one_of(st.lists(USUAL_PARAM, max_size=3), st.lists(PARAM, max_size=3)).map("".join)
VIAS = st.tuples(
    shaped(["SIP/2.0/", "sip/2.0/", "SIP / 2.0 /", "SIP/3.0/"], ["UDP", "tls", "W\tS", "", "U[DP"],
           [" ", "  ", "\t"], ["host", "10.0.0.1", "[::1]", "", "h_st", "é"],
           ["", ":5060", ":99999", ":", ":5x"]),
    PARAMS,
).map("".join)
NAME_ADDRS = st.tuples(
    shaped(['"Alice B" ', "", '"A\\"B" ', "Bob ", "Bob Smith\t", "B@b ", '"open '],
           ["<", ""], ["sip:a@b", "sip:a@b;lr", "", "a@b", "sip:a b", "sip:a@b?x=1"], [">", "", ">>"]),
    PARAMS,
).map("".join)
TAG_PIECES = [
    b";tag=", b";", b'"', b">", b"<", b" ", b"\t", b"a", b"tag", b"TAG", b"=", b"sip:x", b"\n", b"\xff",
]


def outcome(value: object) -> object:
    if isinstance(value, ParseError):
        return ("error", value.reason, value.status)
    if isinstance(value, via.Via):
        return (value.proto, value.host, value.port, value.params, value.text)
    return value


@FAST
@given(VIAS)
def test_via_regex_matches_the_general_parser(text: str) -> None:
    assert outcome(via.parse_via(text)) == outcome(via._parse_via_plain(text.strip()))


@FAST
@given(NAME_ADDRS)
def test_name_addr_regex_matches_the_general_parser(text: str) -> None:
    fast = nameaddr._name_addr_parts(text)
    saved = nameaddr._COMMON_NAME_ADDR
    nameaddr._COMMON_NAME_ADDR = lambda value: None  # type: ignore[assignment]
    try:
        slow = nameaddr._name_addr_parts(text)
    finally:
        nameaddr._COMMON_NAME_ADDR = saved
    assert outcome(fast) == outcome(slow)


@FAST
@given(st.lists(st.sampled_from(TAG_PIECES), max_size=9).map(b"".join))
def test_quick_tag_agrees_with_the_name_addr_parser(value: bytes) -> None:
    tag = parser._quick_tag(value)
    if tag == b"":
        return  # the parser asks the full name-addr parser
    parsed = nameaddr.parse_name_addr(value.decode("utf-8", "surrogateescape"))
    if isinstance(parsed, ParseError):
        return  # the quick read does not validate; check() reports the broken header
    assert parsed.tag == (None if tag is None else tag.decode("utf-8", "surrogateescape"))


def test_common_shapes_take_the_shortcuts() -> None:
    assert via._COMMON_VIA("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport") is not None
    assert nameaddr._COMMON_NAME_ADDR('"Alice" <sip:alice@example.com>;tag=1') is not None
    assert nameaddr._COMMON_NAME_ADDR("<sip:p.example.com;lr>") is not None
    assert parser._quick_tag(b"<sip:a@b>;tag=abc;x=1") == b"abc"


REPLY = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp, SIP/2.0/UDP a.example.com;branch=z9hG4bKa\r\n"
    b"X-New-Name-%d: 1\r\n"
    b"v: SIP/2.0/UDP b.example.com;branch=z9hG4bKb\r\n"
    b"From: <sip:a@example.com>;tag=1\r\n"
    b"To: <sip:b@example.com>;tag=2\r\n"
    b"Call-ID: c\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


@pytest.mark.parametrize("pops", [1, 2, 3])
def test_pop_via_counts_values_across_lines_and_names(pops: int) -> None:
    msg = parse_message(REPLY % pops)
    assert isinstance(msg, SipMessage)
    for _ in range(pops):
        msg.pop_via()
    out = msg.serialize()
    left = [b"proxy.example.com", b"a.example.com", b"b.example.com"][pops:]
    for host in left:
        assert host in out
    assert out.count(b"branch=") == len(left)
    again = parse_message(out)
    if left:
        assert isinstance(again, SipMessage) and len(again.vias) == len(left)
    else:
        assert isinstance(again, ParseError) and again.reason == "missing via header"


def test_spans_count_every_line_for_names_seen_for_the_first_time() -> None:
    # a header name never met before takes the parser's other table builder; spans must agree
    data = REPLY % 4242
    msg = parse_message(data)
    assert isinstance(msg, SipMessage)
    for name in ("via", "x-new-name-4242", "to", "content-length"):
        for (start, end), line in zip(msg.header_spans(name), msg.raw_header_bytes(name), strict=True):
            assert data[start:end] == line and line.endswith(b"\r\n")
    assert msg.header_names()[1] == "X-New-Name-4242"


def test_copies_share_the_table_but_not_edits() -> None:
    msg = parse_message(REPLY % 7)
    assert isinstance(msg, SipMessage)
    one, two = msg.copy(), msg.copy()
    one.pop_via()
    two.append_header("X-Two: 2")
    assert one._table is two._table is msg._table
    assert b"proxy.example.com" not in one.serialize() and b"X-Two" not in one.serialize()
    assert b"proxy.example.com" in two.serialize() and b"X-Two: 2\r\n\r\n" in two.serialize()
    assert msg.serialize() == msg.raw


def test_headers_with_and_without_repeated_names() -> None:
    msg = parse_message(REPLY % 8)
    assert isinstance(msg, SipMessage)
    assert msg.headers("via") == [
        "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp, SIP/2.0/UDP a.example.com;branch=z9hG4bKa",
        "SIP/2.0/UDP b.example.com;branch=z9hG4bKb",
    ]
    assert msg.headers("call-id") == ["c"] and msg.headers("route") == []
    single = parse_message((REPLY % 9).replace(b"v: SIP/2.0/UDP b.example.com;branch=z9hG4bKb\r\n", b""))
    assert isinstance(single, SipMessage)
    assert single.headers("to") == ["<sip:b@example.com>;tag=2"] and single.headers("contact") == []
    assert single.header_count("via") == 1


def test_validate_reports_the_first_broken_header_in_message_order() -> None:
    broken = b"Expires: 99999999999\r\nContent-Type: nonsense\r\n"
    data = (REPLY % 10).replace(b"Call-ID: c\r\n", broken + b"Call-ID: c\r\n")
    msg = parse_message(data)
    assert isinstance(msg, SipMessage)
    error = msg.validate()
    assert isinstance(error, ParseError) and error.reason.startswith("expires:")


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        (b"<sip:a@b>;tag=1;TAG=2", "2"),  # the last tag parameter wins, whatever its case
        (b"sip:x;tag=>;tag=a", "a"),
        (b"<sip:a@b>;tag=x\x0b", "x"),  # trailing whitespace is not part of the tag
    ],
)
def test_from_tag_agrees_with_the_parsed_from_header(value: bytes, tag: str) -> None:
    data = (REPLY % 11).replace(b"From: <sip:a@example.com>;tag=1", b"From: " + value)
    msg = parse_message(data)
    assert isinstance(msg, SipMessage)
    assert msg.from_tag == msg.from_.tag == tag
