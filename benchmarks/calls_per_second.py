"""Highest call rate a proxy carries with zero failed calls: sipp uac -> proxy -> sipp uas, UDP.

Each step runs the call scenario (INVITE, 100, 180, 200, ACK, BYE, 200, Record-Route honoured) at a
fixed rate for --step-seconds. The rate doubles until a step fails, then a bisection narrows the
bound. That search runs --repeats times with a fresh proxy; the median of the results is printed.
The whole run stops at --budget seconds and reports what it has. Each step also prints the
proxy's CPU time per call (user + system, from /proc): unlike the highest rate, that figure holds
when other processes share the machine's CPUs.

    python3 benchmarks/calls_per_second.py --proxy kamailio
    python3 benchmarks/calls_per_second.py --proxy pysips --config tests/integration/cfg/residential-test.cfg
    python3 benchmarks/calls_per_second.py --proxy pysips --workers 2   # udp_workers=2

The proxy's CPU counts its direct children too: Kamailio's and pysips's workers.
"""

from __future__ import annotations

import argparse
import os
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
    cpu_us_per_call: float | None = None


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def proxy_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of the proxy and its direct children (Kamailio's workers), from /proc.

    CPU per call does not depend on what else runs on the machine, unlike the highest rate."""
    own = _stat_fields(pid)
    if own is None:
        return None
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and (int(entry.name) == pid or int(fields[1]) == pid):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / _CLOCK_TICKS


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
    pid = rig.proxy.proc.pid if rig.proxy is not None and rig.proxy.proc is not None else None
    cpu_before = proxy_cpu_seconds(pid) if pid is not None else None
    uac: SippResult = rig.run_uac("uac_call.xml", "callee", calls=calls, rate=rate, duration_ms=call_ms,
                                  timeout_s=step_seconds + 5, trace_messages=False)
    uas.stop()
    cpu_after = proxy_cpu_seconds(pid) if pid is not None else None
    cpu_per_call = None
    if cpu_before is not None and cpu_after is not None and uac.successful:
        cpu_per_call = 1e6 * (cpu_after - cpu_before) / uac.successful
    stranded = calls - uac.successful - uac.failed
    passed = uac.failed == 0 and 0 <= stranded <= max(1, calls // 1000)
    note = f"stranded={stranded}" if stranded else ""
    if uac.failed:
        note += f" exit={uac.exit_code} first error: {first_error(uac.error_log)}"
    alive = rig.proxy is not None and rig.proxy.alive()
    if not alive:
        passed, note = False, "proxy died"
    return Step(rate, passed, uac.successful, uac.failed, time.monotonic() - started, note, cpu_per_call)


def search(start_proxy: object, workdir: Path, args: argparse.Namespace, deadline: float,
           cpu_costs: list[float]) -> int:
    """One search with a fresh proxy: double until a failure, then bisect. Returns the best rate;
    the proxy's CPU per call of each passing step goes to `cpu_costs`."""
    best, worst = 0, None
    rate = args.start_rate
    with rig_in(workdir) as rig:
        start_proxy(rig)  # type: ignore[operator]
        while time.monotonic() + args.step_seconds + 5 < deadline:
            step = run_step(rig, rate, args.step_seconds, args.call_ms)
            mark = "ok  " if step.passed else "FAIL"
            cpu = f" cpu={step.cpu_us_per_call:.0f}us/call" if step.cpu_us_per_call is not None else ""
            print(f"    {mark} {rate:6d} calls/s  successful={step.successful} failed={step.failed} "
                  f"({step.seconds:.1f}s){cpu} {step.note}", flush=True)
            if step.passed:
                best = max(best, rate)
                if step.cpu_us_per_call is not None:
                    cpu_costs.append(step.cpu_us_per_call)
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
    parser.add_argument("--workers", type=int, default=1,
                        help="pysips worker processes (udp_workers; docs/workers.md)")
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
            rig.start_pysips(config, **(values | {"CHILDREN": args.workers}))

    deadline = time.monotonic() + args.budget
    results: list[int] = []
    cpu_costs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pysips-cps-") as tmp:
        for repeat in range(args.repeats):
            if time.monotonic() + 2 * args.step_seconds > deadline:
                print(f"budget of {args.budget:.0f}s used up after {repeat} repeat(s)")
                break
            procs = f"children={args.children}" if args.proxy == "kamailio" else f"workers={args.workers}"
            print(f"repeat {repeat + 1}/{args.repeats} ({args.proxy}, {config.name}, {procs})", flush=True)
            best = search(start_proxy, Path(tmp) / f"run{repeat}", args, deadline, cpu_costs)
            print(f"  highest rate with zero failed calls: {best} calls/s", flush=True)
            results.append(best)
    if not results:
        print("no result")
        return 1
    print(f"median over {len(results)} run(s): {statistics.median(results):g} calls/s  (runs: {results})")
    if cpu_costs:
        cost = statistics.median(cpu_costs)
        print(f"proxy CPU per call (median of passing steps): {cost:.0f} us "
              f"= {1e6 / cost:.0f} calls per CPU-second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
