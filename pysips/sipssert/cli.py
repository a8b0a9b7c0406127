"""`pysips-sipssert DIR...`: run SIPssert tests against pysips and print one line per test.

The last line is always `N passed, N failed`; the exit status is 0 only when every test passed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

from pysips.sipssert.discovery import discover
from pysips.sipssert.process import kill_all
from pysips.sipssert.report import TestResult, format_result, summary_line
from pysips.sipssert.runner import DEFAULT_STARTUP_TIMEOUT, DEFAULT_TIMEOUT, RunOptions, run_test


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pysips-sipssert",
        description="Run OpenSIPS SIPssert tests (scenario.yml folders) against pysips, without Docker.",
    )
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="a test folder or a folder of tests")
    p.add_argument("-j", "--jobs", type=int, default=1, help="tests run at the same time (default 1)")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per test when its scenario sets no timeout (default {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument(
        "--startup-timeout",
        type=float,
        default=DEFAULT_STARTUP_TIMEOUT,
        help=f"seconds pysips may take to come up, else the test fails (default {DEFAULT_STARTUP_TIMEOUT:g})",
    )
    p.add_argument("--logs", type=Path, help="folder for the task logs (default: a new temporary folder)")
    p.add_argument("--pysips", default=None, help="the pysips command (default: this Python with -m pysips)")
    p.add_argument(
        "-D", "--define", action="append", default=[], metavar="NAME=VALUE", help="an extra template variable"
    )
    return p


def _on_signal(signum: int, frame: FrameType | None) -> None:
    kill_all()
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    defines: dict[str, object] = {}
    for item in args.define:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"pysips-sipssert: -D wants NAME=VALUE, not {item!r}", file=sys.stderr)
            return 2
        defines[name] = value
    try:
        tests = discover(list(args.dirs))
    except FileNotFoundError as exc:
        print(f"pysips-sipssert: {exc}", file=sys.stderr)
        print("0 passed, 0 failed")
        return 1
    logs = args.logs or Path(tempfile.mkdtemp(prefix="pysips-sipssert-"))
    logs.mkdir(parents=True, exist_ok=True)
    options = RunOptions(
        logs=logs.resolve(),
        default_timeout=args.timeout,
        startup_timeout=args.startup_timeout,
        defines=defines,
    )
    if args.pysips:
        options.pysips = args.pysips.split()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    results: list[TestResult] = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(run_test, t, i, options) for i, t in enumerate(tests)]
            for future in futures:
                result = future.result()
                results.append(result)
                for line in format_result(result):
                    print(line, flush=True)
    finally:
        kill_all()
    if not tests:
        print("pysips-sipssert: no scenario.yml found", file=sys.stderr)
    print(f"logs: {logs}")
    print(summary_line(results), flush=True)
    return 0 if results and all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
