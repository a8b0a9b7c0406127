"""The scheduler, with real (tiny) local processes as generic tasks."""

from __future__ import annotations

import time
from pathlib import Path

from pysips.sipssert.discovery import locate
from pysips.sipssert.runner import RunOptions, run_test


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


def test_not_run_tasks_let_the_others_go_on(tmp_path: Path) -> None:
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
    assert result.passed, result
    assert result.not_run == ["Check: check script check.py is not shipped with the test"]


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
