from __future__ import annotations

from pysips.sip.auth import AuthHeader, parse_auth
from pysips.sip.errors import ParseError
from pysips.sip.headers import (
    ContentType,
    CSeq,
    header_key,
    parse_content_type,
    parse_cseq,
    parse_delta_seconds,
    parse_header_params,
    parse_option_tags,
    split_commas,
)
from pysips.sip.nameaddr import NameAddr, parse_contacts, parse_name_addr, parse_name_addr_list
from pysips.sip.via import Via, parse_via, parse_vias


def test_header_keys_fold_case_and_compact_forms() -> None:
    assert header_key("v") == header_key("VIA") == header_key("Via ") == "via"
    assert (
        header_key("i") == "call-id"
        and header_key("l") == "content-length"
        and header_key("k") == "supported"
    )
    assert header_key("X-Custom") == "x-custom"


def test_split_commas_respects_quotes_and_brackets() -> None:
    assert split_commas('"a, b" <sip:x@y>, <sip:c,d@e>;p="1,2" , z') == [
        '"a, b" <sip:x@y>',
        '<sip:c,d@e>;p="1,2"',
        "z",
    ]


def test_header_params_with_lws_and_quotes() -> None:
    assert parse_header_params(' tag = 12 ; lr ;x="a;b"') == {"tag": "12", "lr": None, "x": '"a;b"'}
    assert isinstance(parse_header_params("a;;b"), ParseError)
    assert isinstance(parse_header_params("a="), ParseError)
    assert isinstance(parse_header_params('x="open'), ParseError)


def test_name_addr_forms() -> None:
    one = parse_name_addr('"Alice A." <sip:alice@example.com;transport=tcp>;tag=88')
    assert isinstance(one, NameAddr)
    assert (one.display, one.display_text, one.uri, one.tag) == (
        '"Alice A."',
        "Alice A.",
        "sip:alice@example.com;transport=tcp",
        "88",
    )
    two = parse_name_addr("Bob Smith<sip:bob@example.com>")
    assert isinstance(two, NameAddr) and two.display == "Bob Smith" and two.tag is None
    three = parse_name_addr("sip:carol@example.com;tag=9;x")
    assert (
        isinstance(three, NameAddr)
        and three.uri == "sip:carol@example.com"
        and three.params == {"tag": "9", "x": None}
    )


def test_name_addr_errors() -> None:
    for bad in (
        '"open <sip:a@b>',
        "Bell, Alexander <sip:a@b>",
        "< sip:a@b >",
        "sip:a@b?x=y",
        "<sip:a@b",
        "<sip:a@b> junk",
        "",
        "nouri",
    ):
        assert isinstance(parse_name_addr(bad), ParseError), bad


def test_contacts() -> None:
    contacts = parse_contacts(
        [
            '<sip:a@192.0.2.1:5060;ob>;expires=60;q=0.5;+sip.instance="<urn:uuid:1>";reg-id=2, '
            "sip:b@h;expires=99999999999"
        ]
    )
    assert not isinstance(contacts, ParseError)
    first, second = contacts
    assert (first.expires, first.q, first.instance, first.reg_id) == (60, 0.5, "<urn:uuid:1>", 2)
    assert second.uri == "sip:b@h" and second.expires is None  # out of range: the default applies
    star = parse_contacts(["*"])
    assert not isinstance(star, ParseError) and star[0].star
    assert isinstance(parse_contacts(['"Joe" <sip:joe@example.org>;;;;']), ParseError)


def test_route_lists() -> None:
    routes = parse_name_addr_list(["<sip:p1.example.com;lr>, <sip:p2.example.com;lr>", "<sip:p3;lr>"])
    assert not isinstance(routes, ParseError)
    assert [r.uri for r in routes] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr", "sip:p3;lr"]


def test_via() -> None:
    via = parse_via("SIP/2.0/ws abc.invalid;branch=z9hG4bK1;rport;received=192.0.2.9")
    assert isinstance(via, Via)
    assert (via.proto, via.host, via.port, via.branch, via.rport, via.received) == (
        "WS",
        "abc.invalid",
        None,
        "z9hG4bK1",
        "",
        "192.0.2.9",
    )
    assert via.rfc3261_branch and via.sent_by == "abc.invalid"
    spaced = parse_via("SIP / 2.0 / TCP   h.example.com : 5070 ; branch = z9hG4bKx ; rport = 5071")
    assert isinstance(spaced, Via) and (spaced.proto, spaced.port, spaced.rport) == ("TCP", 5070, "5071")
    v6 = parse_via("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKy")
    assert isinstance(v6, Via) and v6.host == "[2001:db8::1]" and v6.port == 5060
    assert isinstance(parse_via("SIP/2.0/UDP 192.0.2.15;;"), ParseError)
    assert isinstance(parse_via("SIP/3.0/UDP h"), ParseError)
    assert isinstance(parse_via("SIP/2.0/UDP h:port"), ParseError)
    many = parse_vias(["SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b", "SIP/2.0/UDP c"])
    assert not isinstance(many, ParseError) and [v.host for v in many] == ["a", "b", "c"]


def test_cseq() -> None:
    cseq = parse_cseq("  0009   INVITE ")
    assert isinstance(cseq, CSeq) and (cseq.number, cseq.method) == (9, "INVITE")
    for bad in ("INVITE", "1 2 3", "-1 INVITE", "2147483648 INVITE", "12 IN<VITE"):
        assert isinstance(parse_cseq(bad), ParseError), bad
    assert isinstance(parse_cseq("2147483647 BYE"), CSeq)


def test_delta_seconds() -> None:
    assert parse_delta_seconds("3600") == 3600
    assert parse_delta_seconds("120 (retry);duration=60") == 120
    assert isinstance(parse_delta_seconds("4294967296"), ParseError)
    assert isinstance(parse_delta_seconds("soon"), ParseError)


def test_option_tags_and_content_type() -> None:
    assert parse_option_tags(["100rel, timer", "path,,gruu"]) == ["100rel", "timer", "path", "gruu"]
    ctype = parse_content_type('Multipart/Mixed ; boundary="xyz"')
    assert (
        isinstance(ctype, ContentType) and ctype.media_type == "multipart/mixed" and ctype.boundary == "xyz"
    )
    assert isinstance(parse_content_type("sdp"), ParseError)


def test_auth_headers() -> None:
    auth = parse_auth(
        'Digest username="bob", realm="biloxi.com", nonce="dc,d9", uri="sip:bob@biloxi.com", '
        'response="245f", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f"'
    )
    assert isinstance(auth, AuthHeader) and auth.is_digest
    assert (auth.username, auth.realm, auth.nonce, auth.uri, auth.response) == (
        "bob",
        "biloxi.com",
        "dc,d9",
        "sip:bob@biloxi.com",
        "245f",
    )
    assert auth.get("qop") == "auth" and auth.get("nc") == "00000001"
    challenge = parse_auth(
        'Digest realm="atlanta.com", domain="sip:ss1.carrier.com", qop="auth,auth-int", stale=FALSE'
    )
    assert isinstance(challenge, AuthHeader) and challenge.get("qop") == "auth,auth-int"
    assert isinstance(parse_auth('Digest realm="open'), ParseError)
    assert isinstance(parse_auth("<bad> x=1"), ParseError)
