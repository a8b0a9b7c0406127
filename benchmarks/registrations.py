"""Registrations per second in-process (registrar save() over usrloc) and memory per binding.

    python3 benchmarks/registrations.py [--runs 3] [--count 5000]

Each registration is the whole server-side work minus sockets: parse the REGISTER, run save()
(Contact checks, usrloc insert, the 200 OK with the binding list built and handed to a capturing
engine). Modes: memory (db_mode 0), SQLite write-through (db_mode 1, a file in a temporary folder,
default journal settings: one fsync'd transaction per change), and write-back (db_mode 2, saves
in memory plus one flush of all of them, timed apart). Rates are per second of process CPU time
and per second of wall-clock time, which adds the fsync waits of write-through (medians of the
runs). Memory: tracemalloc bytes held per stored binding (usrloc only, the
messages freed), median of the runs.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pysips.core.api import Destination, Hooks, Socket
from pysips.script.context import MsgContext, ProcessState
from pysips.script.exports import ModuleInitContext
from pysips.script.flags import FlagRegistry
from pysips.script.loader import ModuleFinder
from pysips.sip.build import make_response
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

SOCK = Socket("udp", "192.0.2.1", 5060)


class Engine:
    """What save() needs of the engine: building a reply and sending it (kept, not sent)."""

    def __init__(self) -> None:
        self.sockets = [SOCK]
        self.hooks = Hooks()
        self.replies = 0
        self.mono = 0.0

    def now(self) -> float:
        return self.mono

    def wall_time(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Any) -> Any:
        return _NoTimer()

    def build_reply(self, ctx: MsgContext, code: int, reason: str, to_tag: str | None = None,
                    extra_headers: tuple[str, ...] = (), body: bytes = b"") -> bytes:
        return make_response(ctx.msg, code, reason, to_tag=to_tag or "t", extra_headers=extra_headers)

    def send_reply(self, ctx: MsgContext, data: bytes) -> bool:
        self.replies += 1
        return True

    def send(self, data: bytes, dst: Destination, socket: Socket) -> bool:
        return True


class _NoTimer:
    def cancel(self) -> None:
        return None


def setup(ul_params: dict[str, Any]) -> tuple[ProcessState, Any]:
    finder = ModuleFinder()
    process = ProcessState()
    process.core = Engine()
    flags = FlagRegistry()
    for name, params in (("db_sqlite", {}), ("usrloc", ul_params), ("registrar", {})):
        found = finder.find(name)
        assert found is not None
        exports = found.exports
        merged = {p.name: ([] if p.multi else p.default) for p in exports.params}
        merged.update(params)
        if exports.init is not None:
            process.modules[name] = exports.init(ModuleInitContext(name, process, flags, None), merged)
    save = finder.find("registrar").exports.functions_by_name["save"].handler  # type: ignore[union-attr]
    return process, save


def registers(count: int) -> list[bytes]:
    return [
        (f"REGISTER sip:example.com SIP/2.0\r\n"
         f"Via: SIP/2.0/UDP 198.51.{i >> 8 & 255}.{i & 255}:5060;branch=z9hG4bK{i:08x};rport\r\n"
         "Max-Forwards: 70\r\n"
         f"From: <sip:user{i}@example.com>;tag={i:x}\r\n"
         f"To: <sip:user{i}@example.com>\r\n"
         f"Call-ID: {i:08x}-reg@198.51.100.1\r\n"
         "CSeq: 1 REGISTER\r\n"
         f"Contact: <sip:user{i}@198.51.{i >> 8 & 255}.{i & 255}:5060;transport=udp>;expires=3600\r\n"
         "User-Agent: bench/1.0\r\n"
         "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE\r\n"
         "Content-Length: 0\r\n\r\n").encode()
        for i in range(count)
    ]


def run_saves(process: ProcessState, save: Any, datas: list[bytes]) -> tuple[float, float]:
    """CPU and wall-clock seconds for parsing and saving every REGISTER (they differ by the time
    spent waiting for the disk: write-through commits each change with an fsync)."""
    rcv = ReceiveInfo("udp", SOCK.ip, SOCK.port, "198.51.100.1", 5060)
    start = time.process_time()
    wall = time.perf_counter()
    for data in datas:
        msg = parse_message(data)
        assert isinstance(msg, SipMessage)
        ctx = MsgContext(process, msg, rcv, now=time.time())
        if save(ctx, "location", None, None) != 1:
            raise SystemExit("save() failed")
    return time.process_time() - start, time.perf_counter() - wall


def rate(ul_params: dict[str, Any], count: int) -> tuple[float, float, float | None]:
    process, save = setup(ul_params)
    datas = registers(count)
    seconds, wall = run_saves(process, save, datas)
    flush = None
    if ul_params.get("db_mode") == 2:
        start = time.process_time()
        process.modules["usrloc"].domain("location").flush()
        flush = time.process_time() - start
    process.modules["usrloc"].shutdown()
    return count / seconds, count / wall, (count / flush if flush else None)


def memory_per_binding(count: int) -> float:
    process, save = setup({"db_mode": 0})
    datas = registers(count)
    process.modules["usrloc"].domain("location")
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run_saves(process, save, datas)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / count


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--count", type=int, default=5000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        modes: list[tuple[str, dict[str, Any]]] = [
            ("memory (db_mode 0)", {"db_mode": 0}),
            ("sqlite write-through (db_mode 1)", {"db_mode": 1}),
            ("sqlite write-back (db_mode 2)", {"db_mode": 2}),
        ]
        for label, params in modes:
            rates, walls, flushes = [], [], []
            for run in range(args.runs):
                p = dict(params)
                if p["db_mode"]:
                    p["db_url"] = f"sqlite://{tmp}/bench-{p['db_mode']}-{run}.db"
                r, w, f = rate(p, args.count)
                rates.append(r)
                walls.append(w)
                if f is not None:
                    flushes.append(f)
            line = (f"{label:34s} {statistics.median(rates):9.0f} saves/s CPU "
                    f"{statistics.median(walls):9.0f} wall")
            if flushes:
                line += f"   flush {statistics.median(flushes):9.0f} bindings/s"
            print(line + f"   (median of {args.runs}, {args.count} REGISTERs)")
    mem = statistics.median(memory_per_binding(args.count) for _ in range(args.runs))
    print(f"{'memory per stored binding':34s} {mem:9.0f} bytes (tracemalloc, usrloc + its index)")


if __name__ == "__main__":
    main()
