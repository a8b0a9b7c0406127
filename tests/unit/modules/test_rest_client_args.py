"""rest_client: its transformations and load-time checks (the transfers themselves run against a
real HTTP server in tests/integration/test_rest_client.py)."""

from __future__ import annotations

from pysips.script.compile import check_script, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.parse import parse_text

HEAD = 'loadmodule "rest_client.so"\n'


def test_escape_and_unescape_as_the_opensips_examples() -> None:
    text = HEAD + """route {
        $var(tmp) = "call@example.com&safe=false";
        $var(escaped) = $(var(tmp){rest.escape});
        $var(coded) = "OpenSIPs%2C%20tastes%20better%20with%20every%20SIP%21";
        $var(plain) = $(var(coded){rest.unescape});
        $var(round) = $(var(tmp){rest.escape}{rest.unescape});
    }"""
    loaded = load_script(parse_text(text, "r.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    assert loaded.main_route is not None
    loaded.run(loaded.main_route, MsgContext(process))
    assert process.vars["escaped"] == "call%40example.com%26safe%3Dfalse"
    assert process.vars["plain"] == "OpenSIPs, tastes better with every SIP!"
    assert process.vars["round"] == "call@example.com&safe=false"


def test_load_errors() -> None:
    for body in ('xlog("$(ru{rest.nope})");', 'rest_init_client_tls("dom");',
                 'rest_get("http://x/", $var(b), , , $var(extra));'):
        report = check_script(parse_text(HEAD + f"route {{ {body} }}\n", "r.cfg"))
        assert not report.ok, body
    report = check_script(parse_text('route { xlog("$(ru{rest.escape})"); }\n', "r.cfg"))
    assert not report.ok  # without the module the class is unknown
