"""CPU per call in process: the real Engine running tests/integration/cfg/residential-test.cfg
(tm, rr, maxfwd, sipmsgops), sends captured in memory, timers on a manual clock. No sockets and
no sipp, so the figure moves much less than calls_per_second.py's when other processes share the
CPUs (use it to compare two trees; calls_per_second.py for the real thing).

Each call: INVITE in (100 back, INVITE relayed), 180 and 200 from the callee relayed, ACK (2xx,
loose_route) forwarded, BYE relayed and its 200 relayed back.

    python3 benchmarks/engine_calls.py [calls per run, 3000] [runs, 5]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import in_process  # noqa: E402  (beside this file)
import ua_messages  # noqa: E402

from pysips.core.server import tune_gc  # noqa: E402
from pysips.sip.build import make_response  # noqa: E402
from tests.unit.core.core_support import script_net  # noqa: E402

net, loaded = script_net(in_process.calls_script())
engine = net.engine
UAC, UAS, SDP = ua_messages.UAC, ua_messages.UAS, ua_messages.SDP


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
    invite = ua_messages.invite(i)
    out = deliver(invite, UAC)
    relayed = next(s for s in out if s.first_line.startswith("INVITE"))
    rmsg = relayed.msg
    deliver(make_response(rmsg, 180, "Ringing", to_tag=f"t{i}"), UAS)
    ok = make_response(rmsg, 200, "OK", to_tag=f"t{i}",
                       extra_headers=["Contact: <sip:callee@127.0.0.1:7000>",
                                      "Content-Type: application/sdp"],
                       body=SDP.encode())
    deliver(ok, UAS)
    for method, seq in (("ACK", 1), ("BYE", 2)):
        req = ua_messages.in_dialog(i, method, seq)
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
