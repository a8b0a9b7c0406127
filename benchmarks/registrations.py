"""Registrations per second in process (the registrar script through the real Engine) and memory
per binding.

    python3 benchmarks/registrations.py [--runs 3] [--count 5000]

Each registration is the whole server-side work minus sockets: the Engine receives the REGISTER,
runs the same script as benchmarks/registrations_sipp.py (maxfwd, has_totag, t_check_trans,
fix_nated_register, save("location")), and the 200 OK with the binding list is built and handed
to the engine's sender (captured in memory). Modes: memory (db_mode 0), SQLite write-through
(db_mode 1, a file in a temporary folder, default journal settings: one fsync'd transaction per
change), and write-back (db_mode 2, saves in memory plus one flush of all of them, timed apart).
Rates are per second of process CPU time and per second of wall-clock time, which adds the fsync
waits of write-through (medians of the runs). Memory: tracemalloc bytes held per stored binding
(usrloc and what a binding keeps alive, the messages freed), median of the runs.
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
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import in_process  # noqa: E402  (beside this file)
import ua_messages  # noqa: E402

from benchmarks.registrations_sipp import PYSIPS_SCRIPT  # noqa: E402
from tests.unit.core.core_support import Net  # noqa: E402

SOURCE = ("198.51.100.1", 5060)


def registrar(db_mode: int, db_url: str) -> Net:
    """An engine running the sipp benchmark's registrar script, usrloc in `db_mode`."""
    values = {"LOG_LEVEL": 1, "WORKERS": 1, "PROXY_PORT": 5060, "MPATH": "", "DB_MODE": db_mode,
              "DB_URL": db_url, "DB_MODULE": 'loadmodule "db_sqlite.so"' if db_mode else ""}
    return cast(Net, in_process.engine(in_process.render(PYSIPS_SCRIPT, values)))


def registers(count: int) -> list[bytes]:
    return [ua_messages.register(i).encode() for i in range(count)]


def run_registers(net: Net, datas: list[bytes]) -> tuple[float, float]:
    """CPU and wall-clock seconds for handling every REGISTER (they differ by the time spent
    waiting for the disk: write-through commits each change with an fsync)."""
    start = time.process_time()
    wall = time.perf_counter()
    for data in datas:
        net.deliver(data, SOURCE)
    seconds, wall = time.process_time() - start, time.perf_counter() - wall
    ok = sum(1 for sent in net.sent if sent.first_line.startswith("SIP/2.0 200"))
    if ok != len(datas):
        raise SystemExit(f"{len(datas) - ok} of {len(datas)} REGISTERs not answered 200: "
                         f"{net.sent[-1].first_line if net.sent else 'nothing sent'}")
    net.sent.clear()
    return seconds, wall


def rate(db_mode: int, db_url: str, count: int) -> tuple[float, float, float | None]:
    net = registrar(db_mode, db_url)
    datas = registers(count)
    seconds, wall = run_registers(net, datas)
    usrloc = net.engine.process.modules["usrloc"]
    flush = None
    if db_mode == 2:
        start = time.process_time()
        usrloc.domain("location").flush()
        flush = time.process_time() - start
    usrloc.shutdown()
    return count / seconds, count / wall, (count / flush if flush else None)


def memory_per_binding(count: int) -> float:
    net = registrar(0, "")
    datas = registers(count)
    net.deliver(datas[0], SOURCE)  # the table and the script's first-use state exist before counting
    net.sent.clear()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run_registers(net, datas[1:])
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / (count - 1)


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
                mode = params["db_mode"]
                url = f"sqlite://{tmp}/bench-{mode}-{run}.db" if mode else ""
                r, w, f = rate(mode, url, args.count)
                rates.append(r)
                walls.append(w)
                if f is not None:
                    flushes.append(f)
            line = (f"{label:34s} {statistics.median(rates):9.0f} REGISTERs/s CPU "
                    f"{statistics.median(walls):9.0f} wall")
            if flushes:
                line += f"   flush {statistics.median(flushes):9.0f} bindings/s"
            print(line + f"   (median of {args.runs}, {args.count} REGISTERs)")
    mem = statistics.median(memory_per_binding(args.count) for _ in range(args.runs))
    print(f"{'memory per stored binding':34s} {mem:9.0f} bytes (tracemalloc, usrloc + its index)")


if __name__ == "__main__":
    main()
