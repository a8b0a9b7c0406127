"""Test outcomes and the lines the runner prints (CI reads the last one: `N passed, N failed`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_MISSING_MODULES = re.compile(r"missing modules \((\d+)\): (.+)")
_UNKNOWN_FUNCTIONS = re.compile(r"unknown functions \((\d+)\):")
_FUNCTION_LINE = re.compile(r"^\s+([A-Za-z_][\w.]*\(\))\s+used\b")


@dataclass(slots=True)
class TestResult:
    __test__ = False  # not a pytest test class despite the name
    name: str  # set/test
    passed: bool
    reason: str = ""  # why it failed, one line
    task: str | None = None  # the failing task
    log_tail: list[str] = field(default_factory=list)
    log_dir: Path | None = None
    seconds: float = 0.0


def porting_summary(log_lines: list[str]) -> str | None:
    """The missing names from a pysips porting report found in a log, as one line."""
    parts: list[str] = []
    functions: list[str] = []
    count = ""
    collecting = False
    for line in log_lines:
        modules = _MISSING_MODULES.search(line)
        if modules:
            parts.append(f"missing modules ({modules.group(1)}): {modules.group(2).strip()}")
            collecting = False
            continue
        unknown = _UNKNOWN_FUNCTIONS.search(line)
        if unknown:
            count = unknown.group(1)
            collecting = True
            continue
        if collecting:
            fn = _FUNCTION_LINE.match(line)
            if fn:
                functions.append(fn.group(1))
            else:
                collecting = False
    if functions:
        parts.append(f"unknown functions ({count or len(functions)}): {', '.join(functions)}")
    return "; ".join(parts) if parts else None


def format_result(result: TestResult) -> list[str]:
    lines: list[str] = []
    if result.passed:
        lines.append(f"PASS {result.name}")
    else:
        where = f" [{result.task}]" if result.task else ""
        lines.append(f"FAIL {result.name}{where}: {result.reason}")
        lines.extend(f"  | {line}" for line in result.log_tail)
        if result.log_dir is not None:
            lines.append(f"  logs: {result.log_dir}")
    return lines


def summary_line(results: list[TestResult]) -> str:
    passed = sum(1 for r in results if r.passed)
    return f"{passed} passed, {len(results) - passed} failed"
