"""What the shared round-robin position costs: ds_select_dst(1, 4) with worker processes asks
the main process for each step (modules/dispatcher/rotation_sharing.py); ds_select_dst(1, 0)
(a Call-ID hash) asks nothing. Same script otherwise: the destination chosen, the request
answered 200 statelessly, so the dispatcher's share of the work is as large as it gets.

Requests (OPTIONS, each its own Call-ID) go at a fixed rate from one UDP socket; the figures are
the server's CPU per request (user + system of the main process and its workers, from /proc)
and the median and 99th percentile time to the answer, per algorithm, alternating the
algorithms over `--repeats` fresh servers so a machine whose load changes weighs on both.

    python3 benchmarks/ds_round_robin.py [--workers 4] [--rate 1000] [--seconds 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.integration.proxy_harness import free_port  # noqa: E402
from tests.integration.script_rig import create_sqlite  # noqa: E402
from tests.procs import spawn, stop_group  # noqa: E402

SCRIPT = """\
log_level=2
stderror_enabled=yes
syslog_enabled=no
udp_workers={workers}
socket=udp:127.0.0.1:{port}
loadmodule "proto_udp.so"
loadmodule "sl.so"
loadmodule "db_sqlite.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "db_url", "sqlite://{db}")
route {{
    if (!ds_select_dst(1, {alg})) {{
        sl_send_reply(503, "No destination");
        exit;
    }}
    sl_send_reply(200, "OK");
}}
"""
TICK = os.sysconf("SC_CLK_TCK")


def _tree_ticks(root: int) -> int:
    """utime + stime of `root` and its children (the workers)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root or ppid == root:
            total += int(fields[11]) + int(fields[12])
    return total


def _request(n: int, port: int, local: int) -> bytes:
    return (f"OPTIONS sip:x@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{n}b\r\n"
            f"From: <sip:b@127.0.0.1>;tag={n}\r\nTo: <sip:x@127.0.0.1>\r\n"
            f"Call-ID: bench-{n}-{time.monotonic_ns()}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def _run(alg: int, args: argparse.Namespace, workdir: Path, db: Path) -> tuple[float, float, float, int]:
    """(CPU us per request, median ms, p99 ms, unanswered) for one fresh server."""
    port = free_port()
    cfg = workdir / f"alg{alg}.cfg"
    cfg.write_text(SCRIPT.format(workers=args.workers, port=port, db=db, alg=alg))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = spawn([sys.executable, "-m", "pysips.cli", "-F", "-f", str(cfg)], workdir,
                 workdir / f"alg{alg}.log", env)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    local = sock.getsockname()[1]
    try:
        sock.settimeout(0.2)
        for _ in range(100):  # until it answers (the workers started)
            sock.sendto(_request(0, port, local), ("127.0.0.1", port))
            try:
                sock.recv(65535)
                break
            except TimeoutError:
                continue
        time.sleep(1.0)
        sock.setblocking(False)
        total = args.rate * args.seconds
        sent: dict[str, float] = {}
        latencies: list[float] = []
        before = _tree_ticks(proc.pid)
        start = time.monotonic()
        n = 0
        while n < total or (sent and time.monotonic() < start + args.seconds + 2):
            now = time.monotonic()
            while n < total and start + n / args.rate <= now:
                n += 1
                data = _request(n, port, local)
                sent[data.split(b"Call-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()] = time.monotonic()
                sock.sendto(data, ("127.0.0.1", port))
            try:
                while True:
                    reply = sock.recv(65535)
                    cid = reply.split(b"Call-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
                    at = sent.pop(cid, None)
                    if at is not None:
                        latencies.append(time.monotonic() - at)
            except BlockingIOError:
                pass
            time.sleep(0.0005)
        used = _tree_ticks(proc.pid) - before
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
        cpu_us = used / TICK * 1e6 / max(1, len(latencies))
        return cpu_us, statistics.median(latencies) * 1000, p99 * 1000, len(sent)
    finally:
        sock.close()
        stop_group(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results: dict[int, list[tuple[float, float, float, int]]] = {0: [], 4: []}
    with tempfile.TemporaryDirectory(prefix="pysips-ds-rr-") as tmp:
        workdir = Path(tmp)
        db = create_sqlite(workdir / "ds.db", "dispatcher")
        with sqlite3.connect(db) as conn:
            conn.executemany("INSERT INTO dispatcher (setid, destination) VALUES (1, ?)",
                             [(f"sip:127.0.0.1:{9000 + i}",) for i in range(4)])
        for repeat in range(args.repeats):
            for alg in (0, 4):
                found = _run(alg, args, workdir, db)
                results[alg].append(found)
                print(f"  repeat {repeat + 1} alg {alg}: {found[0]:.0f} us CPU/request, median "
                      f"{found[1]:.2f} ms, p99 {found[2]:.2f} ms, unanswered {found[3]}", flush=True)
    for alg, runs in results.items():
        cpu, median, p99 = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"alg {alg}, {args.workers} worker(s), {args.rate}/s: median CPU {cpu:.0f} us/request, "
              f"latency median {median:.2f} ms, p99 {p99:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
