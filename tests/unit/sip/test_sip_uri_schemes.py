"""URI schemes OpenSIPS routes besides sip/sips/tel: tels and the service URNs of emergency calls."""

from __future__ import annotations

from pysips.sip.errors import ParseError
from pysips.sip.message import parse_message
from pysips.sip.uri import SipUri, parse_uri


def test_tels_parses_like_tel() -> None:
    uri = parse_uri("tels:+4930123;phone-context=example.com")
    assert isinstance(uri, SipUri)
    assert (uri.scheme, uri.user, uri.params) == ("tels", "+4930123", {"phone-context": "example.com"})
    assert str(uri) == "tels:+4930123;phone-context=example.com"


def test_service_urns_parse_with_the_service_as_host() -> None:
    sos = parse_uri("urn:service:sos.police")
    assert isinstance(sos, SipUri) and (sos.scheme, sos.host) == ("urn:service", "sos.police")
    nena = parse_uri("URN:nena:service:sos.psap;x=1")
    assert isinstance(nena, SipUri) and (nena.scheme, nena.host, nena.params) == (
        "urn:nena:service", "sos.psap", {"x": "1"})


def test_other_urns_and_unknown_schemes_stay_416() -> None:
    for text in ("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "urn:service:", "im:x@example.com"):
        result = parse_uri(text)
        assert isinstance(result, ParseError), text
    unknown = parse_uri("urn:uuid:1")
    assert isinstance(unknown, ParseError) and unknown.status == 416


def test_an_emergency_invite_passes_the_request_check() -> None:
    raw = (
        b"INVITE urn:service:sos SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKsos1\r\n"
        b"From: <sip:alice@example.com>;tag=1\r\nTo: <urn:service:sos>\r\n"
        b"Call-ID: sos-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    msg = parse_message(raw)
    assert not isinstance(msg, ParseError)
    assert msg.check() is None
