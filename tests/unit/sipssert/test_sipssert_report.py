from __future__ import annotations

import re
from pathlib import Path

from pysips.sipssert.report import TestResult, format_result, porting_summary, summary_line

FINAL_LINE = re.compile(r"^\d+ passed, \d+ failed$")


def test_final_line_format() -> None:
    results = [TestResult("a/1", True), TestResult("a/2", False, "x"), TestResult("a/3", True)]
    line = summary_line(results)
    assert line == "2 passed, 1 failed"
    assert FINAL_LINE.match(line)
    assert summary_line([]) == "0 passed, 0 failed"


def test_pass_and_fail_lines() -> None:
    ok = TestResult("registration/01.no-db", True)
    assert format_result(ok) == ["PASS registration/01.no-db"]
    bad = TestResult(
        "auth/05", False, "sipp exited with status 1", task="Register", log_tail=["x"], log_dir=Path("/tmp/l")
    )
    assert format_result(bad) == [
        "FAIL auth/05 [Register]: sipp exited with status 1",
        "  | x",
        "  logs: /tmp/l",
    ]


def test_porting_summary_from_a_pysips_log() -> None:
    log = [
        "x.cfg:92:1: unknown module 'acc' (loadmodule \"acc.so\"): pysips has no such module yet",
        "porting report:",
        "  missing modules (2): acc, dialog",
        "  unknown functions (2):",
        "    do_accounting() used 3x, first at x.cfg:128:4",
        "    create_dialog() used 1x, first at x.cfg:290:9",
        "pysips: 5 error(s) in x.cfg",
    ]
    assert porting_summary(log) == (
        "missing modules (2): acc, dialog; unknown functions (2): do_accounting(), create_dialog()"
    )
    assert porting_summary(["all good"]) is None
