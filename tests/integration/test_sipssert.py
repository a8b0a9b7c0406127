"""OpenSIPS's own SIPssert tests (the corpus) run against pysips by `pysips-sipssert`, without Docker.

Every set of the corpus (accounting, auth, dialog, permissions, record-route, registration, startup,
topology-hiding, uac-auth) runs once (module fixture), with their upstream
check scripts (MI checks in Python, SQLite checks in busybox sh, seeing the containers' paths); each
test's verdict is then asserted on its own, so the report names every test that does not pass.
startup/02 (modules pysips lacks) is reported failed at load, with the names pysips is missing.
Small scenarios written here show that the runner never passes a test it did not run: an unknown
task type, a server that never comes up, and a check that starts the moment the server is up.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pysips.sipssert.discovery import locate
from pysips.sipssert.scenario import load_scenario

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "sipssert"
if not CORPUS.is_dir():  # a checkout elsewhere
    CORPUS = Path("/work/shared/corpus/sipssert")
SETS = ("accounting", "auth", "dialog", "permissions", "record-route", "registration", "startup",
        "topology-hiding", "uac-auth")
# loads modules pysips lacks: reported failed at load (test_residential_cfg_fails_at_load_with_missing_names)
KNOWN_FAILING = {"startup/02.gen-residential-cfg"}
ALL_TESTS = sorted(f"{s}/{d.name}" for s in SETS for d in (CORPUS / s).iterdir()
                   if (d / "scenario.yml").is_file())
MUST_PASS = [name for name in ALL_TESTS if name not in KNOWN_FAILING]
STATUS_LINE = re.compile(r"^(PASS|FAIL) (\S+)")


def run_cli(logs: Path, *args: str, timeout: float = 280) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-m", "pysips.sipssert.cli", "--logs", str(logs), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout.splitlines()


@pytest.fixture(scope="module")
def corpus_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sipssert-logs")


@pytest.fixture(scope="module")
def corpus_run(corpus_logs: Path) -> tuple[int, list[str]]:
    return run_cli(corpus_logs, "-j", "4", *(str(CORPUS / s) for s in SETS), timeout=900)


def _verdict(lines: list[str], name: str) -> tuple[str, list[str]]:
    for i, line in enumerate(lines):
        match = STATUS_LINE.match(line)
        if match and match.group(2).rstrip(":") == name:
            detail = []
            for follow in lines[i + 1 :]:
                if not follow.startswith("  "):
                    break
                detail.append(follow)
            return match.group(1), [line, *detail]
    raise AssertionError(f"{name} missing from the runner's output")


@pytest.mark.timeout(1000)
def test_summary_line_and_exit_code(corpus_run: tuple[int, list[str]]) -> None:
    code, lines = corpus_run
    verdicts = [STATUS_LINE.match(line) for line in lines]
    passed = sum(1 for m in verdicts if m and m.group(1) == "PASS")
    failed = sum(1 for m in verdicts if m and m.group(1) == "FAIL")
    assert passed + failed == len(ALL_TESTS)
    assert lines[-1] == f"{passed} passed, {failed} failed"
    assert code == (0 if failed == 0 else 1)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


@pytest.mark.timeout(1000)
@pytest.mark.parametrize("name", MUST_PASS)
def test_corpus_test_passes_with_its_checks(
    corpus_run: tuple[int, list[str]], corpus_logs: Path, name: str
) -> None:
    status, detail = _verdict(corpus_run[1], name)
    assert status == "PASS", "\n".join(detail)
    # every task ran, the upstream checks included, and saw its container's paths
    scenario = load_scenario(locate(CORPUS / name))
    folder = corpus_logs / _slug(name)
    for task in scenario.tasks:
        log = (folder / f"{_slug(task.name)}.log").read_text(errors="replace")
        assert log.startswith("$ "), f"{task.name}: {log[:200]}"
        if task.kind in ("opensips-mi", "generic"):
            assert "/mountns.py " in log.splitlines()[0], log[:300]
        if task.kind == "generic" and str(task.get("args", "")).endswith(".sh"):
            assert " -- busybox sh /home/scripts/" in log.splitlines()[0]


@pytest.mark.timeout(1000)
def test_residential_cfg_fails_at_load_with_missing_names(corpus_run: tuple[int, list[str]]) -> None:
    status, detail = _verdict(corpus_run[1], "startup/02.gen-residential-cfg")
    assert status == "FAIL"
    head = detail[0]
    assert "[OpenSIPS]: pysips stopped at load (exit 1)" in head
    assert "missing modules (" in head
    for name in ("presence", "rtpproxy", "xcap"):
        assert name in head


MI_SCRIPT = """\
socket=udp:192.168.52.1:5060
loadmodule "sl.so"
loadmodule "httpd.so"
modparam("httpd", "ip", "192.168.52.1")
modparam("httpd", "port", 8888)
loadmodule "mi_http.so"
route { sl_send_reply(404, "Not Here"); exit; }
"""
PS_CHECK = """\
import os, sys
from opensips.mi import OpenSIPSMI
mi = OpenSIPSMI(conn="http", url="http://{}:{}/mi".format(os.environ["MI_IP"], os.environ["MI_PORT"]))
sys.exit(0 if mi.execute("ps") else 1)
"""


def write_test(root: Path, scenario: str, script: str = MI_SCRIPT) -> Path:
    test = root / "fake" / "t"
    test.mkdir(parents=True)
    (test / "scenario.yml").write_text(scenario)
    (test / "opensips.cfg").write_text(script)
    (test / "check-ps.py").write_text(PS_CHECK)
    return test


SERVER_AND_CHECK = """\
timeout: 20
tasks:
  - name: OpenSIPS
    type: opensips
  - name: MI check
    type: opensips-mi
    script: check-ps.py
    mi_ip: 192.168.52.1
    require:
      started: OpenSIPS
