from __future__ import annotations

import pytest

from pysips.sip.errors import ParseError
from pysips.sip.uri import SipUri, parse_uri, unescape


def ok(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri), uri
    return uri


def test_full_sip_uri() -> None:
    uri = ok(
        "sips:alice:secret@atlanta.example.com:5061;transport=TCP;lr;Maddr=10.0.0.1?subject=x&priority=urgent"
    )
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips",
        "alice",
        "secret",
        "atlanta.example.com",
        5061,
    )
    assert uri.params == {"transport": "TCP", "lr": None, "maddr": "10.0.0.1"}
    assert list(uri.params) == ["transport", "lr", "maddr"]
    assert uri.headers == {"subject": "x", "priority": "urgent"}
    assert uri.transport == "tcp"
    assert (
        str(uri) == "sips:alice:secret@atlanta.example.com:5061;transport=TCP;lr;Maddr=10.0.0.1"
        "?subject=x&priority=urgent"
    )


def test_host_only_and_scheme_case() -> None:
    uri = ok("SIP:example.com")
    assert uri.scheme == "sip" and uri.user is None and uri.host == "example.com" and uri.port is None


def test_ipv6_references_keep_brackets() -> None:
    uri = ok("sip:[2001:db8::1]:5070;transport=udp")
    assert uri.host == "[2001:db8::1]" and uri.port == 5070 and uri.bare_host == "2001:db8::1"
    assert ok("sip:bob@[::1]").host == "[::1]"


@pytest.mark.parametrize(
    "text",
    [
        "sip:user@host:99999",
        "sip:user@host:12ab",
        "sip:2001:db8::10",
        "sip:@host",
        "sip:user@",
        "sip:us er@host",
        "sip:user@[2001:db8::1",
        "sip:user@[zz]",
        "sip:user@host;",
        "sip:user@host;=x",
        "sip:user@host?noequals",
        "sip:us%4@host",
        "sip:user@ho<st",
        "nocolon",
        ":x",
    ],
)
def test_malformed_sip_uris_are_400(text: str) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, ParseError) and uri.status == 400


def test_unknown_scheme_is_416() -> None:
    error = parse_uri("mailto:someone@example.com")
    assert isinstance(error, ParseError) and error.status == 416


def test_tel_uri() -> None:
    uri = ok("tel:+1-201-555-0123;phone-context=example.com")
    assert uri.scheme == "tel" and uri.user == "+1-201-555-0123" and uri.host == ""
    assert uri.params == {"phone-context": "example.com"}


def test_user_part_may_hold_semicolons_and_escapes() -> None:
    uri = ok("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u%40example.net" and uri.host == "example.com" and uri.params == {}
    assert unescape("sips%3Auser%40example.com") == "sips:user@example.com"
    assert unescape("%00%00") == "\x00\x00"
    assert unescape("bad%zz%4") == "bad%zz%4"


def test_replace_rebuilds_text() -> None:
    uri = ok("sip:alice@example.com;transport=tcp")
    changed = uri.replace(user="bob", port=5080)
    assert str(changed) == "sip:bob@example.com:5080;transport=tcp"
    assert str(uri) == "sip:alice@example.com;transport=tcp"
    with pytest.raises(TypeError):
        uri.replace(nosuch=1)
    assert str(SipUri("sip", None, "[::1]", 5060, {"lr": None})) == "sip:[::1]:5060;lr"
