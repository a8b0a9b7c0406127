"""CPU per call in process: the real Engine running tests/integration/cfg/residential-test.cfg
(tm, rr, maxfwd, sipmsgops), sends captured in memory, timers on a manual clock. No sockets and
no sipp, so the figure moves much less than calls_per_second.py's when other processes share the
CPUs (use it to compare two trees; calls_per_second.py for the real thing).

Each call: INVITE in (100 back, INVITE relayed), 180 and 200 from the callee relayed, ACK (2xx,
loose_route) forwarded, BYE relayed and its 200 relayed back.

    python3 benchmarks/engine_calls.py [calls per run, 3000] [runs, 5]
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pysips.core.server import tune_gc  # noqa: E402
from pysips.sip.build import make_response  # noqa: E402
from tests.unit.core.core_support import script_net  # noqa: E402

cfg = (ROOT / "tests/integration/cfg/residential-test.cfg").read_text()
values = {"PROXY_PORT": 5060, "UAS_PORT": 7000, "UAS2_PORT": 7002, "CHILDREN": 1, "LOG_LEVEL": 0,
          "FR_TIMEOUT": 2, "FR_INV_TIMEOUT": 3}
cfg = re.sub(r"@@([A-Z0-9_]+)@@", lambda m: str(values[m.group(1)]), cfg)
cfg = "\n".join(line for line in cfg.splitlines() if not line.startswith(("socket", "listen")))

net, loaded = script_net(cfg)
engine = net.engine
UAC = ("127.0.0.1", 40000)
UAS = ("127.0.0.1", 7000)
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


_server_cpu = [0.0]  # process time spent inside the engine (receive and timers), harness excluded


def deliver(data: str | bytes, src: tuple[str, int]) -> list[Any]:
    t0 = time.process_time()
    out = net.deliver(data, src)
    _server_cpu[0] += time.process_time() - t0
    return out


def advance(seconds: float) -> None:
    t0 = time.process_time()
    engine.clock.advance(seconds)
    _server_cpu[0] += time.process_time() - t0


def one_call(i: int) -> None:
    cid = f"bench-{i}@127.0.0.1"
    invite = (
        f"INVITE sip:callee@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-i{i};rport\r\n"
        f"From: <sip:caller@127.0.0.1:40000>;tag=f{i}\r\nTo: <sip:callee@127.0.0.1:5060>\r\n"
        f"Call-ID: {cid}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:40000>\r\n"
        "Max-Forwards: 70\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(SDP)}\r\n\r\n{SDP}"
    )
    out = deliver(invite, UAC)
    relayed = next(s for s in out if s.first_line.startswith("INVITE"))
    rmsg = relayed.msg
    deliver(make_response(rmsg, 180, "Ringing", to_tag=f"t{i}"), UAS)
    ok = make_response(rmsg, 200, "OK", to_tag=f"t{i}",
                       extra_headers=["Contact: <sip:callee@127.0.0.1:7000>",
                                      "Content-Type: application/sdp"],
                       body=SDP.encode())
    deliver(ok, UAS)
    for method, seq, branch in (("ACK", 1, f"z9hG4bK-a{i}"), ("BYE", 2, f"z9hG4bK-b{i}")):
        req = (
            f"{method} sip:callee@127.0.0.1:7000 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch={branch};rport\r\n"
            f"Route: <sip:127.0.0.1:5060;lr>\r\n"
            f"From: <sip:caller@127.0.0.1:40000>;tag=f{i}\r\n"
            f"To: <sip:callee@127.0.0.1:5060>;tag=t{i}\r\n"
            f"Call-ID: {cid}\r\nCSeq: {seq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        out = deliver(req, UAC)
        if method == "BYE":
            bye = next(s for s in out if s.first_line.startswith("BYE"))
            deliver(make_response(bye.msg, 200, "OK"), UAS)
    advance(0.01)


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    one_call(0)
    assert any(s.first_line.startswith("SIP/2.0 200") for s in net.sent[-3:]), "the call did not complete"
    # the collector as the server sets it (pysips.core.server.tune_gc): with Python's default
    # threshold a collection would run every few messages, which the server does not pay
    tune_gc()
    results = []
    server = []
    n = 1
    for _ in range(runs):
        net.sent.clear()
        _server_cpu[0] = 0.0
        t0 = time.process_time()
        for _ in range(calls):
            one_call(n)
            n += 1
        results.append((time.process_time() - t0) / calls * 1e6)
        server.append(_server_cpu[0] / calls * 1e6)
        engine.clock.advance(40)
    print(f"CPU per call (engine+script+tm, in process): min {min(results):.0f} us, "
          f"median {statistics.median(results):.0f} us  runs {[round(r) for r in results]}")
    print(f"of which inside the engine (receive and timers; the harness building and parsing its "
          f"messages excluded): median {statistics.median(server):.0f} us  runs {[round(r) for r in server]}")


if __name__ == "__main__":
    main()
