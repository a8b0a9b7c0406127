"""Calls/s and CPU per call for the seed script with media anchored by a real rtpengine, beside
the reference OpenSIPS 3.6 running the same script in the same run.

The script is examples/residential.cfg (the seed tutorial's) with only what a run needs changed:
listeners on free ports, `rtpengine_sock` naming a private rtpengine daemon, a dev certificate,
the FIFO in the run's folder, logging to stderr at level 1, and `children` set to the target's
process count. OpenSIPS gets it through tests/differential/dialect.py's 3.x rewrite, as the
dialect tests load it. Each call is routed by the script's own logic: the callee is registered
from the sipp UAS's port first (`lookup("location", "m")` finds it), the INVITE's SDP goes through
`rtpengine_offer()` in the branch route, the 200's through `rtpengine_answer()` in the reply
route, and the BYE's `rtpengine_delete()` ends the session. sipp sends no RTP: the figure is the
signalling and NG-protocol work of the proxy (each search gets a fresh daemon; their CPU is
printed apart).

    python3 benchmarks/seed_rtpengine.py --targets opensips:1 pysips:1 --start-rate 200 \
        --max-rate 200 --repeats 3        # CPU per call at 200 calls/s
    python3 benchmarks/seed_rtpengine.py --targets opensips:1 pysips:1 --repeats 3   # calls/s

The search, the step rules and the summary are calls_per_second.py's.
"""

from __future__ import annotations

import argparse
import re
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.calls_per_second import Target, add_search_arguments, compare  # noqa: E402
from pysips.devcert import make_dev_certificate  # noqa: E402
from tests.differential.dialect import to_opensips_3  # noqa: E402
from tests.differential.reference import opensips_binary, opensips_modules_dir  # noqa: E402
from tests.integration.e2e.stack import EXAMPLE, SipPorts, render_config  # noqa: E402
from tests.integration.proxy_harness import LOCALHOST, Rig, free_port  # noqa: E402
from tests.integration.rate_search import proxy_cpu_seconds  # noqa: E402
from tests.integration.test_rtpengine_daemon import Daemon  # noqa: E402

CALLEE = "callee"  # the R-URI user rate_search's caller dials
MEDIA_PORTS = (16000, 23999)  # 4,000 port pairs: some thousands of calls at once


def _one(pattern: str, replacement: str, text: str) -> str:
    result, count = re.subn(pattern, replacement, text, flags=re.M)
    if count != 1:
        raise RuntimeError(f"{EXAMPLE}: expected one line matching {pattern!r}, found {count}")
    return result


def seed_script(rig: Rig, daemon: Daemon, processes: int) -> str:
    """The example with the run's addresses and paths (render_config) and the benchmark's settings."""
    cert, key = make_dev_certificate(rig.workdir / "certs")
    ports = SipPorts(udp=rig.ports.proxy, tls=free_port(), ws=free_port(), wss=free_port())
    text = render_config(EXAMPLE, ports, daemon.sock, cert, key, rig.workdir / "fifo")
    text = _one(r"^debug=\d+$", "debug=1", text)
    text = _one(r"^log_stderror=no$", "log_stderror=yes", text)
    return _one(r"^children=\d+$", f"children={processes}", text)


def register_callee(proxy_port: int, uas_port: int, timeout_s: float = 5.0) -> None:
    """A REGISTER for the callee sent from the port sipp's UAS will listen on: the script stores
    the source address (fix_nated_register), so calls go where the UAS answers."""
    call_id = uuid.uuid4().hex
    request = (
        f"REGISTER sip:{LOCALHOST}:{proxy_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{uas_port};branch=z9hG4bK{call_id[:12]};rport\r\n"
        f"From: <sip:{CALLEE}@{LOCALHOST}>;tag={call_id[:8]}\r\n"
        f"To: <sip:{CALLEE}@{LOCALHOST}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n"
        f"Contact: <sip:{CALLEE}@{LOCALHOST}:{uas_port}>;expires=3600\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, uas_port))
        sock.settimeout(0.5)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            sock.sendto(request, (LOCALHOST, proxy_port))
            try:
                reply = sock.recv(65535)
            except TimeoutError:
                continue
            if reply.startswith(b"SIP/2.0 200"):
                return
            if not reply.startswith(b"SIP/2.0 1"):
                raise RuntimeError(f"REGISTER of the callee refused: {reply.splitlines()[0]!r}")
    raise RuntimeError("no 200 to the callee's REGISTER")


class Daemons:
    """A fresh rtpengine daemon for each search: a search's thousands of sessions leave ports
    the daemon does not hand out again at once, and the next search must not start short of them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.current: Daemon | None = None
        self.cpu_seconds = 0.0  # the daemons' CPU, for the record

    def fresh(self) -> Daemon:
        self.stop()
        # log level 5: no line per NG command. Its media ports lie below the kernel's ephemeral
        # range, out of the way of the rig's ports (sipp's, the proxy's: bound to port 0), which
        # the daemon could otherwise take between two steps; one daemon at a time uses them.
        self.current = Daemon(self.log_dir, "bench", log_level=5, ports=MEDIA_PORTS)
        return self.current

    def stop(self) -> None:
        if self.current is not None:
            self.cpu_seconds += proxy_cpu_seconds(self.current.proc.pid) or 0.0
            self.current.kill()
            self.current = None


def starter_for(daemons: Daemons) -> Callable[[Target], Callable[[Rig], object]]:
    def starter(target: Target) -> Callable[[Rig], object]:
        def start_proxy(rig: Rig) -> None:
            rig.workdir.mkdir(parents=True, exist_ok=True)
            text = seed_script(rig, daemons.fresh(), target.processes)
            if target.proxy == "opensips":
                text = to_opensips_3(text).replace(
                    'mpath="/usr/local/lib/opensips/modules/"', f'mpath="{opensips_modules_dir()}/"')
                cfg = rig.workdir / "opensips.cfg"
                cfg.write_text(text)
                rig.start_proxy("opensips", [str(opensips_binary()), "-F", "-f", str(cfg), "-m", "256",
                                             "-M", "16"], ready_timeout=30.0)
            else:
                cfg = rig.workdir / "pysips.cfg"
                cfg.write_text(text)
                argv = target.pysips_argv(cfg)
                rig.start_proxy("pysips", argv, ready_timeout=30.0)
            register_callee(rig.ports.proxy, rig.ports.uas)
        return start_proxy
    return starter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_search_arguments(parser)
    args = parser.parse_args(argv)
    if not args.targets:
        parser.error("give --targets, e.g. opensips:1 pysips:1")
    if any(t.proxy == "kamailio" for t in args.targets):
        parser.error("the seed script runs on pysips and OpenSIPS only")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="pysips-seed-rtp-") as tmp:
        daemons = Daemons(Path(tmp))
        try:
            code = compare(list(args.targets), lambda t: "examples/residential.cfg + rtpengine",
                           starter_for(daemons), args)
        finally:
            daemons.stop()
        print(f"\nrtpengine daemons' CPU over the whole run: {daemons.cpu_seconds:.1f} s")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
