from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from sipssert_corpus import CORPUS

from pysips.sipssert.addresses import plan
from pysips.sipssert.discovery import locate
from pysips.sipssert.paths import PathMap
from pysips.sipssert.runners import Broken, Launch, NotRun, TaskContext, build_launch
from pysips.sipssert.runners.base import Endpoint, RunnerOptions, parse_socket
from pysips.sipssert.runners.container import MOUNTNS
from pysips.sipssert.runners.opensips import pin_httpd
from pysips.sipssert.scenario import Scenario, load_scenario

AMAP = plan([("192.168.52.1", 0), ("192.168.52.3", 0), ("10.52.0.1", 1), ("10.52.0.3", 1)], "127.8.8")
OPTIONS = RunnerOptions(pysips=["pysips"], python="python3")


def context(scenario: Scenario, name: str, workdir: Path, ip: str = "127.8.8.50") -> TaskContext:
    spec = next(t for t in scenario.tasks if t.name == name)
    binds = [(spec.mount_point, scenario.directory)] + [(v.bind, workdir / v.name) for v in spec.volumes]
    return TaskContext(spec, scenario, AMAP, PathMap(binds), ip, workdir, OPTIONS)


def test_uac_swaps_proxy_and_remote(tmp_path: Path) -> None:
    scenario = load_scenario(locate(CORPUS / "record-route" / "03.record-route-double"))
    launch = build_launch(context(scenario, "SIPP UAC", tmp_path))
    assert isinstance(launch, Launch)
    argv = launch.argv
    assert argv[argv.index("-sf") + 1] == str(scenario.directory / "scripts" / "uac.xml")
    assert argv[argv.index("-s") + 1] == "testing"
    assert argv[argv.index("-p") + 1] == "5040"
    assert argv[argv.index("-i") + 1] == "127.8.8.50"
    assert "127.8.8.67:5080" in argv  # the remote host (uas_ip_osbr1), positional
    assert argv[argv.index("-rsa") + 1] == "127.8.8.1:5060"  # messages go through OpenSIPS
    keys = [tuple(argv[i + 1 : i + 3]) for i, a in enumerate(argv) if a == "-key"]
    assert ("double_domain", "127.8.8.65") in keys and ("domain", "127.8.8.1") in keys
    assert ("caller", "caller") in keys and ("scenario", "03.record-route-double") in keys
    assert argv[argv.index("-m") + 1] == "1" and argv[argv.index("-d") + 1] == "4000"
    assert "-bind_local" in argv
    assert launch.endpoints == (Endpoint("udp", "127.8.8.50", 5040),)


def test_uas_has_no_remote(tmp_path: Path) -> None:
    scenario = load_scenario(locate(CORPUS / "record-route" / "01.record-route"))
    launch = build_launch(context(scenario, "SIPP UAS", tmp_path, ip="127.8.8.3"))
    assert isinstance(launch, Launch)
    assert "-rsa" not in launch.argv
    assert launch.argv[launch.argv.index("-au") + 1] == "testing"
    assert launch.argv[launch.argv.index("-p") + 1] == "5080"


def test_opensips_script_gets_sockets_and_mapped_paths(tmp_path: Path) -> None:
    scenario = load_scenario(locate(CORPUS / "registration" / "02.db"))
    launch = build_launch(context(scenario, "OpenSIPS", tmp_path, ip="127.8.8.1"))
    assert isinstance(launch, Launch)
    rendered = Path(launch.argv[launch.argv.index("-f") + 1])
    text = rendered.read_text()
    original = (scenario.directory / "opensips.cfg").read_text()
    assert text.startswith("socket=udp:127.8.8.1:5060 #")
    assert text.count("\n") == original.count("\n")  # line numbers are kept
    assert f'"sqlite://{tmp_path}/db_sqlite/opensips.db"' in text
    assert 'modparam("httpd", "ip", "127.8.8.1")' in text
    assert "192.168.52" not in text
    assert launch.endpoints == (Endpoint("udp", "127.8.8.1", 5060),)
    assert launch.strict_bind


def test_httpd_is_pinned_only_without_an_address() -> None:
    script = 'loadmodule "httpd.so"\nloadmodule "mi_http.so"\n'
    assert pin_httpd(script, "127.1.1.1") == (
        'loadmodule "httpd.so" modparam("httpd", "ip", "127.1.1.1")\nloadmodule "mi_http.so"\n'
    )
    explicit = script + 'modparam("httpd", "ip", "10.0.0.1")\n'
    assert pin_httpd(explicit, "127.1.1.1") == explicit


