"""Decoding rtpengine's NG replies: µs per decode of a real delete reply (the call's statistics).

    python3 benchmarks/ng_decode.py [--repeats 15] [--number 1000]

Starts a private rtpengine (tests/integration/test_rtpengine_daemon.py's Daemon), sets up one call
with offer and answer, sends it 50 RTP packets each way, then takes the reply to `delete` (about
1.8 KB) and times, in CPU time of this process (other load on a shared machine matters less):
`decode` (every value built: what a delete costs when the script reads $rtpstat or $rtpquery, and
what every delete cost before) and `decode_flat` (the statistics checked, not built: what a delete
costs otherwise). Prints the median and the minimum of the repeats, and the offer reply's times.
"""

from __future__ import annotations

import argparse
import random
import re
import socket
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.test_rtpengine_daemon import Daemon, _sub

B = _sub("bencode")
SDP = (
    "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
)


def _raw(daemon: Daemon, command: dict[str, Any]) -> bytes:
    """The reply's bencoded dictionary, undecoded."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        cookie = f"b{random.randrange(1 << 40)}".encode()
        s.sendto(cookie + b" " + B.encode(command), ("127.0.0.1", daemon.ng_port))
        return s.recv(65535).partition(b" ")[2]


def capture(folder: Path) -> tuple[bytes, bytes]:
    """(offer reply, delete reply) of one call with media, from a fresh daemon."""
    daemon = Daemon(folder, "bench")
    try:
        phones = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        for phone in phones:
            phone.bind(("127.0.0.1", 0))
        a_port, b_port = (p.getsockname()[1] for p in phones)
        call = {"call-id": "bench@pysips", "from-tag": "ft", "flags": ["trust-address"], "ICE": "remove"}
        offer = _raw(daemon, {"command": "offer", "sdp": SDP.format(port=a_port), **call})
        answer = _raw(daemon, {"command": "answer", "sdp": SDP.format(port=b_port), "to-tag": "tt", **call})
        relay = [int(re.findall(rb"m=audio (\d+)", r)[0]) for r in (answer, offer)]
        for seq in range(50):
            header = bytes([0x80, 0]) + seq.to_bytes(2, "big") + (seq * 160).to_bytes(4, "big")
            for phone, port in zip(phones, relay, strict=True):
                phone.sendto(header + b"\x00\x00\x04\xd2" + b"\xff" * 160, ("127.0.0.1", port))
            time.sleep(0.005)
        time.sleep(0.3)
        delete = _raw(daemon, {"command": "delete", "call-id": "bench@pysips", "from-tag": "ft"})
        for phone in phones:
            phone.close()
        return offer, delete
    finally:
        daemon.kill()


def per_call_us(fn: Any, data: bytes, repeats: int, number: int) -> tuple[float, float]:
    times = timeit.repeat(lambda: fn(data), number=number, repeat=repeats, timer=time.process_time)
    return statistics.median(times) / number * 1e6, min(times) / number * 1e6


def main() -> None:
    raw_help = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw_help)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--number", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        offer, delete = capture(Path(folder))
    full = B.decode(delete)
    assert B.decode_flat(delete) == {k: v for k, v in full.items() if not isinstance(v, list | dict)}
    print(f"delete reply: {len(delete)} bytes, top-level keys {list(full)}")
    for name, data in (("offer", offer), ("delete", delete)):
        for fn in (B.decode, B.decode_flat):
            median, best = per_call_us(fn, data, args.repeats, args.number)
            print(f"{name:6s} {fn.__name__:11s} median {median:7.1f} µs   min {best:7.1f} µs")


if __name__ == "__main__":
    main()
