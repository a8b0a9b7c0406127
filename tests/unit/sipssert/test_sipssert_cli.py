from __future__ import annotations

from pathlib import Path

import pytest

from pysips.sipssert.cli import main


def test_missing_folder_still_ends_with_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "0 passed, 0 failed"


def test_one_passing_and_one_failing_test(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, command in (("01.ok", "'true'"), ("02.bad", "'false'")):
        test = tmp_path / "tests" / "set" / name
        test.mkdir(parents=True)
        (test / "scenario.yml").write_text(f"tasks:\n  - name: T\n    type: generic\n    args: {command}\n")
    code = main(["-j", "2", "--logs", str(tmp_path / "logs"), str(tmp_path / "tests")])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0] == "PASS set/01.ok"
    assert lines[1] == "FAIL set/02.bad [T]: false exited with status 1"
    assert f"  logs: {tmp_path / 'logs' / 'set_02.bad'}" in lines
    assert lines[-1] == "1 passed, 1 failed"


def test_all_passing_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test = tmp_path / "set" / "only"
    test.mkdir(parents=True)
    (test / "scenario.yml").write_text("tasks:\n  - name: T\n    type: generic\n    args: 'true'\n")
    assert main(["--logs", str(tmp_path / "logs"), str(test)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "PASS set/only",
        f"logs: {tmp_path / 'logs'}",
        "1 passed, 0 failed",
    ]


def test_bad_define(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["-D", "novalue", str(tmp_path)]) == 2
