"""A hung dependency must not stall other traffic (issue 10).

rtpengine's NG socket is bound by the test and never answers. Ten INVITEs call rtpengine_offer()
and wait on it (rtpengine_tout x rtpengine_retr seconds each); meanwhile OPTIONS, answered by the
script with sl_send_reply, are sent one after another and timed. The bound: p99 < 50 ms.
"""

from __future__ import annotations

import select
import socket
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.proxy_harness import LOCALHOST, Rig, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

INVITES = 10
OPTIONS = 150
OPTIONS_GAP_S = 0.01


def silent_ng_socket() -> socket.socket:
    """An NG control socket bound on 127.0.0.1 that reads nothing and answers nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOCALHOST, 0))
    return sock


@pytest.fixture
def silent_ng() -> Iterator[socket.socket]:
    sock = silent_ng_socket()
    yield sock
    sock.close()


SCRIPT = """\
log_level = 2
socket = udp:127.0.0.1:{port}
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "sipmsgops.so"
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:{ng_port}")
modparam("rtpengine", "rtpengine_tout", 1)
modparam("rtpengine", "rtpengine_retr", 5)

route {{
    if (is_method("INVITE")) {{
        if (!rtpengine_offer())
            sl_send_reply(503, "Media Relay Unavailable");
        exit;
    }}
    sl_send_reply(200, "OK");
}}
"""

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\n"
)


def sip_request(method: str, proxy_port: int, local_port: int, body: str = "") -> bytes:
    tag = uuid.uuid4().hex[:10]
    extra = "Content-Type: application/sdp\r\n" if body else ""
    return (
        f"{method} sip:bob@{LOCALHOST}:{proxy_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{local_port};branch=z9hG4bK{tag};rport\r\n"
        f"From: <sip:alice@{LOCALHOST}>;tag={tag}\r\n"
        f"To: <sip:bob@{LOCALHOST}>\r\n"
        f"Call-ID: {tag}@{LOCALHOST}\r\n"
        f"CSeq: 1 {method}\r\n"
        "Contact: <sip:alice@127.0.0.1>\r\n"
        "Max-Forwards: 70\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def options_latencies(proxy_port: int, count: int, gap_s: float, patience_s: float = 15.0) -> list[float]:
    """Round-trip times (seconds) of `count` OPTIONS sent every `gap_s` seconds whatever the
    answers (open loop: a stalled server delays every request sent while it stalls)."""
    sent_at: dict[bytes, float] = {}
    answered_at: dict[bytes, float] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        local = sock.getsockname()[1]
        started = time.monotonic()
        deadline = started + count * gap_s + patience_s
        while len(answered_at) < count and time.monotonic() < deadline:
            now = time.monotonic()
            if len(sent_at) < count and now >= started + len(sent_at) * gap_s:
                request = sip_request("OPTIONS", proxy_port, local)
                call_id = request.split(b"Call-ID: ", 1)[1].split(b"\r\n", 1)[0]
                sent_at[call_id] = time.monotonic()
                sock.sendto(request, (LOCALHOST, proxy_port))
                continue
            next_send = started + len(sent_at) * gap_s if len(sent_at) < count else deadline
            ready, _, _ = select.select([sock], [], [], max(0.0, min(next_send, deadline) - now))
            if ready:
                data = sock.recv(65535)
                for call_id in sent_at:
                    if call_id in data:
                        answered_at.setdefault(call_id, time.monotonic())
                        break
    return [answered_at.get(c, float("inf")) - t for c, t in sent_at.items()]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def test_options_are_answered_while_ten_invites_wait_on_a_silent_rtpengine(
    rig: Rig, silent_ng: socket.socket, tmp_path: Path
) -> None:
    ng_port = silent_ng.getsockname()[1]
    rig.start_pysips_script(SCRIPT.format(port=rig.ports.proxy, ng_port=ng_port))
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind((LOCALHOST, free_port()))
    try:
        local = caller.getsockname()[1]
        for _ in range(INVITES):
            caller.sendto(sip_request("INVITE", rig.ports.proxy, local, SDP), (LOCALHOST, rig.ports.proxy))
        time.sleep(0.2)  # every INVITE is now waiting on the silent daemon
        silent_ng.settimeout(2.0)
        asked = silent_ng.recv(65535)
        assert b"offer" in asked, asked[:200]
        times = options_latencies(rig.ports.proxy, OPTIONS, OPTIONS_GAP_S)
        # each INVITE resumes when its attempts run out, and the script answers it
        caller.settimeout(10.0)
        finals = [caller.recv(65535).split(b"\r\n", 1)[0] for _ in range(INVITES)]
        assert finals == [b"SIP/2.0 503 Media Relay Unavailable"] * INVITES
    finally:
        caller.close()
    p50, p99 = statistics.median(times), percentile(times, 0.99)
    print(f"OPTIONS while {INVITES} INVITEs wait on a silent rtpengine: "
          f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
    log = rig.proxy.log() if rig.proxy else ""
    assert p99 < 0.050, f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms\n{log}"
