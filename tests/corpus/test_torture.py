"""RFC 4475 and RFC 5118 torture messages: outcome per EXPECTED.tsv and the fields each RFC calls out."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from pysips.sip.build import make_response
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.sdp import Sdp
from pysips.sip.uri import SipUri, unescape

TORTURE = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "torture"
if not TORTURE.is_dir():  # a checkout elsewhere: the corpus beside the repository
    TORTURE = Path("/work/shared/corpus/torture")

# Outcome of parse_message() then validate(): "ok", a status a proxy owes, or "drop".
OUTCOMES: dict[str, str | int] = {
    # valid (RFC 4475 3.1.1, 3.2, 3.3, 3.4; RFC 5118)
    "wsinv": "ok",
    "intmeth": "ok",
    "esc01": "ok",
    "escnull": "ok",
    "esc02": "ok",
    "lwsdisp": "ok",
    "longreq": "ok",
    "dblreq": "ok",
    "semiuri": "ok",
    "transports": "ok",
    "mpart01": "ok",
    "unreason": "ok",
    "noreason": "ok",
    "badbranch": "ok",
    "unksm2": "ok",
    "bext01": "ok",
    "invut": "ok",
    "regaut01": "ok",
    "bcast": "ok",
    "zeromf": "ok",
    "cparam01": "ok",
    "cparam02": "ok",
    "regescrt": "ok",
    "sdp01": "ok",
    "inv2543": "ok",
    "unkscm": 416,  # 3.3.2: parses; the unknown Request-URI scheme earns 416
    "novelsc": 416,  # 3.3.3: soap.beep is never acceptable here
    # "test" is in the archive only; its Request-Line has no SIP-Version and it has no Via, so
    # there is neither a message nor anywhere to send a 400: dropped
    "test": "drop",
    "ipv6-good": "ok",
    "port-ambiguous": "ok",
    "port-unambiguous": "ok",
    "via-received-param-with-delim": "ok",
    "via-received-param-no-delim": "ok",
    "ipv6-in-sdp": "ok",
    "mult-ip-in-header": "ok",
    "mult-ip-in-sdp": "ok",
    "ipv4-mapped-ipv6": "ok",
    "ipv6-bug-abnf-3-colons": "ok",
    "ipv6-correct-abnf-2-colons": "ok",
    # invalid
    "badinv01": 400,
    "clerr": 400,
    "ncl": 400,
    "scalar02": 400,
    "scalarlg": "drop",
    "quotbal": 400,
    "ltgtruri": 400,
    "lwsruri": 400,
    "lwsstart": 400,
    "trws": 400,
    "escruri": 400,
    "baddate": "ok",  # 3.1.2.12: a proxy for which Date does not matter may ignore it; we do
    "regbadct": 400,
    "badaspec": 400,
    "baddn": 400,
    "baddn-terminated": 400,
    "badvers": 505,
    "mismatch01": 400,
    "mismatch02": 400,
    "bigcode": "drop",
    "insuf": 400,
    "multi01": 400,
    "mcl01": 400,
    "ipv6-bad": 400,
}


def load(name: str) -> bytes:
    return (TORTURE / f"{name}.sip").read_bytes()


def outcome(data: bytes) -> str | int:
    result = parse_message(data)
    if isinstance(result, SipMessage):
        error = result.validate()
        if error is None:
            return "ok"
        result_error = error
    else:
        result_error = result
    assert not result_error.reason.startswith("internal"), result_error.reason
    return "drop" if result_error.status is None else result_error.status


def parsed(name: str) -> SipMessage:
    msg = parse_message(load(name))
    assert isinstance(msg, SipMessage), msg
    return msg


def expected_rows() -> list[dict[str, str]]:
    with (TORTURE / "EXPECTED.tsv").open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_every_corpus_message_has_an_expected_outcome() -> None:
    names = {p.stem for p in TORTURE.glob("*.sip")}
    assert names == set(OUTCOMES)
    assert {row["name"] for row in expected_rows()} == names


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_outcome(name: str) -> None:
    assert outcome(load(name)) == OUTCOMES[name]


def test_valid_messages_agree_with_expected_tsv() -> None:
    for row in expected_rows():
        if row["validity"] == "valid" and row["name"] not in ("unkscm", "novelsc", "test"):
            assert OUTCOMES[row["name"]] == "ok", row["name"]
        if row["validity"] == "invalid" and row["name"] != "baddate":
            assert OUTCOMES[row["name"]] != "ok", row["name"]


@pytest.mark.parametrize("name", sorted(n for n, o in OUTCOMES.items() if isinstance(o, int) and o != 416))
def test_answerable_errors_produce_a_usable_response(name: str) -> None:
    result = parse_message(load(name))
    if isinstance(result, SipMessage):
        error = result.validate()
        assert error is not None
    else:
        error = result
    assert error.partial is not None and error.status is not None
    data = make_response(error.partial, error.status, "Bad Request", to_tag="x1")
    assert data.startswith(f"SIP/2.0 {error.status} Bad Request\r\n".encode())
    assert data.endswith(b"Content-Length: 0\r\n\r\n")
    for via in error.partial.raw_header_bytes("via"):
        assert via in data
    reply = parse_message(data)
    if isinstance(reply, SipMessage):
        assert reply.status == error.status and reply.call_id == error.partial.call_id
    else:
        # the reply echoes the request's broken header (RFC 3261 8.2.6 copies them); nothing else
        assert name in ("badinv01", "badvers", "insuf", "multi01", "scalar02"), reply


@pytest.mark.parametrize("name", sorted(n for n, o in OUTCOMES.items() if o == "ok"))
def test_untouched_message_serializes_byte_identical(name: str) -> None:
    data = load(name)
    msg = parsed(name)
    assert msg.serialize() == data[: len(msg.serialize())]
    if name != "dblreq":
        assert msg.serialize() == data


# ---------------------------------------------------------------- per-message fields


def check_wsinv(m: SipMessage) -> None:
    # 3.1.1.1: folding, LWS around ':' ';' '=', compact forms, escaped quotes, unknown headers
    assert m.method == "INVITE" and m.uri_params() == {"unknownparam": None}
    assert m.to_tag == "1918181833n" and m.from_tag == "98asjd8"
    assert m.from_.display == '"J Rosenberg \\\\\\""' and m.from_.display_text == 'J Rosenberg \\"'
    assert m.max_forwards == 68 and (m.cseq.number, m.cseq.method) == (9, "INVITE")
    assert [(v.proto, v.host, v.branch) for v in m.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.header("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.header("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert m.header("subject") == ""
    contact = m.contacts()
    assert not isinstance(contact, ParseError)
    assert contact[0].display == '"Quoted string \\"\\""' and contact[0].q == 0.33
    assert contact[0].params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    route = m.routes()[0].parsed_uri()
    assert isinstance(route, SipUri) and route.params == {
        "lr": None,
        "unknownwith": "value",
        "unknown-no-value": None,
    }
    assert len(m.body) == 150 and m.content_type == "application/sdp"


def check_intmeth(m: SipMessage) -> None:
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~" == m.cseq.method
    uri = m.uri()
    assert isinstance(uri, SipUri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)" and uri.host == "example.com"
    assert m.top_via is not None and m.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert m.to.display == '"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"'
    assert m.from_.display == "token1~` token2'+_ token3*%!.-" and m.from_tag == "_token~1'+`*%!-."
    assert m.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.header("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert m.max_forwards == 255


def check_esc01(m: SipMessage) -> None:
    uri = m.uri()
    assert isinstance(uri, SipUri) and uri.user == "sips%3Auser%40example.com" and uri.host == "example.net"
    assert unescape(uri.user or "") == "sips:user@example.com"
    to = m.to.parsed_uri()
    assert isinstance(to, SipUri) and unescape(to.user or "") == "user"
    contacts = m.contacts()
    assert not isinstance(contacts, ParseError) and len(contacts) == 1  # folded onto the next line
    curi = contacts[0].parsed_uri()
    assert isinstance(curi, SipUri) and unescape(curi.user or "") == "caller"
    assert curi.params == {"%6c%72": None, "n%61me": "v%61lue%25%34%31"}
    # value%41 is not valueA: unescaping the escaped '%' gives a literal "%41"
    assert unescape(curi.params["n%61me"] or "") == "value%41"


def check_escnull(m: SipMessage) -> None:
    to = m.to.parsed_uri()
    assert isinstance(to, SipUri) and unescape(to.user or "") == "null-\x00-null"
    contacts = m.contacts()
    assert not isinstance(contacts, ParseError)
    users = [unescape(u.user or "") for c in contacts if isinstance(u := c.parsed_uri(), SipUri)]
    assert users == ["\x00", "\x00\x00"]


def check_esc02(m: SipMessage) -> None:
    assert m.method == "RE%47IST%45R" != "REGISTER"
    contacts = m.contacts()
    assert not isinstance(contacts, ParseError)
    assert [c.uri for c in contacts] == ["sip:alias1@host1.example.com", "sip:alias3@host3.example.com"]
    assert m.header("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert m.top_via is not None and m.top_via.branch == "z9hG4bK209%fzsnel234"
    assert m.from_.display == '"%Z%45"'


def check_lwsdisp(m: SipMessage) -> None:
    assert m.from_.display == "caller" and m.from_.uri == "sip:caller@example.com" and m.from_tag == "323"


def check_longreq(m: SipMessage) -> None:
    assert len(m.vias) == 34 and m.vias[0].host == "sip33.example.com"
    assert m.vias[-1].received == "192.0.2.5"
    assert len(m.from_tag or "") == 155 and len(m.call_id) == 141
    assert m.to.display.startswith('"I have a user name of extreme')
    assert m.to.parsed_uri().port == 6000  # type: ignore[union-attr]
    assert m.header(
        "unknown-longlonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglong-name"
    )
    assert m.content_length == 150


def check_dblreq(m: SipMessage) -> None:
    assert m.method == "REGISTER" and m.content_length == 0 and m.body == b""
    assert b"INVITE" not in m.serialize()


def check_semiuri(m: SipMessage) -> None:
    uri = m.uri()
    assert isinstance(uri, SipUri) and uri.user == "user;par=u%40example.net" and uri.host == "example.com"
    assert uri.params == {}
    assert m.header("accept") == (
        "application/sdp, application/pkcs7-mime, multipart/mixed, multipart/signed, "
        "message/sip, message/sipfrag"
    )


def check_transports(m: SipMessage) -> None:
    assert [v.proto for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def check_mpart01(m: SipMessage) -> None:
    assert len(m.body) == 553 and b"\x00" in m.body
    full = m.content_type_full()
    assert full is not None and not isinstance(full, ParseError)
    assert full.media_type == "multipart/mixed" and full.boundary == "7a9cbec02ceef655"
    assert m.top_via is not None and m.top_via.rport == ""


def check_unreason(m: SipMessage) -> None:
    assert m.status == 200 and m.reason.startswith("= 2**3 * 5**2 ") and "но" in m.reason


def check_noreason(m: SipMessage) -> None:
    assert m.status == 100 and m.reason == "" and m.method == "INVITE"


def check_badbranch(m: SipMessage) -> None:
    assert m.top_via is not None and m.top_via.branch == "z9hG4bK"


def check_unkscm(m: SipMessage) -> None:
    uri = m.uri()
    assert isinstance(uri, ParseError) and uri.status == 416
    assert m.to.uri == "sip:user@example.com"


def check_novelsc(m: SipMessage) -> None:
    uri = m.uri()
    assert isinstance(uri, ParseError) and uri.status == 416


def check_unksm2(m: SipMessage) -> None:
    assert m.to.uri == "isbn:2983792873" and m.from_.uri == "http://www.example.com"
    contacts = m.contacts()
    assert not isinstance(contacts, ParseError) and contacts[0].uri == "name:John_Smith"
    to_uri = m.to.parsed_uri()
    assert isinstance(to_uri, ParseError) and to_uri.status == 416


def check_bext01(m: SipMessage) -> None:
    assert m.option_tags("require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert m.option_tags("proxy-require") == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]


def check_invut(m: SipMessage) -> None:
    assert m.content_type == "application/unknownformat" and len(m.body) == 40
    sdp = m.sdp()
    assert isinstance(sdp, ParseError) and sdp.status == 415


def check_regaut01(m: SipMessage) -> None:
    creds = m.auth("authorization")
    assert not isinstance(creds, ParseError)
    assert creds[0].scheme == "NoOneKnowsThisScheme" and creds[0].params == {"opaque-data": "here"}


def check_bcast(m: SipMessage) -> None:
    assert m.status == 200 and m.vias[1].host == "255.255.255.255"


def check_zeromf(m: SipMessage) -> None:
    assert m.max_forwards == 0


def check_cparam01(m: SipMessage) -> None:
    contacts = m.contacts()
    assert not isinstance(contacts, ParseError)
    assert contacts[0].uri == "sip:+19725552222@gw1.example.net" and contacts[0].params == {
        "unknownparam": None
    }


def check_cparam02(m: SipMessage) -> None:
    contacts = m.contacts()
    assert not isinstance(contacts, ParseError) and contacts[0].params == {}
    uri = contacts[0].parsed_uri()
    assert isinstance(uri, SipUri) and uri.params == {"unknownparam": None}


def check_regescrt(m: SipMessage) -> None:
    contacts = m.contacts()
    assert not isinstance(contacts, ParseError)
    uri = contacts[0].parsed_uri()
    assert isinstance(uri, SipUri) and uri.headers == {"Route": "%3Csip:sip.example.com%3E"}
    assert str(uri) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def check_sdp01(m: SipMessage) -> None:
    assert m.header("accept") == "text/nobodyKnowsThis" and isinstance(m.sdp(), Sdp)


def check_inv2543(m: SipMessage) -> None:
    assert m.top_via is not None and m.top_via.branch is None and not m.top_via.rfc3261_branch
    assert m.from_tag is None and m.max_forwards is None and m.content_length is None
    assert (
        m.body.startswith(b"v=0")
        and m.record_routes()[0].uri == "sip:UserB@example.com;maddr=ss1.example.com"
    )


def check_baddate(m: SipMessage) -> None:
    assert m.header("date") == "Fri, 01 Jan 2010 16:00:00 EST"


def check_ipv6_good(m: SipMessage) -> None:
    uri = m.uri()
    assert isinstance(uri, SipUri) and uri.host == "[2001:db8::10]" and uri.port is None
    assert m.top_via is not None and m.top_via.host == "[2001:db8::9:1]"
    contacts = m.contacts()
    assert not isinstance(contacts, ParseError)
    assert contacts[0].parsed_uri().host == "[2001:db8::1]"  # type: ignore[union-attr]


def check_port_ambiguous(m: SipMessage) -> None:
    uri = m.uri()
    assert isinstance(uri, SipUri) and uri.host == "[2001:db8::10:5070]" and uri.port is None


def check_port_unambiguous(m: SipMessage) -> None:
    uri = m.uri()
    assert isinstance(uri, SipUri) and uri.host == "[2001:db8::10]" and uri.port == 5070


def check_received_with_delim(m: SipMessage) -> None:
    assert m.top_via is not None and m.top_via.received == "[2001:db8::9:255]"


def check_received_no_delim(m: SipMessage) -> None:
    assert m.top_via is not None and m.top_via.received == "2001:db8::9:255"


def check_ipv6_in_sdp(m: SipMessage) -> None:
    sdp = m.sdp()
    assert isinstance(sdp, Sdp) and sdp.connection is not None and sdp.origin is not None
    assert (sdp.connection.addrtype, sdp.connection.address) == ("IP6", "2001:db8::20")
    assert sdp.origin.address == "2001:db8::20" and [md.kind for md in sdp.media] == ["audio", "video"]


def check_mult_ip_in_header(m: SipMessage) -> None:
    assert [(v.host, v.port) for v in m.vias] == [
        ("[2001:db8::9:1]", 6050),
        ("192.0.2.1", None),
        ("[2001:db8::9:255]", None),
    ]
    assert m.vias[2].received == "192.0.2.200" and m.vias[2].proto == "TCP"


def check_mult_ip_in_sdp(m: SipMessage) -> None:
    sdp = m.sdp()
    assert isinstance(sdp, Sdp) and sdp.connection is None
    conns = [(md.connection.addrtype, md.connection.address) for md in sdp.media if md.connection]
    assert conns == [("IP4", "192.0.2.1"), ("IP6", "2001:db8::1")]


def check_ipv4_mapped(m: SipMessage) -> None:
    assert (m.vias[0].host, m.vias[0].port) == ("[::ffff:192.0.2.10]", 19823)
    assert m.vias[1].host == "[::ffff:192.0.2.2]"
    sdp = m.sdp()
    assert (
        isinstance(sdp, Sdp) and sdp.connection is not None and sdp.connection.address == "::ffff:192.0.2.2"
    )


def check_three_colons(m: SipMessage) -> None:
    uri = m.uri()
    assert isinstance(uri, SipUri) and uri.host == "[2001:db8:::192.0.2.1]"


def check_two_colons(m: SipMessage) -> None:
    uri = m.uri()
    assert isinstance(uri, SipUri) and uri.host == "[2001:db8::192.0.2.1]"


CHECKS: dict[str, Callable[[SipMessage], None]] = {
    "wsinv": check_wsinv,
    "intmeth": check_intmeth,
    "esc01": check_esc01,
    "escnull": check_escnull,
    "esc02": check_esc02,
    "lwsdisp": check_lwsdisp,
    "longreq": check_longreq,
    "dblreq": check_dblreq,
    "semiuri": check_semiuri,
    "transports": check_transports,
    "mpart01": check_mpart01,
    "unreason": check_unreason,
    "noreason": check_noreason,
    "badbranch": check_badbranch,
    "unkscm": check_unkscm,
    "novelsc": check_novelsc,
    "unksm2": check_unksm2,
    "bext01": check_bext01,
    "invut": check_invut,
    "regaut01": check_regaut01,
    "bcast": check_bcast,
    "zeromf": check_zeromf,
    "cparam01": check_cparam01,
    "cparam02": check_cparam02,
    "regescrt": check_regescrt,
    "sdp01": check_sdp01,
    "inv2543": check_inv2543,
    "baddate": check_baddate,
    "ipv6-good": check_ipv6_good,
    "port-ambiguous": check_port_ambiguous,
    "port-unambiguous": check_port_unambiguous,
    "via-received-param-with-delim": check_received_with_delim,
    "via-received-param-no-delim": check_received_no_delim,
    "ipv6-in-sdp": check_ipv6_in_sdp,
    "mult-ip-in-header": check_mult_ip_in_header,
    "mult-ip-in-sdp": check_mult_ip_in_sdp,
    "ipv4-mapped-ipv6": check_ipv4_mapped,
    "ipv6-bug-abnf-3-colons": check_three_colons,
    "ipv6-correct-abnf-2-colons": check_two_colons,
}


def test_every_parsable_message_has_field_checks() -> None:
    parsable = {n for n in OUTCOMES if isinstance(parse_message(load(n)), SipMessage)}
    missing = (
        parsable
        - set(CHECKS)
        - {"badaspec", "baddn-terminated", "quotbal", "regbadct", "escruri", "ltgtruri", "ipv6-bad"}
    )
    assert not missing


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_fields(name: str) -> None:
    CHECKS[name](parsed(name))


def test_invalid_but_parsable_messages_fail_on_the_right_field() -> None:
    reasons = {}
    for name in ("badaspec", "baddn-terminated", "quotbal", "regbadct", "escruri", "ltgtruri", "ipv6-bad"):
        error = parsed(name).validate()
        assert error is not None
        reasons[name] = error.reason
    assert reasons["badaspec"].startswith("to:")
    assert reasons["baddn-terminated"].startswith("from:")
    assert reasons["quotbal"].startswith("to:")
    assert reasons["regbadct"].startswith("contact:")
    assert reasons["escruri"] == "Request-URI carries headers"
    assert reasons["ltgtruri"].startswith("Request-URI")
    assert reasons["ipv6-bad"].startswith("Request-URI")


def test_request_line_and_framing_errors_name_the_problem() -> None:
    def reason(name: str) -> str:
        result = parse_message(load(name))
        assert isinstance(result, ParseError)
        return result.reason

    assert "Request-Line" in reason("lwsstart") and "Request-Line" in reason("trws")
    assert "Request-Line" in reason("lwsruri")
    assert "version" in reason("badvers")
    assert "Content-Length" in reason("clerr") and "Content-Length" in reason("ncl")
    assert "conflicting Content-Length" in reason("mcl01")
    assert "CSeq" in reason("scalar02") and "CSeq" in reason("mismatch01")
    assert "several" in reason("multi01") and "missing" in reason("insuf")
