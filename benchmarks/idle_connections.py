"""Idle connections held against pysips (by hand): memory per connection and whether new requests
are still answered while they are held. The CI version holds 2,000
(tests/reliability/test_idle_connections.py).

    python3 benchmarks/idle_connections.py --tcp 8000 --ws 2000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.integration.proxy_harness import free_port  # noqa: E402
from tests.integration.test_transports import launch, stop, wait_listening  # noqa: E402
from tests.reliability.idle import CFG, hold  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tcp", type=int, default=8000)
    parser.add_argument("--ws", type=int, default=2000)
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.tcp + args.ws + 100
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        ports = {"udp": free_port(), "tcp": free_port(), "ws": free_port()}
        cfg = base / "idle.cfg"
        cfg.write_text(CFG.format(max_connections=args.tcp + args.ws + 1000, **ports))
        proc = launch(cfg, base / "pysips.log")
        try:
            wait_listening(ports["ws"], proc, base / "pysips.log")
            result = hold(proc.pid, ports, args.tcp, args.ws, probes=50)
        finally:
            stop(proc)
    print(result.summary())
    ok = result.answered_while_held == result.probes and result.alive_after == args.tcp + args.ws
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