def after_namespace(argv: list[str]) -> tuple[list[str], list[str]]:
    """The bind arguments given to mountns.py and the command it runs, from a wrapped argv."""
    assert argv[:4] == [shutil.which("unshare"), "--mount", "--propagation", "private"]
    assert argv[4:6] == ["python3", str(MOUNTNS)]
    cut = argv.index("--")
    return argv[6:cut], argv[cut + 1 :]


def test_generic_tasks_run_in_their_containers_view(tmp_path: Path) -> None:
    scenario = load_scenario(locate(CORPUS / "registration" / "02.db"))
    launch = build_launch(context(scenario, "Init SQLite DB", tmp_path))
    assert isinstance(launch, Launch)
    binds, command = after_namespace(launch.argv)
    assert f"/var/lib/opensips/db_sqlite={tmp_path / 'db_sqlite'}" in binds
    assert f"/home={scenario.directory}" in binds
    # the container's paths, resolved by the mounts; cp is busybox's in the alpine image
    assert command == ["busybox", "cp", "/home/opensips.db", "/var/lib/opensips/db_sqlite/opensips.db"]
    check = build_launch(context(scenario, "SQLite Check Register", tmp_path))
    assert isinstance(check, Launch)
    assert after_namespace(check.argv)[1] == ["busybox", "sh", "/home/scripts/sqlite-register.sh"]
    assert check.what == "sqlite-register.sh"


@pytest.mark.parametrize(
    ("image", "head", "command"),
    [
        ("keinos/sqlite3", "#!/usr/bin/env sh\n", ["busybox", "sh", "/home/c.sh", "x"]),
        ("alpine:3.19", "#!/bin/sh -e\n", ["busybox", "sh", "-e", "/home/c.sh", "x"]),
        ("debian", "#!/bin/sh\n", ["sh", "/home/c.sh", "x"]),
        (None, "echo no shebang\n", ["sh", "/home/c.sh", "x"]),
        ("alpine", "#!/usr/bin/env python3\n", ["python3", "/home/c.sh", "x"]),
    ],
)
def test_scripts_run_with_their_images_shell(
    tmp_path: Path, image: str | None, head: str, command: list[str]
) -> None:
    test = tmp_path / "set" / "t"
    test.mkdir(parents=True)
    (test / "c.sh").write_text(head + "exit 0\n")
    line = f"    image: {image}\n" if image else ""
    task = f"  - name: G\n    type: generic\n{line}    args: /home/c.sh x\n"
    (test / "scenario.yml").write_text(f"tasks:\n{task}")
    launch = build_launch(context(load_scenario(locate(test)), "G", tmp_path))
    assert isinstance(launch, Launch)
    assert after_namespace(launch.argv)[1] == command


def test_mi_check_script_not_shipped_cannot_run(tmp_path: Path) -> None:
    test = tmp_path / "set" / "t"
    test.mkdir(parents=True)
    (test / "scenario.yml").write_text("tasks:\n  - name: MI\n    type: opensips-mi\n    script: check.py\n")
    outcome = build_launch(context(load_scenario(locate(test)), "MI", tmp_path))
    assert outcome == NotRun("check script check.py is not shipped with the test")


def test_mi_check_script_runs_with_mi_environment(tmp_path: Path) -> None:
    test = tmp_path / "set" / "t"
    test.mkdir(parents=True)
    (test / "check.py").write_text("print('ok')\n")
    (test / "scenario.yml").write_text(
        "tasks:\n  - name: MI\n    type: opensips-mi\n    script: check.py\n"
        "    mi_ip: 192.168.52.1\n    args: 2\n"
    )
    scenario = load_scenario(locate(test))
    launch = build_launch(context(scenario, "MI", tmp_path))
    assert isinstance(launch, Launch)
    binds, command = after_namespace(launch.argv)
    assert command == ["python3", "/home/check.py", "2"]
    assert f"/home={test}" in binds
    assert launch.env == {"MI_TYPE": "http", "MI_IP": "127.8.8.1", "MI_PORT": "8888"}


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ("/opt/nothing-h16/run x", "/opt/nothing-h16/run is not here (a file of the alpine container)"),
        ("/home/nothing-h16.sh", "/home/nothing-h16.sh is not shipped with the test"),
        ("no-such-program-h16 x", "'no-such-program-h16' is not installed here"),
        (None, "runs the default command of image alpine"),
    ],
)
def test_generic_that_cannot_run(tmp_path: Path, args: str | None, reason: str) -> None:
    test = tmp_path / "set" / "t"
    test.mkdir(parents=True)
    line = f"    args: {args}\n" if args else ""
    (test / "scenario.yml").write_text(f"tasks:\n  - name: G\n    type: generic\n    image: alpine\n{line}")
    scenario = load_scenario(locate(test))
    assert build_launch(context(scenario, "G", tmp_path)) == NotRun(reason)


