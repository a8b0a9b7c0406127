"""exec: load-time checks and the SIP_* variables (the commands themselves run in
tests/integration/test_exec_module.py)."""

from __future__ import annotations

from modules.exec import sip_variables
from pysips.script.compile import check_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo


def test_env_must_be_an_avp() -> None:
    head = 'loadmodule "exec.so"\n'
    report = check_script(parse_text(head + 'route { exec("true", , , , $var(e)); }\n', "e.cfg"))
    assert not report.ok and any("AVP" in p.message for p in report.problems)
    assert check_script(parse_text(head + 'route { exec("true", , , , $avp(e)); }\n', "e.cfg")).ok


def test_sip_variables() -> None:
    msg = parse_message(
        b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK77\r\n"
        b"f: <sip:a@b>;tag=ft\r\nTo: <sip:bob@example.com>;tag=tt\r\nCall-ID: c1\r\n"
        b"CSeq: 1 INVITE\r\nX-Two: 1\r\nX-Two: 2\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(msg, SipMessage)
    ctx = MsgContext(ProcessState(), msg, ReceiveInfo("udp", "10.0.0.1", 5060, "10.0.0.2", 5060))
    ctx.new_ruri = "sip:carol@example.net"
    env = sip_variables(ctx)
    assert env["SIP_HF_FROM"] == "<sip:a@b>;tag=ft"  # compact form written canonically
    assert env["SIP_HF_X_TWO"] == "1,2"
    assert (env["SIP_RURI"], env["SIP_USER"]) == ("sip:carol@example.net", "carol")
    assert (env["SIP_ORURI"], env["SIP_OUSER"]) == ("sip:bob@example.com", "bob")
    assert env["SIP_SRCIP"] == "10.0.0.2" and env["SIP_DID"] == "tt"
    assert len(env["SIP_TID"]) == 32
