"""Highest call rate a proxy carries with zero failed calls: sipp uac -> proxy -> sipp uas, UDP.

Each step runs the call scenario (INVITE, 100, 180, 200, ACK, BYE, 200, Record-Route honoured) at a
fixed rate for --step-seconds. A step passes when no call failed and the caller finished within
--max-lag seconds of the step's length plus one call: a server that falls behind can still
complete every call of a short step from its backlog once the step is over, and such a rate
cannot be held (the soak at 80 % of a maximum measured without that check collapsed after a
minute). The rate doubles until a step fails, then a bisection narrows the
bound. That search runs --repeats times with a fresh proxy; the median of the results is printed.
The whole run stops at --budget seconds and reports what it has. Each step also prints the
proxy's CPU time per call (user + system, from /proc): unlike the highest rate, that figure holds
when other processes share the machine's CPUs.

    python3 benchmarks/calls_per_second.py --proxy kamailio
    python3 benchmarks/calls_per_second.py --proxy pysips --config tests/integration/cfg/residential-test.cfg
    python3 benchmarks/calls_per_second.py --proxy pysips --workers 2   # udp_workers=2

Against the reference OpenSIPS 3.6 build, in the same run (each repeat runs every target in turn,
so all of them see the same machine), at a fixed 1,000 calls/s for CPU per call:

    python3 benchmarks/calls_per_second.py --targets opensips:1 pysips:1 pysips:2 opensips:2 \
        --start-rate 1000 --max-rate 1000 --repeats 3

OpenSIPS runs the same script (tests/integration/cfg/residential-test.cfg is written in the
OpenSIPS 3.x spelling) with udp_workers set to the count after the colon. The proxy's CPU counts
its direct children too: OpenSIPS's, Kamailio's and pysips's workers.

`pysips:1@TREE` runs another checkout; `pysips:1#PYTHON` runs pysips under another interpreter
that has its dependencies, e.g. Debian's CPython (built with PGO and LTO, unlike pyenv's default
build) in a venv: `/usr/bin/python3.11 -m venv /tmp/debvenv && /tmp/debvenv/bin/pip install -e .`,
then `--targets opensips:1 pysips:1 pysips:1#/tmp/debvenv/bin/python` (docs/performance.md).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.differential.reference import opensips_binary, opensips_modules_dir  # noqa: E402
from tests.integration.proxy_harness import KAMAILIO_CFG, Rig, pysips_argv, render_template  # noqa: E402
from tests.integration.rate_search import search  # noqa: E402

DEFAULT_PYSIPS_CFG = REPO_ROOT / "tests" / "integration" / "cfg" / "residential-test.cfg"




@dataclass(frozen=True, slots=True)
class Target:
    """One server configuration to measure: `proxy:processes` on the command line; for pysips,
    `pysips:processes@TREE` runs another checkout (an A/B of two commits) and a `#PYTHON` suffix
    another interpreter with pysips's dependencies (an A/B of two builds of CPython: e.g. a venv
    of Debian's /usr/bin/python3.11, built with PGO and LTO, against pyenv's default build)."""

    proxy: str
    processes: int
    tree: Path | None = None
    python: Path | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        text, _, python = text.partition("#")
        spec, _, tree = text.partition("@")
        proxy, _, count = spec.partition(":")
        if proxy not in ("kamailio", "pysips", "opensips") or ((tree or python) and proxy != "pysips"):
            raise argparse.ArgumentTypeError(f"unknown proxy {proxy!r} in {text!r}")
        return cls(proxy, int(count or 1), Path(tree) if tree else None, Path(python) if python else None)

    def __str__(self) -> str:
        return (f"{self.proxy}:{self.processes}" + (f"@{self.tree}" if self.tree else "")
                + (f"#{self.python}" if self.python else ""))

    def pysips_argv(self, cfg: Path) -> list[str]:
        """The command running pysips for this target: the installed `pysips`, or the tree's
        package first on the path, under the target's interpreter (default: this one)."""
        if self.tree is None and self.python is None:
            return pysips_argv(cfg)
        tree = (self.tree or REPO_ROOT).resolve()
        python = str(self.python) if self.python else sys.executable
        return ["env", f"PYTHONPATH={tree}", python, "-m", "pysips.cli", "-f", str(cfg)]


def start_opensips(rig: Rig, template: Path, values: dict[str, object]) -> None:
    """The reference OpenSIPS on the same script: the template plus the build's module path."""
    rig.workdir.mkdir(parents=True, exist_ok=True)
    cfg = render_template(template, rig.ports.template_values(**values), rig.workdir / "opensips.cfg")
    cfg.write_text(f'mpath="{opensips_modules_dir()}/"\n' + cfg.read_text())
    argv = [str(opensips_binary()), "-F", "-f", str(cfg), "-m", "256", "-M", "16"]
    rig.start_proxy("opensips", argv)


