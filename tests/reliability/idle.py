"""Many idle TCP and WebSocket connections held against a pysips process: its memory per
connection, and whether new requests are still answered while they are held. Shared by
tests/reliability/test_idle_connections.py (2,000, in CI) and benchmarks/idle_connections.py
(10,000, by hand)."""

from __future__ import annotations

import base64
import os
import socket
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from tests.reliability.clients import LOCAL, build_request, exchange, final_status

CFG = """\
log_level=3
log_stderror=yes
listen=udp:127.0.0.1:{udp}
listen=tcp:127.0.0.1:{tcp}
listen=ws:127.0.0.1:{ws}
tcp_connection_lifetime=600
tcp_max_connections={max_connections}
loadmodule "sl.so"
loadmodule "signaling.so"
loadmodule "proto_udp.so"
loadmodule "proto_tcp.so"
loadmodule "proto_ws.so"
route {{
    sl_send_reply(200, "OK");
}}
"""


def rss_kib(pid: int) -> int:
    """Resident memory of the process and its children, KiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _ws_connect(port: int, source: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.connect((LOCAL, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET / HTTP/1.1\r\nHost: {LOCAL}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: sip\r\n\r\n").encode())
    s.settimeout(5)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the WebSocket handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head[:80].decode(errors="replace"))
    return s


@dataclass
class IdleResult:
    tcp: int
    ws: int
    rss_before_kib: int
    rss_held_kib: int
    fds_before: int
    fds_held: int
    answered_while_held: int
    probes: int
    probe_ms_median: float
    alive_after: int

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_held_kib - self.rss_before_kib) / max(1, self.tcp + self.ws)

    def summary(self) -> str:
        return (f"{self.tcp} TCP + {self.ws} WS idle connections: RSS {self.rss_before_kib} -> "
                f"{self.rss_held_kib} KiB ({self.kib_per_connection:.1f} KiB per connection), fds "
                f"{self.fds_before} -> {self.fds_held}; {self.answered_while_held}/{self.probes} requests "
                f"answered while held (median {self.probe_ms_median:.1f} ms); {self.alive_after} still open")


def hold(pid: int, ports: dict[str, int], tcp: int, ws: int, probes: int = 20) -> IdleResult:
    """Open `tcp` plain and `ws` WebSocket connections (sources spread over 127.0.0.10-41), keep
    them idle, probe with new requests over UDP and fresh TCP connections, then close them."""
    time.sleep(0.5)
    rss_before, fds_before = rss_kib(pid), open_fds(pid)
    held: list[socket.socket] = []
    try:
        for i in range(tcp):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((f"127.0.0.{10 + i % 32}", 0))
            s.connect((LOCAL, ports["tcp"]))
            held.append(s)
            if i % 50 == 0:  # some have spoken once: their framer exists
                s.sendall(build_request("OPTIONS", f"sip:{LOCAL}:{ports['tcp']}", "TCP", from_uri="sip:i@x"))
        for i in range(ws):
            held.append(_ws_connect(ports["ws"], f"127.0.0.{10 + i % 32}"))
        time.sleep(1.5)
        rss_held, fds_held = rss_kib(pid), open_fds(pid)
        answered = 0
        took: list[float] = []
        for i in range(probes):
            proto = "udp" if i % 2 == 0 else "tcp"
            started = time.monotonic()
            msg = build_request("OPTIONS", f"sip:{LOCAL}:{ports[proto]}", proto.upper(), from_uri="sip:p@x")
            if final_status(exchange(proto, ports[proto], msg, timeout=5)) == 200:
                answered += 1
                took.append((time.monotonic() - started) * 1000)
        alive = 0
        for s in held:
            s.setblocking(False)
            try:
                alive += 1 if s.recv(65536) != b"" else 0
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
    finally:
        for s in held:
            s.close()
    return IdleResult(tcp, ws, rss_before, rss_held, fds_before, fds_held, answered, probes,
                      statistics.median(took) if took else float("nan"), alive)
