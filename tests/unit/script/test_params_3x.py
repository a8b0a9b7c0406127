"""OpenSIPS 3.x global parameters real scripts use (issue 11): auto-scaling profiles, quoted
aliases, a bare IP in advertised_address. Each is accepted as cfg.y accepts it, or refused where
cfg.y refuses it."""

from __future__ import annotations

import pytest
from test_compile_support import TEST_MODULES

from pysips.script import ast
from pysips.script.compile import LoadOptions, check_script, load_script
from pysips.script.myself import from_script
from pysips.script.parse import ScriptSyntaxError, parse_text

PROFILES = """\
auto_scaling_profile = PROFILE_UDP
     scale up to 6 on 70% for 4 cycles within 5
     scale down to 2 on 18% for 10 cycles
auto_scaling_profile = SHORT scale up to 4 on 80 % for 3 cycles
auto_scaling_profile = Within_Only SCALE UP TO 8 ON 90% FOR 2 CYCLES WITHIN 3
auto_scaling_cycle = 2
udp_workers=4 use_auto_scaling_profile PROFILE_UDP
timer_workers=2 use_auto_scaling_profile SHORT
tcp_workers=3 use_auto_scaling_profile within_only
socket=udp:127.0.0.1:5070 use_workers 2 use_auto_scaling_profile SHORT
route { exit; }
"""


def _params(text: str) -> dict[str, list[ast.ParamValue]]:
    out: dict[str, list[ast.ParamValue]] = {}
    for item in parse_text(text, "t.cfg").items:
        if isinstance(item, ast.GlobalParam):
            out.setdefault(item.name, []).append(item.value)
    return out


def test_auto_scaling_profiles_parse_in_every_form() -> None:
    params = _params(PROFILES)
    assert params["auto_scaling_profile"] == [
        ast.ScalingProfile("PROFILE_UDP", 6, 70, 4, 5, 2, 18, 10),
        ast.ScalingProfile("SHORT", 4, 80, 3, 3),
        ast.ScalingProfile("Within_Only", 8, 90, 2, 3),
    ]
    assert params["udp_workers"] == [ast.WorkerCount(4, "PROFILE_UDP")]
    assert params["tcp_workers"] == [ast.WorkerCount(3, "within_only")]
    socket = params["socket"][0]
    assert isinstance(socket, ast.SocketSpec)
    assert socket.use_workers == 2 and "use_auto_scaling_profile=SHORT" in socket.flags


def test_auto_scaling_script_loads_with_worker_counts() -> None:
    loaded = load_script(parse_text(PROFILES, "t.cfg"), LoadOptions(mpath=str(TEST_MODULES)))
    assert (loaded.core["udp_workers"], loaded.core["timer_workers"], loaded.core["tcp_workers"]) == (4, 2, 3)
    assert loaded.warnings == []


def test_undefined_profile_is_a_warning_as_in_opensips() -> None:
    text = "udp_workers=4 use_auto_scaling_profile NOPE\nroute { exit; }\n"
    report = check_script(parse_text(text, "t.cfg"), LoadOptions(mpath=str(TEST_MODULES)))
    assert report.ok
    assert [(p.warning, p.pos.line) for p in report.problems] == [(True, 1)]
    assert "'NOPE' is not defined" in report.problems[0].message


def test_profile_defined_twice_is_an_error() -> None:
    text = (
        "auto_scaling_profile = P scale up to 4 on 80% for 3 cycles\n"
        "auto_scaling_profile = p scale up to 5 on 80% for 3 cycles\nroute { exit; }\n"
    )
    report = check_script(parse_text(text, "t.cfg"), LoadOptions(mpath=str(TEST_MODULES)))
    assert not report.ok and report.problems[0].pos.line == 2


@pytest.mark.parametrize(
    ("profile", "complaint"),
    [
        ("P scale up to 4 on 80% for 3", "'cycles'"),
        ("P scale up to 4 at 80% for 3 cycles", "'on'"),
        ("P scale up to 0 on 80% for 3 cycles", "process range"),
        ("P scale up to 4 on 80% for 3 cycles scale down to 4 on 10% for 5 cycles", "process range"),
        ("P scale up to 4 on 20% for 3 cycles scale down to 2 on 30% for 5 cycles", "thresholds"),
        ("P scale up to 4 on 101% for 3 cycles", "thresholds"),
        ("P scale up to 4 on 80% for 5 cycles within 3", "upscaling check"),
        ("P scale up to 4 on 80% for 3 cycles and more", "'scale down to'"),
    ],
)
def test_bad_profiles_are_refused_as_cfg_y_refuses_them(profile: str, complaint: str) -> None:
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_text(f"auto_scaling_profile = {profile}\nroute {{ exit; }}\n", "t.cfg")
    problem = caught.value.problems[0]
    assert problem.pos.line == 1 and complaint in problem.message, problem.message


def test_quoted_alias_is_one_host_name_as_in_cfg_y() -> None:
    text = (
        'alias="example.com:5060"\nalias="sip.example.org" other.net udp:"q.example.net":5070\n'
        "route { exit; }\n"
    )
    params = _params(text)
    first = params["alias"][0]
    assert isinstance(first, ast.SocketSpec) and (first.host, first.port) == ("example.com:5060", None)
    table = from_script([ast.GlobalParam("alias", v) for v in params["alias"]])
    assert table.is_myself("sip.example.org", 5999)
    assert table.is_myself("other.net", None)
    assert table.is_myself("q.example.net", 5070) and not table.is_myself("q.example.net", 5060)
    # the port stays part of the name: no URI host equals "example.com:5060"
    assert not table.is_myself("example.com", 5060) and not table.is_myself("example.com", None)
    report = check_script(parse_text(text, "t.cfg"), LoadOptions(mpath=str(TEST_MODULES)))
    assert report.ok
    assert [p.pos.line for p in report.problems if p.warning] == [1]
    assert "write alias=example.com:5060" in report.problems[0].message


@pytest.mark.parametrize("value", ["203.0.113.7", '"203.0.113.7"', "sip.example.com", "::1"])
def test_advertised_address_takes_an_ip_or_a_name(value: str) -> None:
    script = parse_text(f"advertised_address={value}\nroute {{ exit; }}\n", "t.cfg")
    loaded = load_script(script, LoadOptions(mpath=str(TEST_MODULES)))
    assert loaded.core["advertised_address"] == value.strip('"')