"""


@pytest.mark.timeout(120)
def test_a_check_right_at_start_finds_the_server_up(tmp_path: Path) -> None:
    # no task socket and no wait: the runner must hold the check until pysips serves (its script's
    # socket bound), or the check meets a closed MI port
    test = write_test(tmp_path, SERVER_AND_CHECK)
    code, lines = run_cli(tmp_path / "logs", str(test), timeout=100)
    assert lines[0] == "PASS fake/t", "\n".join(lines)
    assert code == 0


@pytest.mark.timeout(120)
def test_an_unknown_task_type_fails(tmp_path: Path) -> None:
    scenario = SERVER_AND_CHECK + """\
  - name: Caller
    type: uac-sipp-stir-shaken
    proxy: 192.168.52.1:5060
    require: MI check
"""
    test = write_test(tmp_path, scenario)
    code, lines = run_cli(tmp_path / "logs", str(test), timeout=100)
    assert code == 1
    assert lines[0] == (
        "FAIL fake/t [Caller]: cannot run here: task type 'uac-sipp-stir-shaken' has no local runner"
    ), "\n".join(lines)
    assert lines[-1] == "0 passed, 1 failed"


@pytest.mark.timeout(120)
def test_a_server_that_never_comes_up_fails(tmp_path: Path) -> None:
    # a server that hangs while it loads (never binds, never says it serves), in place of pysips
    hang = tmp_path / "hanging-server"
    hang.write_text("#!/bin/sh\nsleep 60\n")
    hang.chmod(0o755)
    test = write_test(tmp_path, SERVER_AND_CHECK)
    code, lines = run_cli(
        tmp_path / "logs", "--pysips", str(hang), "--startup-timeout", "2", str(test), timeout=100
    )
    assert code == 1
    expected = r"FAIL fake/t \[OpenSIPS\]: pysips never came up: did not open udp:127\.[\d.]+:5060 within 2 s"
    assert re.fullmatch(expected, lines[0]), "\n".join(lines)
    assert not (tmp_path / "logs" / "fake_t" / "MI_check.log").exists()  # the check never ran
