"""What create_dialog() costs a proxy: CPU per call and calls/s with the dialog module against the
same script without it, and memory per confirmed dialog with many concurrent calls.

The two scripts are benchmarks/dialog/proxy-dialog.cfg (create_dialog() and a profile on every
INVITE, record_route(), loose_route()/match_dialog() for sequential requests) and
benchmarks/dialog/proxy-plain.cfg (the same without the dialog module), run by `pysips -f`
between a sipp UAC and a sipp UAS on UDP (the call of benchmarks/calls_per_second.py: INVITE,
100, 180, 200, ACK, BYE, 200).

cpu: fixed-rate steps, alternating the two scripts (each step on a fresh proxy) so a machine
whose load changes during the run weighs on both; the proxy's user+system CPU per call (from
/proc) is the figure that holds on a shared machine. With --search, the highest rate with zero
failed calls is also searched for each script (calls_per_second.py's search).

memory: --calls calls set up at --rate and held (sipp pause of --hold seconds), the proxy's RSS
read once they are all confirmed (the dialog module's active_dialogs statistic, over MI) and
compared with the RSS before the calls; the plain script is measured the same way, so what tm
and the process keep per call comes off: the difference is the dialog's.

    python3 benchmarks/dialog_overhead.py cpu [--rate 200 --step-seconds 5 --steps 3] [--search]
    python3 benchmarks/dialog_overhead.py memory [--calls 10000 --rate 500]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from tests.integration.proxy_harness import Rig, free_port, mi_datagram, rig_in  # noqa: E402
from tests.integration.rate_search import run_step, search  # noqa: E402

CONFIGS = {
    "plain": REPO_ROOT / "benchmarks" / "dialog" / "proxy-plain.cfg",
    "dialog": REPO_ROOT / "benchmarks" / "dialog" / "proxy-dialog.cfg",
}
MI = 'loadmodule "mi_datagram.so"\nmodparam("mi_datagram", "socket_name", "udp:127.0.0.1:@@MI_PORT@@")\n'


def _start(rig: Rig, name: str, workdir: Path, mi: bool = False) -> int | None:
    """pysips on one of the two scripts (with mi_datagram when `mi`): its MI port or None."""
    text = CONFIGS[name].read_text()
    port = None
    if mi:
        port = free_port()
        text = text.replace('loadmodule "sipmsgops.so"\n', 'loadmodule "sipmsgops.so"\n' + MI)
    template = workdir / f"{name}.cfg.in"
    workdir.mkdir(parents=True, exist_ok=True)
    template.write_text(text)
    rig.start_pysips(template, CHILDREN=1, LOG_LEVEL=0, MI_PORT=port or 0)
    return port


# ------------------------------------------------------------------------------------------- cpu


def cpu(args: argparse.Namespace) -> int:
    costs: dict[str, list[float]] = {"plain": [], "dialog": []}
    failed: dict[str, int] = {"plain": 0, "dialog": 0}
    with tempfile.TemporaryDirectory(prefix="pysips-dlg-cpu-") as tmp:
        for step in range(args.steps):
            for name in ("plain", "dialog"):
                with rig_in(Path(tmp) / f"{name}{step}") as rig:
                    _start(rig, name, Path(tmp) / f"{name}{step}")
                    result = run_step(rig, args.rate, args.step_seconds, args.call_ms)
                failed[name] += result.failed
                cost = result.cpu_us_per_call
                shown = f"{cost:.0f} us/call" if cost is not None else "no CPU figure"
                print(f"  step {step + 1} {name:6s} {args.rate} calls/s: successful={result.successful} "
                      f"failed={result.failed} {shown} {result.note}", flush=True)
                if cost is not None and result.passed:
                    costs[name].append(cost)
        if not costs["plain"] or not costs["dialog"]:
            print("no result: a script had no passing step (lower --rate)")
            return 1
        plain, dialog = statistics.median(costs["plain"]), statistics.median(costs["dialog"])
        print(f"proxy CPU per call, median of {args.steps} steps at {args.rate} calls/s: "
              f"plain {plain:.0f} us, create_dialog() {dialog:.0f} us = {dialog / plain:.2f} x "
              f"(failed calls: plain {failed['plain']}, dialog {failed['dialog']})")
        if args.search:
            deadline = time.monotonic() + args.budget
            for name in ("plain", "dialog"):
                found: list[float] = []
                best = search(lambda rig, n=name: _start(rig, n, Path(tmp) / f"search-{n}"),
                              Path(tmp) / f"search-{name}", args, deadline, found)
                print(f"highest rate with zero failed calls, {name}: {best} calls/s", flush=True)
    return 0


# ---------------------------------------------------------------------------------------- memory


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _held_calls(args: argparse.Namespace, name: str, workdir: Path) -> tuple[int, int]:
    """(RSS growth in kB with --calls calls up, calls counted up) for one script."""
    with rig_in(workdir) as rig:
        mi_port = _start(rig, name, workdir, mi=True)
        assert rig.proxy is not None and rig.proxy.proc is not None and mi_port is not None
        pid = rig.proxy.proc.pid
        # a few calls first, so the baseline has every code path loaded and warm
        warm = rig.start_uas("uas_call.xml", calls=10, trace_messages=False)
        rig.run_uac("uac_call.xml", calls=10, rate=10, duration_ms=100, timeout_s=20, trace_messages=False)
        warm.wait(timeout=10)
        time.sleep(1.0)
        before = _rss_kb(pid)
        setup_s = args.calls / args.rate
        hold_ms = int((setup_s + args.hold) * 1000)
        rig.start_uas("uas_call.xml", calls=args.calls, trace_messages=False,
                      extra=("-l", str(args.calls + 10)))
        caller = threading.Thread(target=lambda: rig.run_uac(
            "uac_call.xml", calls=args.calls, rate=args.rate, duration_ms=hold_ms,
            timeout_s=setup_s + args.hold + 30, extra=("-l", str(args.calls + 10)), trace_messages=False),
            daemon=True)
        caller.start()
        up = 0
        if name == "dialog":  # counted by the module itself
            deadline = time.monotonic() + setup_s + args.hold * 0.8
            while up < args.calls and time.monotonic() < deadline:
                time.sleep(0.5)
                stats = mi_datagram(mi_port, "get_statistics", {"statistics": ["dialog:"]})
                up = int(stats["dialog:active_dialogs"])
        else:  # nothing counts calls without dialog: all set up by then
            time.sleep(setup_s + 2)
            up = args.calls
        time.sleep(0.5)
        grown = _rss_kb(pid) - before
        print(f"  {name}: {up} calls up, RSS {before} kB -> +{grown} kB", flush=True)
        return grown, up


def memory(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="pysips-dlg-mem-") as tmp:
        plain, _ = _held_calls(args, "plain", Path(tmp) / "plain")
        dialog, up = _held_calls(args, "dialog", Path(tmp) / "dialog")
    if up < args.calls:
        print(f"only {up} of {args.calls} dialogs confirmed: lower --rate or raise --hold")
        return 1
    per_dialog = (dialog - plain) * 1024 / up
    print(f"memory per confirmed dialog ({up} concurrent calls): {per_dialog:.0f} bytes "
          f"(RSS growth {dialog} kB with create_dialog(), {plain} kB without)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("cpu", help="CPU per call and calls/s, with and without create_dialog()")
    c.add_argument("--rate", type=int, default=200)
    c.add_argument("--step-seconds", type=float, default=5.0)
    c.add_argument("--steps", type=int, default=3)
    c.add_argument("--call-ms", type=int, default=100)
    c.add_argument("--search", action="store_true", help="also search each script's highest rate")
    c.add_argument("--start-rate", type=int, default=100)
    c.add_argument("--max-rate", type=int, default=20000)
    c.add_argument("--precision", type=float, default=0.08)
    c.add_argument("--max-lag", type=float, default=0.5, help="as in calls_per_second.py")
    c.add_argument("--budget", type=float, default=240.0, help="seconds for the two searches")
    m = sub.add_parser("memory", help="memory per confirmed dialog with many concurrent calls")
    m.add_argument("--calls", type=int, default=10000)
    m.add_argument("--rate", type=int, default=500)
    m.add_argument("--hold", type=float, default=20.0, help="seconds the calls stay up once all set up")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return cpu(args) if args.what == "cpu" else memory(args)


if __name__ == "__main__":
    raise SystemExit(main())
