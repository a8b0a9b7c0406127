"""Memory per confirmed dialog: N calls made, answered and ACKed through the dialog module's
functions and tm/rr callbacks (the module alone: tm and rr are stand-ins that keep nothing), then
the heap growth per dialog still held.

    python3 benchmarks/dialog/memory.py [--calls 10000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pysips.core.services import RECORD_ROUTE, TRANSACTIONS, LooseRouteMatch
from pysips.script.context import MsgContext, ProcessState
from pysips.script.exports import ModuleInitContext
from pysips.script.flags import FlagRegistry
from pysips.script.loader import ModuleFinder
from pysips.sip.message import parse_message
from pysips.sip.receive import ReceiveInfo

RCV = ReceiveInfo("udp", "127.0.0.1", 5060, "127.0.0.1", 40000)
SDP = ("v=0\r\no=caller 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class Clock:
    def now(self) -> float:
        return 100.0

    def wall_time(self) -> float:
        return 1_700_000_000.0

    def call_at(self, when: float, fn: Callable[[], None]) -> Any:
        return _Handle()


class _Handle:
    def cancel(self) -> None:
        pass


class Tm:
    def __init__(self) -> None:
        self.cb: dict[str, list[Callable[..., None]]] = {}

    def __getattr__(self, name: str) -> Any:
        return lambda fn: self.cb.setdefault(name[3:], []).append(fn)

    def fire(self, name: str, *args: Any) -> None:
        for fn in self.cb.get(name, []):
            fn(*args)


class Rr:
    def __init__(self) -> None:
        self.loose: list[Callable[..., None]] = []

    def add_rr_param(self, ctx: MsgContext, param: str) -> int:
        return 1

    def on_loose_route(self, fn: Callable[..., None]) -> None:
        self.loose.append(fn)


class Tx:
    def __init__(self, tid: str) -> None:
        self.id, self.method, self.is_invite, self.cancelled = tid, "INVITE", True, False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10000)
    args = parser.parse_args()
    found = ModuleFinder().find("dialog")
    assert found is not None
    exports = found.exports
    process = ProcessState()
    process.core = Clock()
    tm, rr = Tm(), Rr()
    process.services.provide(TRANSACTIONS, tm, "tm")  # type: ignore[arg-type]
    process.services.provide(RECORD_ROUTE, rr, "rr")  # type: ignore[arg-type]
    params = {p.name: p.default for p in exports.params}
    params["profiles_no_value"] = "calls"
    assert exports.init is not None
    dialogs = exports.init(ModuleInitContext("dialog", process, FlagRegistry(), None), params)
    process.modules["dialog"] = dialogs
    create = exports.functions_by_name["create_dialog"].handler
    profile = exports.functions_by_name["set_dlg_profile"].handler
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(args.calls):
        invite = parse_message((
            "INVITE sip:callee@127.0.0.1:5080 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5040;branch=z9hG4bK{i}\r\n"
            f"From: \"caller\" <sip:caller@127.0.0.1:5040>;tag={i}SIPpTag001\r\n"
            "To: <sip:callee@127.0.0.1:5060>\r\n"
            f"Call-ID: {i}-1234@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:5040>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n{SDP}").encode())
        ctx = MsgContext(process, invite, RCV)
        create(ctx, 0)
        profile(ctx, "calls")
        dlg = dialogs.current(ctx)
        tx = Tx(f"t{i}")
        tm.fire("created", ctx, tx)
        ok = parse_message((
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5040;branch=z9hG4bK1\r\n"
            f"Record-Route: <sip:127.0.0.1:5060;lr;did={dlg.did}>\r\n"
            f"From: \"caller\" <sip:caller@127.0.0.1:5040>;tag={i}SIPpTag001\r\n"
            f"To: <sip:callee@127.0.0.1:5060>;tag={i}SIPpTag011\r\n"
            f"Call-ID: {i}-1234@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:callee@127.0.0.1:5080>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n{SDP}").encode())
        tm.fire("reply_in", tx, None, ok)
        tm.fire("reply_out", tx, 200, "OK", ok)  # the state follows the reply relayed upstream
        tm.fire("completed", tx, 200)
        tm.fire("deleted", tx)
        ack = parse_message((
            f"ACK sip:callee@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5040;branch=z9hG4bKa{i}\r\n"
            f"From: <sip:caller@127.0.0.1:5040>;tag={i}SIPpTag001\r\n"
            f"To: <sip:callee@127.0.0.1:5060>;tag={i}SIPpTag011\r\n"
            f"Call-ID: {i}-1234@127.0.0.1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode())
        actx = MsgContext(process, ack, RCV)
        for fn in rr.loose:
            fn(actx, LooseRouteMatch("sip:127.0.0.1:5060", {"lr": "", "did": dlg.did}))
        del invite, ctx, ok, ack, actx, dlg, tx
    gc.collect()
    after = tracemalloc.take_snapshot()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    confirmed = sum(1 for d in dialogs.all() if d.state == 4)
    each = grown / max(confirmed, 1)
    print(f"{confirmed} confirmed dialogs held: {grown / 1e6:.1f} MB, {each:.0f} bytes each "
          "(two SDP bodies of 130 bytes included)")
    return 0 if confirmed == args.calls else 1


if __name__ == "__main__":
    raise SystemExit(main())
