"""Scripts OpenSIPS accepts must load (issue 11): level spellings xlog tolerates, variables in
t_relay's proxy, and the 1.x/2.x forms 3.x dropped, which pysips accepts while `pysips -c` warns."""

from __future__ import annotations

import logging

import pytest
from test_compile_support import run

from pysips.script.compile import CheckReport, LoadOptions, check_script, load_script
from pysips.script.parse import parse_text

HEAD = 'socket=udp:127.0.0.1:5070\nloadmodule "tm.so"\nloadmodule "sl.so"\n'


def check(text: str) -> CheckReport:
    return check_script(parse_text(text, "t.cfg"), LoadOptions())


def warnings(report: CheckReport) -> list[tuple[int, str]]:
    return [(p.pos.line, p.message) for p in report.problems if p.warning]


@pytest.mark.parametrize(
    ("written", "read_as"),
    [("L_ERROR", "L_ERR"), ("L_WARNING", "L_WARN"), ("L_CRITICAL", "L_CRIT"), ("L_INFORMATION", "L_INFO"),
     ("L_DEBUG", "L_DBG"), ("L_NOTE", "L_NOTICE"), ("L_ALRT", "L_ALERT")],
)
def test_xlog_reads_the_level_by_its_third_character(written: str, read_as: str) -> None:
    report = check(HEAD + f'route {{ xlog("{written}", "x\\n"); }}\n')
    assert report.ok
    ((line, message),) = warnings(report)
    assert line == 4 and f"read as {read_as}" in message


@pytest.mark.parametrize("level", ["L_FOO", "ERR", "X"])
def test_xlog_refuses_what_opensips_refuses(level: str) -> None:
    report = check(HEAD + f'route {{ xlog("{level}", "x\\n"); }}\n')
    assert not report.ok and "unknown log level" in report.problems[0].message


def test_xlog_error_spelling_logs_at_error(caplog: pytest.LogCaptureFixture) -> None:
    loaded = load_script(parse_text(HEAD + 'route { xlog("L_ERROR", "boom\\n"); }\n', "t.cfg"), LoadOptions())
    caplog.set_level(logging.DEBUG)
    run(loaded)
    assert [(r.levelno, r.getMessage()) for r in caplog.records if "boom" in r.getMessage()] == [
        (logging.ERROR, "boom")
    ]


def test_t_relay_takes_a_proxy_built_from_variables() -> None:
    report = check(HEAD + 'route { t_relay(,"tls:$rd:5061"); t_relay("$var(flags)", "udp:$si:$sp"); }\n')
    assert report.ok, [p.format() for p in report.problems]
    assert warnings(report) == []


def test_2x_t_relay_proxy_loads_with_a_warning() -> None:
    text = 'route { t_relay("udp:10.0.0.1:5060"); t_relay("tcp:proxy.example.com:5070", 1); }\n'
    report = check(HEAD + text)
    assert report.ok, [p.format() for p in report.problems]
    assert [line for line, message in warnings(report) if "2.x t_relay(proxy)" in message] == [4, 4]


def test_2x_remove_hf_with_flags_loads_with_a_warning() -> None:
    text = 'loadmodule "sipmsgops.so"\nroute { remove_hf("^X-", "r"); remove_hf("X-*", "g"); }\n'
    report = check(HEAD + text)
    assert report.ok, [p.format() for p in report.problems]
    found = [m for _, m in warnings(report)]
    assert len(found) == 2 and "remove_hf_re" in found[0] and "remove_hf_glob" in found[1]


def test_rtpengine_set_defined_nowhere_loads() -> None:
    text = 'loadmodule "rtpengine.so"\nmodparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:2223")\n'
    report = check(HEAD + text + "route { rtpengine_use_set(7); }\n")
    assert report.ok and [line for line, _ in warnings(report)] == [6]


def test_core_tls_parameters_of_1x_feed_tls_mgm() -> None:
    text = (
        'tls_certificate="/etc/pysips/cert.pem"\ntls_private_key="/etc/pysips/key.pem"\n'
        "tls_handshake_timeout=120\n"
        'loadmodule "tls_mgm.so"\nmodparam("tls_mgm", "private_key", "/etc/other.pem")\nroute { exit; }\n'
    )
    loaded = load_script(parse_text(HEAD + text, "t.cfg"), LoadOptions())
    params = loaded.modules["tls_mgm"].params
    assert params["certificate"] == ["/etc/pysips/cert.pem"]
    assert params["private_key"] == ["/etc/other.pem"]  # the script's own modparam wins
    notes = {w.pos.line: w.message for w in loaded.warnings}
    assert 'used as modparam("tls_mgm", "certificate")' in notes[4]
    assert 'ignored: modparam("tls_mgm", "private_key") is set' in notes[5]
    assert "no tls_mgm equivalent" in notes[6]


def test_core_tls_parameters_without_tls_mgm_are_accepted() -> None:
    report = check(HEAD + "tls_method=TLSv1\ntls_verify_client=1\nroute { exit; }\n")
    assert report.ok
    assert [line for line, m in warnings(report) if "1.x TLS setting" in m] == [4, 5]


def test_mi_http_method_of_2x_is_accepted() -> None:
    text = 'loadmodule "httpd.so"\nloadmodule "mi_http.so"\nmodparam("mi_http", "mi_http_method", 1)\n'
    report = check(HEAD + text + "route { exit; }\n")
    assert report.ok and [line for line, _ in warnings(report)] == [6]


def test_unknown_xlog_level_is_still_reported_with_every_other_error() -> None:
    report = check(HEAD + 'route { xlog("L_FOO", "a"); nosuch(); t_relay(1, 2, 3); }\n')
    assert [p.pos.col for p in report.problems if not p.warning] == [14, 29, 39]


def test_bare_word_arguments_load_with_a_warning_per_function() -> None:
    """OpenSIPS 3.x's grammar takes quoted strings, numbers and variables as arguments; 2.x
    scripts write flag names bare (`setflag(NAT)`). pysips accepts them and -c says so."""
    report = check(HEAD + "route { setflag(NAT); setflag(WS); if (isflagset(NAT)) exit; }\n")
    assert report.ok
    notes = [(line, message) for line, message in warnings(report) if "bare word" in message]
    assert [message.split(":")[0] for _, message in notes] == ["setflag(NAT)", "isflagset(NAT)"]
    assert 'write setflag("NAT")' in notes[0][1]


def test_break_outside_a_loop_or_switch_loads_with_a_warning() -> None:
    text = (
        'route { if ($rm == "A") { xlog("a"); break; }\n'
        '  while ($var(i) < 2) { $var(i) = $var(i) + 1; break; }\n'
        '  switch ($rm) { case "B": break; default: break; }\n  break; }\n'
    )
    report = check(HEAD + text)
    assert report.ok
    assert [line for line, m in warnings(report) if "'break' outside a loop" in m] == [4]
