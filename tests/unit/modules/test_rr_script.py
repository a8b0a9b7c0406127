"""rr, sipmsgops, textops and uri compiled from a script (the seed's shape) and run on messages."""

from __future__ import annotations

import pytest

from pysips.script.compile import LoadedScript, check_script, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

SCRIPT = """
listen=udp:10.0.0.1:5060
listen=ws:10.0.0.1:8080
loadmodule "rr.so"
modparam("rr", "append_fromtag", 0)
loadmodule "sipmsgops.so"
loadmodule "textops.so"
loadmodule "uri.so"
modparam("uri", "use_uri_table", 0)

route {
    if (has_totag()) {
        if (loose_route()) {
            if (is_method("INVITE")) record_route();
            $var(du) = $du;
            return(1);
        }
        return(-1);
    }
    if (loose_route()) {
        if (!is_method("ACK")) return(-2);
        exit;
    }
    if (!is_method("REGISTER|MESSAGE"))
        record_route(";nat=yes");
    if (!uri==myself) {
        append_hf("P-hint: outbound\\r\\n");
        if (search("^User-Agent: Old")) subst('/^User-Agent: Old/User-Agent: New/');
        return(3);
    }
    return(4);
}
"""

RCV = ReceiveInfo("udp", "10.0.0.1", 5060, "10.0.0.2", 5062)


@pytest.fixture(scope="module")
def loaded() -> LoadedScript:
    return load_script(parse_text(SCRIPT, "s.cfg"))


def run(loaded: LoadedScript, text: str) -> tuple[int, MsgContext]:
    process = ProcessState()
    loaded.init_modules(process)
    msg = parse_message(text.replace("\n", "\r\n").encode())
    assert isinstance(msg, SipMessage), msg
    ctx = MsgContext(process, msg, RCV)
    route = loaded.main_route
    assert route is not None
    return loaded.run(route, ctx), ctx


def request(method: str, ruri: str, extra: str = "", to_tag: str = "") -> str:
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} {ruri} SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-1\n{extra}"
        f"From: <sip:alice@example.com>;tag=a1\nTo: {to}\nCall-ID: c1\nCSeq: 1 {method}\n"
        "User-Agent: OldPhone\nContent-Length: 0\n\n"
    )


def test_initial_invite_to_a_foreign_domain(loaded: LoadedScript) -> None:
    ret, ctx = run(loaded, request("INVITE", "sip:bob@example.com"))
    assert ret == 3
    out = ctx.msg.serialize().decode()
    assert out.split("\r\n")[1] == "Record-Route: <sip:10.0.0.1;lr;nat=yes>"
    assert "P-hint: outbound\r\n" in out
    assert "User-Agent: NewPhone\r\n" in out


def test_register_is_not_record_routed(loaded: LoadedScript) -> None:
    ret, ctx = run(loaded, request("REGISTER", "sip:10.0.0.1"))
    assert ret == 4
    assert "Record-Route" not in ctx.msg.serialize().decode()


def test_preloaded_route_is_detected(loaded: LoadedScript) -> None:
    ret, _ = run(loaded, request("INVITE", "sip:bob@example.com", "Route: <sip:evil.example.net;lr>\n"))
    assert ret == -2


def test_in_dialog_reinvite_follows_the_route_set_and_records_again(loaded: LoadedScript) -> None:
    routes = (
        "Route: <sip:10.0.0.1:8080;transport=ws;r2=on;lr>, <sip:10.0.0.1;r2=on;lr>, "
        "<sip:p2.example.org;lr>\n"
    )
    ret, ctx = run(loaded, request("INVITE", "sip:bob@10.0.0.7", routes, to_tag="b1"))
    assert ret == 1
    assert ctx.process.vars["du"] == "sip:p2.example.org;lr"
    out = ctx.msg.serialize().decode()
    assert "Route: <sip:p2.example.org;lr>\r\n" in out
    assert "Record-Route: <sip:10.0.0.1;lr>\r\n" in out


def test_is_direction_needs_append_fromtag() -> None:
    text = SCRIPT.replace("return(4);", 'if (is_direction("upstream")) return(5); return(4);')
    report = check_script(parse_text(text, "s.cfg"))
    assert not report.ok
    assert any("append_fromtag" in p.message for p in report.problems)