def test_unknown_task_type_cannot_run(tmp_path: Path) -> None:
    scenario = load_scenario(locate(CORPUS / "registration" / "01.no-db"))
    spec = replace(scenario.tasks[1], kind="uac-sipp-stir-shaken")
    ctx = TaskContext(spec, scenario, AMAP, PathMap([]), "127.8.8.50", tmp_path, OPTIONS)
    assert build_launch(ctx) == NotRun("task type 'uac-sipp-stir-shaken' has no local runner")


def test_opensips_without_task_sockets_waits_for_the_scripts(tmp_path: Path) -> None:
    test = tmp_path / "set" / "t"
    test.mkdir(parents=True)
    (test / "opensips.cfg").write_text(
        "socket=udp:192.168.52.1:5070\nlisten = tcp:192.168.52.1:5071 # comment\n"
        "socket=udp:eth0:5072\nroute { exit; }\n"
    )
    (test / "scenario.yml").write_text(
        "tasks:\n  - name: S\n    type: opensips\n    ip: 192.168.52.1\n"
    )
    launch = build_launch(context(load_scenario(locate(test)), "S", tmp_path, ip="127.8.8.1"))
    assert isinstance(launch, Launch)
    # the interface socket cannot be watched: the log line tells when every socket is bound
    assert launch.endpoints == (Endpoint("udp", "127.8.8.1", 5070), Endpoint("tcp", "127.8.8.1", 5071))
    assert launch.ready_line == "NOTICE:server: listening on "
    assert launch.bind_timeout == OPTIONS.startup_timeout and launch.strict_bind
    (test / "opensips.cfg").write_text("route { exit; }\n")
    bare = build_launch(context(load_scenario(locate(test)), "S", tmp_path, ip="127.8.8.1"))
    assert isinstance(bare, Launch)
    assert bare.endpoints == (Endpoint("udp", "0.0.0.0", 5060),)


def test_missing_sipp_scenario_breaks_the_test(tmp_path: Path) -> None:
    test = tmp_path / "set" / "t"
    test.mkdir(parents=True)
    (test / "scenario.yml").write_text(
        "tasks:\n  - name: U\n    type: uac-sipp\n    proxy: 192.168.52.1:5060\n    config_file: nope.xml\n"
    )
    scenario = load_scenario(locate(test))
    assert build_launch(context(scenario, "U", tmp_path)) == Broken(
        "sipp scenario nope.xml not found in the test folder"
    )


def test_socket_syntax() -> None:
    assert parse_socket("udp:127.0.0.5:5060") == Endpoint("udp", "127.0.0.5", 5060)
    assert parse_socket("tls:127.0.0.5:5061 as 1.2.3.4:5061") == Endpoint("tcp", "127.0.0.5", 5061)
    assert parse_socket("sctp:1.2.3.4:5060") is None
    assert parse_socket("udp:1.2.3.4") is None


def test_a_bare_lt_in_an_attribute_is_escaped_but_cdata_is_not() -> None:
    from pysips.sipssert.runners.sipp import escape_attribute_lt

    text = ('<recv request="INVITE"><action><ereg regexp="<sip:([^;@]*);thinfo=" assign_to="a,b"/>'
            '</action></recv><send><![CDATA[\nContact: <sip:x>;+sip.instance="<urn:uuid:1>"\n]]></send>')
    out = escape_attribute_lt(text)
    assert 'regexp="&lt;sip:([^;@]*);thinfo="' in out
    assert '+sip.instance="<urn:uuid:1>"' in out  # the SIP message is not XML: untouched
    assert escape_attribute_lt(out) == out
