"""Soak (by hand): calls through the soak proxy (tests/reliability/cfg/soak.cfg: the seed's routing
with its registrar) at 80% of the highest rate it carries, REGISTER refreshes beside them, for
--minutes. Prints failed calls and refreshes and the slopes of RSS and open file descriptors after
the warm-up, and plots RSS and calls/s over time to a PNG.

The highest rate is measured first with benchmarks/calls_per_second.py's search (same proxy and
script) unless --max-rate gives it. Its steps last --step-seconds (20): the soak script's tm keeps
each transaction wt_timer (5 s) after its final reply, so a step shorter than that plus a call
never pays for freeing transactions, the other half of a call's steady-state cost; with 5-s steps
the search found 900 calls/s on the quiet two-core machine, and the soak at 80 % of that
(720 calls/s) fell behind in every run; with 20-s steps it finds 700, and 80 % of that held
30 minutes with no failed call.

    python3 benchmarks/soak.py --minutes 30 --png soak.png
    python3 benchmarks/soak.py --minutes 30 --max-rate 400
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from tests.integration.proxy_harness import Rig, rig_in  # noqa: E402
from tests.integration.rate_search import search  # noqa: E402
from tests.reliability.soak_rig import SOAK_CFG, plot, run_soak  # noqa: E402


def measure_max(workdir: Path, budget: float, step_seconds: float) -> int:
    args = argparse.Namespace(step_seconds=step_seconds, start_rate=50, max_rate=20000, precision=0.08,
                              call_ms=100, max_lag=0.5)

    def start(rig: Rig) -> None:
        rig.start_pysips(SOAK_CFG, CHILDREN=1, LOG_LEVEL=1)

    return search(start, workdir, args, time.monotonic() + budget, [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--max-rate", type=int, help="skip the search: the highest rate, calls/s")
    parser.add_argument("--share", type=float, default=0.8, help="fraction of the highest rate to hold")
    parser.add_argument("--step-seconds", type=float, default=20.0,
                        help="length of each step of the search for the highest rate")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds left out of the slopes")
    parser.add_argument("--png", type=Path, default=Path("soak.png"))
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="pysips-soak-") as tmp:
        best = args.max_rate or measure_max(Path(tmp) / "search", 600.0, args.step_seconds)
        if not best:
            print("no rate passed the search")
            return 1
        rate = max(1, round(best * args.share))
        print(f"highest rate {best} calls/s; soaking at {rate} calls/s for {args.minutes:g} min", flush=True)
        with rig_in(Path(tmp) / "soak") as rig:
            result = run_soak(rig, rate, args.minutes * 60, args.warmup)
    print(result.summary())
    plot(result, args.png)
    print(f"plot: {args.png}")
    return 0 if result.calls.failed == 0 and result.registers_failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
