"""Calls with media through pysips and the real rtpengine daemon (issue 7).

pysips runs examples/residential.cfg with only its addresses and paths rewritten (listeners on free
ports, `rtpengine_sock` naming the test's daemons, certificate and FIFO paths: the e2e test's
`render_config`); the routing logic is the example's own, `lookup("location")` included: the sipp
callee is registered first, by a REGISTER sent from its own SIP port (the example stores the
source address with `fix_nated_register`, so the REGISTER has to come from where the callee listens).

sipp UAC (`rtp_uac.xml`: PCMU offer, `rtp_stream` of a mu-law tone the test writes) -> pysips ->
sipp UAS (`rtp_uas.xml`, run with `-rtp_echo`: it sends each RTP packet back to its sender).
The daemons run in userspace on 127.0.0.1 with `--delete-delay=0` and `--log-level=6` (each NG
command received is logged with its Call-ID).
"""

from __future__ import annotations

import math
import re
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pysips.devcert import make_dev_certificate
from tests.integration.e2e.stack import EXAMPLE, SipPorts, render_config
from tests.integration.proxy_harness import (
    LOCALHOST,
    Rig,
    SippProcess,
    SippResult,
    free_port,
    sipp_argv,
)
from tests.integration.test_rtpengine_daemon import Daemon, _free_range, _sub

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(90),
]

CALLEE = "callee"
TONE_FILE = "rtp.ulaw"  # the name rtp_uac.xml streams, relative to the UAC's working directory
PACKETS_PER_SECOND = 50  # sipp's rtp_stream sends 20 ms of PCMU (160 bytes) per packet


# ----------------------------------------------------------------------------------- media file


def _mulaw(sample: int) -> int:
    """One 16-bit linear sample as a G.711 mu-law byte (14-bit magnitude, bias 33, 8 segments)."""
    value = sample >> 2
    mask = 0xFF
    if value < 0:
        value, mask = -value, 0x7F
    value = min(value, 8159) + 0x21
    segment = max(0, value.bit_length() - 6)
    if segment > 7:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def write_tone(path: Path, seconds: float = 1.0, hertz: float = 440.0) -> Path:
    """Raw mu-law at 8 kHz: what sipp's rtp_stream sends as payload type 0, unchanged."""
    count = int(8000 * seconds)
    samples = (int(12000 * math.sin(2 * math.pi * hertz * i / 8000)) for i in range(count))
    path.write_bytes(bytes(_mulaw(s) for s in samples))
    return path


# ---------------------------------------------------------------------------------- the stack


@dataclass(slots=True)
class Stack:
    rig: Rig
    daemons: list[Daemon]
    uas_media_port: int
    uac_media_port: int


def start_stack(rig: Rig, daemons: list[Daemon]) -> Stack:
    """pysips on the example script, talking to `daemons` (one set), and the callee registered."""
    work = rig.workdir
    work.mkdir(parents=True, exist_ok=True)
    cert, key = make_dev_certificate(work / "certs")
    ports = SipPorts(udp=rig.ports.proxy, tls=free_port(), ws=free_port(), wss=free_port())
    sock = " ".join(d.sock for d in daemons)
    cfg = work / "residential.cfg"
    cfg.write_text(render_config(EXAMPLE, ports, sock, cert, key, work / "opensips_fifo"))
    rig.start_proxy("pysips", [sys.executable, "-m", "pysips", "-E", "-f", str(cfg)], ready_timeout=20.0)
    status = register(rig.ports.proxy, rig.ports.uas)
    assert status == 200, f"REGISTER answered {status}\n{rig.proxy.log() if rig.proxy else ''}"
    # media ports of the two sipps: the UAS echoes on its -mp port (and -mp + 2); the UAC's
    # rtp_stream sends every call from its -mp port ([rtpstream_audio_port] in sipp 3.6.1)
    uas_media, uac_media = _media_base(rig), _media_base(rig)
    return Stack(rig, daemons, uas_media, uac_media)


