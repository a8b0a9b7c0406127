"""The scheduler, with real (tiny) local processes as generic tasks."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from pysips.sipssert.addresses import plan
from pysips.sipssert.discovery import locate
from pysips.sipssert.engine import TestEnvironment as Environment
from pysips.sipssert.engine import release_ip, task_ip
from pysips.sipssert.runner import RunOptions, run_test
from pysips.sipssert.runners.base import RunnerOptions
from pysips.sipssert.scenario import load_scenario


def make_test(tmp_path: Path, body: str, timeout: float | None = 5) -> Path:
    test = tmp_path / "set" / "t"
    test.mkdir(parents=True)
    head = f"timeout: {timeout}\n" if timeout else ""
    (test / "scenario.yml").write_text(
        head + "volumes:\n  data:\n    bind: /data\n    mode: rw\ntasks:\n" + body
    )
    return test


def run(tmp_path: Path, body: str, timeout: float | None = 5):  # type: ignore[no-untyped-def]
    test = make_test(tmp_path, body, timeout)
    return run_test(locate(test), 0, RunOptions(logs=tmp_path / "logs"))


def mtime(tmp_path: Path, name: str) -> float:
    return (tmp_path / "logs" / "set_t" / "volumes" / "data" / name).stat().st_mtime


def test_after_waits_for_the_end_plus_wait(tmp_path: Path) -> None:
    body = """
  - name: A
    type: generic
    volumes: [data]
    args: sh /home/a.sh /data/a
  - name: B
    type: generic
    volumes: [data]
    args: touch /data/b
    require:
      after:
        task: A
        wait: 0.3
"""
    test = make_test(tmp_path, body)
    (test / "a.sh").write_text('sleep 0.3; touch "$1"\n')
    result = run_test(locate(test), 0, RunOptions(logs=tmp_path / "logs"))
    assert result.passed, result
    assert mtime(tmp_path, "b") - mtime(tmp_path, "a") >= 0.25


def test_started_does_not_wait_for_the_end(tmp_path: Path) -> None:
    body = """
  - name: A
    type: generic
    args: sleep 1
  - name: B
    type: generic
    volumes: [data]
    args: touch /data/b
    require:
      started: A
"""
    began = time.time()
    result = run(tmp_path, body)
    assert result.passed, result
    assert mtime(tmp_path, "b") - began < 0.8
    assert result.seconds >= 1.0  # the phase still lasts until A ends


def test_a_failing_task_fails_the_test_with_its_log(tmp_path: Path) -> None:
    result = run(
        tmp_path, "  - name: Boom\n    type: generic\n    volumes: [data]\n    args: ls /data/nothing-here\n"
    )
    assert not result.passed
    assert result.task == "Boom"
    assert result.reason == "ls exited with status 2"
    assert any("nothing-here" in line for line in result.log_tail)
    assert result.log_dir == tmp_path / "logs" / "set_t"


def test_scenario_timeout_kills_and_fails(tmp_path: Path) -> None:
    began = time.monotonic()
    result = run(tmp_path, "  - name: Slow\n    type: generic\n    args: sleep 30\n", timeout=0.5)
    assert time.monotonic() - began < 5
    assert not result.passed
    assert result.reason.startswith("timeout after 0.5 s; still running: Slow")


def test_task_timeout_key(tmp_path: Path) -> None:
    result = run(tmp_path, "  - name: Slow\n    type: generic\n    timeout: 0.3\n    args: sleep 30\n")
    assert not result.passed
    assert result.reason == "still running after its timeout of 0.3 s"


def test_never_started_tasks_are_named(tmp_path: Path) -> None:
    body = "  - name: Late\n    type: generic\n    args: 'true'\n    require:\n      wait: 60\n"
    result = run(tmp_path, body, timeout=0.3)
    assert not result.passed
    assert "never started: Late (waiting for wait +60s)" in result.reason


def test_a_task_that_cannot_run_fails_the_test(tmp_path: Path) -> None:
    body = """
  - name: Check
    type: opensips-mi
    script: check.py
  - name: Next
    type: generic
    args: 'true'
    require: Check
"""
    result = run(tmp_path, body)
    assert not result.passed
    assert result.task == "Check"
    assert result.reason == "cannot run here: check script check.py is not shipped with the test"


def test_an_unknown_task_type_fails_the_test(tmp_path: Path) -> None:
    body = """
  - name: Caller
    type: uac-sipp-stir-shaken
    proxy: 192.168.52.1:5060
"""
    result = run(tmp_path, body)
    assert not result.passed
    assert result.task == "Caller"
    assert result.reason == "cannot run here: task type 'uac-sipp-stir-shaken' has no local runner"


SQLITE_CHECK = """#!/usr/bin/env sh
l=$(sqlite3 /data/test.db "SELECT COUNT(*) FROM location")
[ "$l" == "1" ] && exit 0
echo "ERROR: number of contacts is $l"
exit 1
"""


def sqlite_check_test(tmp_path: Path, image: str) -> Path:
    body = f"""
  - name: Init
    type: generic
    image: alpine
    volumes: [data]
    args: cp /home/test.db /data/test.db
  - name: Check
    type: generic
    image: {image}
    volumes: [data]
    args: /home/check.sh
    require: Init
