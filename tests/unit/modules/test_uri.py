"""uri (the 2.x module): it loads with its parameters; its database/AAA checks are load errors."""

from __future__ import annotations

import pytest

from pysips.script.compile import check_script, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.loader import ModuleFinder
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

HEAD = 'listen=udp:127.0.0.1:5060\nloadmodule "uri.so"\nmodparam("uri", "use_uri_table", 0)\n'


def test_seed_modparam_loads() -> None:
    loaded = load_script(parse_text(HEAD + "route { exit; }\n", "u.cfg"))
    assert loaded.modules["uri"].params["use_uri_table"] == 0
    assert loaded.modules["uri"].params["db_table"] == "subscriber"


@pytest.mark.parametrize("call", ["db_does_uri_exist()", "db_check_to()", "aaa_does_uri_exist()"])
def test_database_functions_are_load_errors_naming_the_function(call: str) -> None:
    report = check_script(parse_text(HEAD + f"route {{\n  if ({call}) exit;\n}}\n", "u.cfg"))
    assert not report.ok
    errors = [p for p in report.problems if not p.warning]
    name = call.split("(")[0]
    assert any(name in p.message and (p.pos.file, p.pos.line) == ("u.cfg", 5) for p in errors), errors


def test_unknown_param_is_a_load_error() -> None:
    report = check_script(parse_text(HEAD + 'modparam("uri", "no_such", 1)\nroute { exit; }\n', "u.cfg"))
    assert not report.ok


def _ctx(ruri: str) -> MsgContext:
    text = (
        f"INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-1\r\nFrom: <sip:a@b>;tag=1\r\n"
        "To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, SipMessage)
    return MsgContext(ProcessState(), msg, ReceiveInfo("udp", "127.0.0.1", 5060, "10.0.0.2", 5060))


def test_has_user_part_and_uri_param() -> None:
    found = ModuleFinder().find("uri")
    assert found is not None
    fns = found.exports.functions_by_name
    assert fns["has_user_part"].handler(_ctx("sip:bob@example.com")) == 1
    assert fns["has_user_part"].handler(_ctx("sip:example.com")) == -1
    ctx = _ctx("sip:example.com;user=phone;lr")
    assert fns["uri_param"].handler(ctx, "user", "phone") == 1
    assert fns["uri_param"].handler(ctx, "lr") == 1
    assert fns["uri_param"].handler(ctx, "user", "ip") == -1
    assert fns["uri_param"].handler(ctx, "maddr") == -1