def _media_base(rig: Rig) -> int:
    """Four ports free now, away from the daemons' ranges and from the rig's SIP ports."""
    sip_ports = {rig.ports.proxy, rig.ports.uas, rig.ports.uas2, rig.ports.uac}
    while True:
        low, high = _free_range(4)
        if not any(low <= port <= high for port in sip_ports):
            return low


def register(proxy_port: int, contact_port: int, user: str = CALLEE) -> int:
    """REGISTER sip:user@127.0.0.1 from the callee's own port; the final status code (0: none)."""
    tag = uuid.uuid4().hex[:10]
    request = (
        f"REGISTER sip:{LOCALHOST}:{proxy_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{contact_port};branch=z9hG4bK{tag};rport\r\n"
        f"From: <sip:{user}@{LOCALHOST}:{proxy_port}>;tag={tag}\r\n"
        f"To: <sip:{user}@{LOCALHOST}:{proxy_port}>\r\n"
        f"Call-ID: reg-{tag}@{LOCALHOST}\r\n"
        "CSeq: 1 REGISTER\r\n"
        f"Contact: <sip:{user}@{LOCALHOST}:{contact_port}>\r\n"
        "Expires: 300\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, contact_port))
        sock.settimeout(2.0)
        sock.sendto(request, (LOCALHOST, proxy_port))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65535)
            except TimeoutError:
                sock.sendto(request, (LOCALHOST, proxy_port))
                continue
            status = int(data.split(b" ", 2)[1])
            if status >= 200:
                return status
    return 0


def start_uas(stack: Stack, calls: int) -> SippProcess:
    return stack.rig.start_uas(
        "rtp_uas.xml", stack.rig.ports.uas, calls=calls,
        extra=["-rtp_echo", "-mp", str(stack.uas_media_port), "-mi", LOCALHOST],
    )


def start_uac(
    stack: Stack, name: str, *, calls: int, rate: float, call_ms: int, timeout_s: float
) -> SippProcess:
    """The caller in the background, in a folder holding the tone it streams."""
    workdir = stack.rig.workdir / f"uac-{name}"
    workdir.mkdir(parents=True)
    write_tone(workdir / TONE_FILE)
    argv = sipp_argv(
        "rtp_uac.xml", stack.rig.ports.uac, remote=(LOCALHOST, stack.rig.ports.proxy), service=CALLEE,
        calls=calls, rate=rate, duration_ms=call_ms, timeout_s=timeout_s, trace_messages=True,
        extra=["-mp", str(stack.uac_media_port), "-mi", LOCALHOST],
    )
    uac = SippProcess(role=f"uac rtp_uac.xml ({name})", argv=argv, workdir=workdir)
    uac.start()
    return uac


# ------------------------------------------------------------------------------ sipp's traces

_TRACE_SPLIT = re.compile(r"^-{20,} [0-9-]+ [0-9:.]+\n", re.M)


def received_messages(sipp: SippProcess) -> list[str]:
    """Every SIP message the sipp process received, from its -trace_msg file."""
    path = sipp.workdir / "messages.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    found = []
    for block in _TRACE_SPLIT.split(text):
        head, _, message = block.partition("\n\n")
        if "message received" in head:
            found.append(message.replace("\r\n", "\n"))
    return found