"""
    test = make_test(tmp_path, body)
    db = sqlite3.connect(test / "test.db")
    db.execute("CREATE TABLE location (contact TEXT)")
    db.execute("INSERT INTO location VALUES ('sip:a@192.0.2.1')")
    db.commit()
    db.close()
    (test / "check.sh").write_text(SQLITE_CHECK)
    return test


def test_check_scripts_see_the_volume_paths_and_busybox_sh(tmp_path: Path) -> None:
    test = sqlite_check_test(tmp_path, "keinos/sqlite3")
    result = run_test(locate(test), 0, RunOptions(logs=tmp_path / "logs"))
    assert result.passed, result
    assert not Path("/data/test.db").exists()  # the volume was only mounted for the task


def test_check_scripts_of_debian_images_get_dash(tmp_path: Path) -> None:
    # the same check in a Debian image: dash refuses `==` in `[` (what busybox images are run for)
    test = sqlite_check_test(tmp_path, "debian")
    result = run_test(locate(test), 0, RunOptions(logs=tmp_path / "logs"))
    assert not result.passed
    assert result.reason == "check.sh exited with status 1"
    assert any("unexpected operator" in line for line in result.log_tail), result.log_tail


def fake_server(tmp_path: Path, script: str) -> list[str]:
    server = tmp_path / "fake-pysips"
    server.write_text("#!/bin/sh\n" + script)
    server.chmod(0o755)
    return [str(server)]


SERVER_TEST = """
  - name: Server
    type: opensips
    socket: udp:192.168.52.1:5060
  - name: Client
    type: generic
    volumes: [data]
    args: touch /data/client
    require:
      started: Server
"""


def server_test(tmp_path: Path) -> Path:
    test = make_test(tmp_path, SERVER_TEST)
    (test / "opensips.cfg").write_text("route { exit; }\n")
    return test


def test_a_server_that_never_comes_up_fails_the_test(tmp_path: Path) -> None:
    test = server_test(tmp_path)
    server = fake_server(tmp_path, "sleep 30\n")
    options = RunOptions(logs=tmp_path / "logs", pysips=server, startup_timeout=1)
    began = time.monotonic()
    result = run_test(locate(test), 0, options)
    assert time.monotonic() - began < 5
    assert not result.passed
    assert result.task == "Server"
    assert result.reason.startswith("pysips never came up: did not open udp:127.")
    assert result.reason.endswith(":5060 within 1 s")
    assert not (tmp_path / "logs" / "set_t" / "volumes" / "data" / "client").exists()


def test_tasks_wait_until_the_server_says_it_serves(tmp_path: Path) -> None:
    test = server_test(tmp_path)
    # binds nothing, so only the log line can tell that it is up, 1 s after it was launched
    ready = "echo 'Dec 07 [1] NOTICE:server: listening on udp:x:5060'"
    server = fake_server(tmp_path, f"sleep 1\n{ready}\nsleep 30\n")
    began = time.time()
    result = run_test(locate(test), 0, RunOptions(logs=tmp_path / "logs", pysips=server, startup_timeout=5))
    assert result.passed, result
    assert mtime(tmp_path, "client") - began >= 1.0


def test_a_daemon_must_stay_up(tmp_path: Path) -> None:
    body = """
  - name: Server
    type: generic
    daemon: true
    args: sleep 0.2
  - name: Client
    type: generic
    args: sleep 1
"""
    result = run(tmp_path, body)
    assert not result.passed
    assert result.task == "Server"
    assert result.reason == "sleep stopped before the end of the test (exit 0)"


def test_daemons_are_stopped_at_the_end(tmp_path: Path) -> None:
    body = """
  - name: Server
    type: generic
    daemon: true
    args: sleep 30
  - name: Client
    type: generic
    args: 'true'
    require: Server
"""
    began = time.monotonic()
    result = run(tmp_path, body)
    assert result.passed, result
    assert time.monotonic() - began < 5


def test_bad_scenario_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    result = run(tmp_path, "  - name: A\n    type: generic\n    require: {soon: B}\n")
    assert not result.passed
    assert result.reason.startswith("cannot load the scenario:")


def test_a_stopped_tasks_address_goes_to_the_next_task(tmp_path: Path) -> None:
    # docker gives a container without `ip` the lowest free address and frees it when it stops: the
    # unregister of registration/01.no-db must send the Contact that its REGISTER sent
    body = "".join(f"  - name: {n}\n    type: generic\n    args: 'true'\n" for n in ("A", "B", "C"))
    body += "  - name: Fixed\n    type: generic\n    ip: 192.168.52.3\n    args: 'true'\n"
    scenario = load_scenario(locate(make_test(tmp_path, body)))
    amap = plan([("192.168.52.3", 0)], "127.9.9")
    env = Environment(scenario, amap, tmp_path, {}, RunnerOptions(["pysips"], "python3"), {}, [], set())
    a, b, c, fixed = scenario.tasks
    first = task_ip(env, a)
    second = task_ip(env, b)  # A still runs: another address
    assert first != second
    assert task_ip(env, fixed) == "127.9.9.3"
    release_ip(env, a)
    assert task_ip(env, c) == first
    assert task_ip(env, b) == second  # a running task keeps its address
