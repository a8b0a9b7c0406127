"""The highest call rate a proxy holds, found by fixed-rate sipp steps (sipp uac -> proxy -> sipp
uas, UDP): what benchmarks/calls_per_second.py reports, benchmarks/soak.py soaks at 80 % of, and
the CI soak (tests/reliability/test_soak.py) measures before it holds its share.

A step passes when no call failed and the caller finished within `max_lag` seconds of the step's
length plus one call: a server that falls behind can still complete every call of a short step
from its backlog once the step is over, and such a rate cannot be held.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.integration.proxy_harness import Rig, SippResult, rig_in


@dataclass(frozen=True, slots=True)
class Step:
    rate: int
    passed: bool
    successful: int
    failed: int
    seconds: float
    note: str
    cpu_us_per_call: float | None = None
    lag: float = 0.0  # seconds the caller took beyond the step and one call


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


def run_step(rig: Rig, rate: int, step_seconds: float, call_ms: int, max_lag: float = 0.5) -> Step:
    """One fixed-rate run. Passes with zero failed calls and no backlog (the caller done within
    `max_lag` s of the step and one call; negative: not checked); sipp 3.6 can strand a call in the pause
    after the ACK when a late 180 arrives there (no failure, it just never ends): up to 0.1% of
    the calls may be stranded, counted and shown, never as successful."""
    calls = max(1, round(rate * step_seconds))
    started = time.monotonic()
    uas = rig.start_uas("uas_call.xml", calls=10**9, trace_messages=False)
    time.sleep(0.2)
    pid = rig.proxy.proc.pid if rig.proxy is not None and rig.proxy.proc is not None else None
    cpu_before = proxy_cpu_seconds(pid) if pid is not None else None
    uac_started = time.monotonic()
    uac: SippResult = rig.run_uac("uac_call.xml", "callee", calls=calls, rate=rate, duration_ms=call_ms,
                                  timeout_s=step_seconds + 5, trace_messages=False)
    # sipp's last call starts at calls/rate and lasts about call_ms; what is beyond is backlog
    lag = time.monotonic() - uac_started - calls / rate - call_ms / 1000
    uas.stop()
    cpu_after = proxy_cpu_seconds(pid) if pid is not None else None
    cpu_per_call = None
    if cpu_before is not None and cpu_after is not None and uac.successful:
        cpu_per_call = 1e6 * (cpu_after - cpu_before) / uac.successful
    stranded = calls - uac.successful - uac.failed
    passed = uac.failed == 0 and 0 <= stranded <= max(1, calls // 1000)
    note = f"stranded={stranded}" if stranded else ""
    if max_lag >= 0 and lag > max_lag:
        passed = False
        note += f" behind: the calls ended {lag:.1f}s after the step"
    if uac.failed:
        note += f" exit={uac.exit_code} first error: {first_error(uac.error_log)}"
    alive = rig.proxy is not None and rig.proxy.alive()
    if not alive:
        passed, note = False, "proxy died"
    return Step(rate, passed, uac.successful, uac.failed, time.monotonic() - started, note, cpu_per_call, lag)


def search(start_proxy: Callable[[Rig], object], workdir: Path, args: argparse.Namespace, deadline: float,
           cpu_costs: list[float]) -> int:
    """One search with a fresh proxy: double until a failure, then bisect. Returns the best rate;
    the proxy's CPU per call of each passing step goes to `cpu_costs`."""
    best, worst = 0, None
    rate = args.start_rate
    with rig_in(workdir) as rig:
        start_proxy(rig)
        while time.monotonic() + args.step_seconds + 5 < deadline:
            step = run_step(rig, rate, args.step_seconds, args.call_ms, args.max_lag)
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