def header(message: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(.*)$", message, re.M | re.I)
    assert match is not None, f"no {name} in\n{message}"
    return match.group(1).strip()


def sdp_of(message: str) -> str:
    return message.partition("\n\n")[2]


def assert_points_at(sdp: str, daemon: Daemon, what: str) -> int:
    """The SDP's only connection address is 127.0.0.1 and its audio port one of the daemon's."""
    connections = re.findall(r"^c=(.*)$", sdp, re.M)
    ports = [int(p) for p in re.findall(r"^m=audio (\d+) RTP/AVP ", sdp, re.M)]
    assert connections and set(connections) == {"IN IP4 127.0.0.1"}, f"{what}: {connections}\n{sdp}"
    assert len(ports) == 1 and daemon.port_min <= ports[0] <= daemon.port_max, (
        f"{what}: audio port {ports} outside the daemon's {daemon.port_min}-{daemon.port_max}\n{sdp}"
    )
    assert "a=ice-" not in sdp and "a=candidate" not in sdp, f"{what}: ICE left in\n{sdp}"
    return ports[0]


def rtp_packets_by_tag(query: dict[str, Any]) -> dict[str, int]:
    """RTP packets the daemon received from each party of a call (NG `query`), by SIP tag."""
    counts: dict[str, int] = {}
    for tag, info in query.get("tags", {}).items():
        total = 0
        for media in info.get("medias", []):
            for stream in media.get("streams", []):
                if "RTCP" not in stream.get("flags", []):
                    total += int(stream.get("stats", {}).get("packets", 0))
        counts[str(tag)] = total
    return counts


def udp_rx_queue(port: int) -> int | None:
    """Bytes waiting unread on the 127.0.0.1 UDP socket bound to `port` (Linux /proc/net/udp).

    sipp 3.6.1's rtp_stream never reads its socket, so what the relay sends the caller piles up
    there: a growing queue is the caller's RTP receive counter."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as table:
        for line in table:
            fields = line.split()
            if len(fields) > 4 and fields[1] == wanted:
                return int(fields[4].partition(":")[2], 16)
    return None


def wait_for(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def report(stack: Stack, *results: SippResult) -> str:
    parts = [r.describe() for r in results]
    parts.append(stack.rig.report())
    parts += [f"--- {d.log_path} ---\n{d.log_text()[-3000:]}" for d in stack.daemons]
    return "\n".join(parts)


_OFFER_LINE = re.compile(r"INFO: \[([^\]]+)\]: \[control\] Received command 'offer'")


def offered_call_ids(daemon: Daemon) -> set[str]:
    return set(_OFFER_LINE.findall(daemon.log_text()))


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    try:
        started += [Daemon(tmp_path, "a", log_level=6, port_width=200),
                    Daemon(tmp_path, "b", log_level=6, port_width=200)]
        yield started
    finally:
        for daemon in started:
            daemon.kill()


# ------------------------------------------------------------------------------------- tests


def test_call_media_goes_through_the_daemon(
    rig: Rig, daemons: list[Daemon], request: pytest.FixtureRequest
) -> None:
    daemon = daemons[0]
    stack = start_stack(rig, [daemon])
    uas = start_uas(stack, calls=1)
    time.sleep(0.2)  # let sipp bind
    uac = start_uac(stack, "one", calls=1, rate=1, call_ms=3000, timeout_s=15)
    request.addfinalizer(uac.stop)

    # during the call: the daemon holds it and relays RTP both ways
    assert wait_for(lambda: bool(daemon.command({"command": "list"}).get("calls")), 10), report(
        stack, uac.result())
    call_id = str(daemon.command({"command": "list"})["calls"][0])
    time.sleep(1.5)
    during = daemon.query(call_id)
    assert during["result"] == "ok", during
    caller_queue = udp_rx_queue(stack.uac_media_port)

    uac_result = uac.wait(timeout=25)
    uas_result = uas.wait(timeout=10)
    details = report(stack, uac_result, uas_result)
    assert uac_result.ok and uac_result.successful == 1, details
    assert uas_result.ok and uas_result.successful == 1, details

    # the SDP each endpoint saw points at the daemon, not at the other endpoint
    invite = next(m for m in received_messages(uas) if m.startswith("INVITE "))
    ok = next(
        m for m in received_messages(uac) if m.startswith("SIP/2.0 200") and "INVITE" in header(m, "CSeq")
    )
    assert header(invite, "Call-ID") == call_id == header(ok, "Call-ID")
    offer_port = assert_points_at(sdp_of(invite), daemon, "INVITE at the callee")
    answer_port = assert_points_at(sdp_of(ok), daemon, "200 at the caller")
    assert offer_port != answer_port
    assert "o=caller 53655765 2353687637 IN IP4 127.0.0.1" in sdp_of(invite)  # replace-origin kept it

    # RTP: the caller's stream reached the callee, whose echo came back through the daemon
    from_tag = header(invite, "From").rpartition("tag=")[2]
    to_tag = header(ok, "To").rpartition("tag=")[2]
    packets = rtp_packets_by_tag(during)
    assert set(packets) == {from_tag, to_tag}, during
    seconds = 1.0  # at least a second of the call had passed at the query (rtp_stream: 50 pkt/s)
    assert packets[from_tag] >= seconds * PACKETS_PER_SECOND * 0.8, packets
    assert packets[to_tag] >= seconds * PACKETS_PER_SECOND * 0.8, packets
    # ... and the daemon forwarded the echo to the caller's rtp_stream port
    assert caller_queue is not None and caller_queue > 0, (caller_queue, stack.uac_media_port)
    print(f"RTP packets relayed 1.5 s into the call: caller->daemon {packets[from_tag]}, "
          f"callee echo->daemon {packets[to_tag]}; {caller_queue} bytes queued at the caller")

    # BYE: pysips sent the delete, the daemon forgot the call
    gone = daemon.query(call_id)
    assert gone["result"] == "error" and "Unknown call-id" in str(gone.get("error-reason")), gone
    log = daemon.log_text()
    for command in ("offer", "answer", "delete"):
        assert f"[{call_id}]: [control] Received command '{command}'" in log, f"no {command}\n{details}"


def test_killed_daemon_the_other_takes_the_calls(
    rig: Rig, daemons: list[Daemon], request: pytest.FixtureRequest
) -> None:
    first, second = daemons
    stack = start_stack(rig, daemons)
    calls = 20
    uas = start_uas(stack, calls=calls)
    time.sleep(0.2)
    uac = start_uac(stack, "failover", calls=calls, rate=5, call_ms=1000, timeout_s=40)
    request.addfinalizer(uac.stop)

    # kill the first daemon once it holds calls and while sipp still has calls to place
    assert wait_for(lambda: len(offered_call_ids(first)) >= 2, 15), report(stack, uac.result())
    first.kill()
    killed_with = offered_call_ids(first)

    uac_result = uac.wait(timeout=50)
    uas_result = uas.wait(timeout=10)
    details = report(stack, uac_result, uas_result)
    assert uac_result.ok and uac_result.successful == calls and uac_result.failed == 0, details
    assert uas_result.ok and uas_result.successful == calls, details
    assert rig.proxy is not None and rig.proxy.alive(), details

    # the failure was noticed and logged by pysips
    assert f"proxy <{first.sock}> does not respond, disable it" in rig.proxy.log_path.read_text(), details

    # every call was offered to a daemon; calls that hash to the dead one went to the second
    invites = [m for m in received_messages(uas) if m.startswith("INVITE ")]
    call_ids = {header(m, "Call-ID") for m in invites}
    assert len(call_ids) == calls, details
    on_second = offered_call_ids(second)
    assert call_ids <= killed_with | on_second, (call_ids - killed_with - on_second, details)
    S = _sub("sets")
    nodeset = S.build_sets([f"{first.sock} {second.sock}"])[S.DEFAULT_SET]
    hashed_to_first = {c for c in call_ids if S.select_node(nodeset, c, set(), 0).index == 0}
    taken_over = (hashed_to_first - killed_with) & on_second
    assert taken_over, (hashed_to_first, killed_with, details)
    assert call_ids - killed_with <= on_second
    # and the callee was sent the second daemon's media address for them
    for invite in invites:
        if header(invite, "Call-ID") in taken_over:
            assert_points_at(sdp_of(invite), second, "INVITE after the first daemon died")
    print(f"calls: {calls}, offered to the first daemon before SIGKILL: {len(killed_with)}, "
          f"offered to the second: {len(on_second & call_ids)} "
          f"(of which {len(taken_over)} hash to the first)")

