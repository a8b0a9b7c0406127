"""Highest call rate a proxy carries with zero failed calls: sipp uac -> proxy -> sipp uas, UDP.

Each step runs the call scenario (INVITE, 100, 180, 200, ACK, BYE, 200, Record-Route honoured) at a
fixed rate for --step-seconds. The rate doubles until a step fails, then a bisection narrows the
bound. That search runs --repeats times with a fresh proxy; the median of the results is printed.
The whole run stops at --budget seconds and reports what it has.

    python3 benchmarks/calls_per_second.py --proxy kamailio
    python3 benchmarks/calls_per_second.py --proxy pysips --config tests/integration/cfg/residential-test.cfg
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.integration.proxy_harness import (  # noqa: E402
    KAMAILIO_CFG,
    Rig,
    SippResult,
    rig_in,
)

DEFAULT_PYSIPS_CFG = REPO_ROOT / "tests" / "integration" / "cfg" / "residential-test.cfg"


@dataclass(frozen=True, slots=True)
class Step:
    rate: int
    passed: bool
    successful: int
    failed: int
    seconds: float
    note: str


def first_error(error_log: str) -> str:
    for line in error_log.splitlines():
        if "Aborting" in line or "failed" in line.lower():
            return line.split(": ", 1)[-1][:200]
    return error_log.strip()[:200]


def run_step(rig: Rig, rate: int, step_seconds: float, call_ms: int) -> Step:
    """One fixed-rate run. Passes with zero failed calls; sipp 3.6 can strand a call in the pause
    after the ACK when a late 180 arrives there (no failure, it just never ends): up to 0.1% of
    the calls may be stranded, counted and shown, never as successful."""
    calls = max(1, round(rate * step_seconds))
    started = time.monotonic()
    uas = rig.start_uas("uas_call.xml", calls=10**9, trace_messages=False)
    time.sleep(0.2)
    uac: SippResult = rig.run_uac("uac_call.xml", "callee", calls=calls, rate=rate, duration_ms=call_ms,
                                  timeout_s=step_seconds + 5, trace_messages=False)
    uas.stop()
    stranded = calls - uac.successful - uac.failed
    passed = uac.failed == 0 and 0 <= stranded <= max(1, calls // 1000)
    note = f"stranded={stranded}" if stranded else ""
    if uac.failed:
        note += f" exit={uac.exit_code} first error: {first_error(uac.error_log)}"
    alive = rig.proxy is not None and rig.proxy.alive()
    if not alive:
        passed, note = False, "proxy died"
    return Step(rate, passed, uac.successful, uac.failed, time.monotonic() - started, note)


def search(start_proxy: object, workdir: Path, args: argparse.Namespace, deadline: float) -> int:
    """One search with a fresh proxy: double until a failure, then bisect. Returns the best rate."""
    best, worst = 0, None
    rate = args.start_rate
    with rig_in(workdir) as rig:
        start_proxy(rig)  # type: ignore[operator]
        while time.monotonic() + args.step_seconds + 5 < deadline:
            step = run_step(rig, rate, args.step_seconds, args.call_ms)
            mark = "ok  " if step.passed else "FAIL"
            print(f"    {mark} {rate:6d} calls/s  successful={step.successful} failed={step.failed} "
                  f"({step.seconds:.1f}s) {step.note}", flush=True)
            if step.passed:
                best = max(best, rate)
            else:
                worst = rate if worst is None else min(worst, rate)
                if not (rig.proxy and rig.proxy.alive()):
                    break
            time.sleep(1.0)  # let the proxy's transactions of the last step drain
            if worst is None:
                if rate >= args.max_rate:
                    break
                rate = min(rate * 2, args.max_rate)
                continue
            if worst - best <= max(args.precision * worst, 1):
                break
            rate = (best + worst) // 2 if best else max(1, worst // 2)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proxy", choices=("kamailio", "pysips"), required=True)
    parser.add_argument("--config", type=Path, help="config template (@@PROXY_PORT@@, @@UAS_PORT@@ ...)")
    parser.add_argument("--children", type=int, default=2, help="worker processes (Kamailio children)")
    parser.add_argument("--step-seconds", type=float, default=5.0)
    parser.add_argument("--start-rate", type=int, default=100)
    parser.add_argument("--max-rate", type=int, default=20000)
    parser.add_argument("--precision", type=float, default=0.08, help="stop bisecting within this fraction")
    parser.add_argument("--call-ms", type=int, default=100,
                        help="ms between ACK and BYE (a multi-process proxy may reorder an ACK and a BYE)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=280.0, help="seconds for the whole run")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every rig still kills the processes it started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    config = args.config or (KAMAILIO_CFG if args.proxy == "kamailio" else DEFAULT_PYSIPS_CFG)
    values = {"CHILDREN": args.children, "LOG_LEVEL": 0}

    def start_proxy(rig: Rig) -> None:
        if args.proxy == "kamailio":
            rig.start_kamailio(config, **values)
        else:
            rig.start_pysips(config, **values)

    deadline = time.monotonic() + args.budget
    results: list[int] = []
    with tempfile.TemporaryDirectory(prefix="pysips-cps-") as tmp:
        for repeat in range(args.repeats):
            if time.monotonic() + 2 * args.step_seconds > deadline:
                print(f"budget of {args.budget:.0f}s used up after {repeat} repeat(s)")
                break
            print(f"repeat {repeat + 1}/{args.repeats} ({args.proxy}, {config.name}, "
                  f"children={args.children})", flush=True)
            best = search(start_proxy, Path(tmp) / f"run{repeat}", args, deadline)
            print(f"  highest rate with zero failed calls: {best} calls/s", flush=True)
            results.append(best)
    if not results:
        print("no result")
        return 1
    print(f"median over {len(results)} run(s): {statistics.median(results):g} calls/s  (runs: {results})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