def start_pysips_target(rig: Rig, template: Path, values: dict[str, object], target: Target) -> None:
    """pysips from another checkout or under another interpreter (Target.pysips_argv)."""
    rig.workdir.mkdir(parents=True, exist_ok=True)
    cfg = render_template(template, rig.ports.template_values(**values), rig.workdir / "pysips.cfg")
    rig.start_proxy("pysips", target.pysips_argv(cfg))


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the rate search and of the comparison (shared with seed_rtpengine.py)."""
    parser.add_argument("--targets", nargs="+", type=Target.parse, default=[],
                        help="proxy:processes ... measured in turn in each repeat, e.g. opensips:1 pysips:2")
    parser.add_argument("--step-seconds", type=float, default=5.0)
    parser.add_argument("--start-rate", type=int, default=100)
    parser.add_argument("--max-rate", type=int, default=20000)
    parser.add_argument("--precision", type=float, default=0.08, help="stop bisecting within this fraction")
    parser.add_argument("--call-ms", type=int, default=100,
                        help="ms between ACK and BYE (a multi-process proxy may reorder an ACK and a BYE)")
    parser.add_argument("--max-lag", type=float, default=0.5,
                        help="seconds a step may end late (a backlog); negative: only failed calls count")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=280.0, help="seconds for the whole run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proxy", choices=("kamailio", "pysips", "opensips"),
                        help="one proxy (with --workers/--children); --targets measures several")
    parser.add_argument("--config", type=Path, help="config template (@@PROXY_PORT@@, @@UAS_PORT@@ ...)")
    parser.add_argument("--children", type=int, default=2, help="worker processes (Kamailio children)")
    parser.add_argument("--workers", type=int, default=1,
                        help="pysips/OpenSIPS worker processes (udp_workers; docs/workers.md)")
    add_search_arguments(parser)
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every rig still kills the processes it started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    targets: list[Target] = list(args.targets)
    if args.proxy:
        targets.append(Target(args.proxy, args.children if args.proxy == "kamailio" else args.workers))
    if not targets:
        parser.error("give --proxy or --targets")

    def config_of(target: Target) -> Path:
        return args.config or (KAMAILIO_CFG if target.proxy == "kamailio" else DEFAULT_PYSIPS_CFG)

    def starter(target: Target) -> object:
        values: dict[str, object] = {"CHILDREN": target.processes, "LOG_LEVEL": 0}

        def start_proxy(rig: Rig) -> None:
            if target.proxy == "kamailio":
                rig.start_kamailio(config_of(target), **values)
            elif target.proxy == "opensips":
                start_opensips(rig, config_of(target), values)
            elif target.tree is not None or target.python is not None:
                start_pysips_target(rig, config_of(target), values, target)
            else:
                rig.start_pysips(config_of(target), **values)
        return start_proxy

    return compare(targets, lambda t: config_of(t).name, starter, args)


def compare(targets: list[Target], label: Callable[[Target], str],
            starter: Callable[[Target], Callable[[Rig], object]], args: argparse.Namespace) -> int:
    """Every target searched in turn, `args.repeats` times (each sees the same machine), then the
    medians and their ratios against the first OpenSIPS target. Also used by seed_rtpengine.py."""
    deadline = time.monotonic() + args.budget
    rates: dict[Target, list[int]] = {t: [] for t in targets}
    costs: dict[Target, list[float]] = {t: [] for t in targets}
    with tempfile.TemporaryDirectory(prefix="pysips-cps-") as tmp:
        for repeat in range(args.repeats):
            for number, target in enumerate(targets):
                if time.monotonic() + 2 * args.step_seconds > deadline:
                    print(f"budget of {args.budget:.0f}s used up in repeat {repeat + 1}")
                    break
                print(f"repeat {repeat + 1}/{args.repeats} ({target}, {label(target)})", flush=True)
                step_costs: list[float] = []
                workdir = Path(tmp) / f"run{repeat}-{number}"
                best = search(starter(target), workdir, args, deadline, step_costs)
                print(f"  highest rate with zero failed calls: {best} calls/s", flush=True)
                rates[target].append(best)
                if step_costs:
                    costs[target].append(statistics.median(step_costs))
    if not any(rates.values()):
        print("no result")
        return 1
    print()
    print(f"{'target':14} {'calls/s':>9} {'cpu us/call':>12}   runs")
    summary: dict[Target, tuple[float, float | None]] = {}
    for target in targets:
        if not rates[target]:
            continue
        rate = statistics.median(rates[target])
        cost = statistics.median(costs[target]) if costs[target] else None
        summary[target] = (rate, cost)
        shown = f"{cost:12.0f}" if cost is not None else f"{'-':>12}"
        print(f"{target!s:14} {rate:9g} {shown}   rates {rates[target]} cpu "
              f"{[round(c) for c in costs[target]]}")
    reference = next((t for t in targets if t.proxy == "opensips" and t in summary), None)
    if reference is not None:
        ref_rate, ref_cost = summary[reference]
        print(f"\nratios against {reference} (medians of the same run):")
        for target, (rate, cost) in summary.items():
            if target == reference:
                continue
            cpu = f"{cost / ref_cost:.2f}" if cost is not None and ref_cost else "-"
            calls = f"{rate / ref_rate:.2f}" if ref_rate else "-"
            print(f"  {target!s:14} calls/s x{calls}   cpu per call x{cpu}")
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
