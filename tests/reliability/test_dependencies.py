"""Dependencies gone, through the seed's script (examples/residential.cfg) run by `pysips -f`.

- rtpengine with no daemon left in its set: the daemon's address swallows every command (a socket
  that never answers). The first call waits out `rtpengine_tout` x `rtpengine_retr`, the daemon is
  logged and disabled, and the seed relays the INVITE with its SDP untouched (it ignores the
  function's result, as on OpenSIPS). While that call waits, unrelated traffic is served: a
  REGISTER sent after the INVITE is answered before the INVITE reaches the callee. The next call
  finds no daemon at once ("no available proxies") and is relayed without waiting. One process
  (`--workers 1`; the seed asks for four); the same with the seed's four workers: the daemon is
  disabled in every worker once the first call's worker gave up on it (OpenSIPS's shared
  memory, here SHARED_STATE), so the daemon is declared dead once and the calls that follow,
  handled by other workers, are relayed without waiting out the timeout.
- The DNS server gone (one that never answers, one whose port is closed): a call to a domain name
  gets tm's "478 Unresolvable destination (478/TM)" once the lookups give up (t_relay kills the
  transaction with the reply OpenSIPS sends, so the seed's own 500 never goes out), and a REGISTER
  sent meanwhile is answered first.

Ordering, not timing, shows that nothing stalls (benchmarks measure time, tests do not).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.differential.sipua import SDP, Endpoint, Message, Transcript, build, reply_to
from tests.integration.proxy_harness import free_port
from tests.integration.test_transports import wait_listening
from tests.procs import stop_group
from tests.reliability.seed import PROTOS, seed_script

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
LOCAL = "127.0.0.1"


@dataclass
class Seed:
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int  # the UDP listener

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def blackhole() -> Iterator[socket.socket]:
    """A UDP socket that takes every datagram and never answers (a hung daemon)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOCAL, 0))
    yield sock
    sock.close()


def start_seed(base: Path, rtpengine_port: int, extra_argv: list[str], extra_globals: str = "") -> Seed:
    ports = {name: free_port() for name in PROTOS}
    ports["rtpengine"] = rtpengine_port
    cfg = base / "seed.cfg"
    cfg.write_text(seed_script(base, ports, extra_globals))
    log_path = base / "pysips.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pysips", "-f", str(cfg), *extra_argv], cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_listening(ports["tcp"], proc, log_path)
    return Seed(proc, log_path, ports["udp"])


@pytest.fixture
def transcript() -> Transcript:
    return Transcript()


def register(ua: Endpoint, user: str, seed: Seed) -> str:
    """Send a REGISTER for `user` binding `ua`'s address; returns its Call-ID."""
    call_id = f"reg-{uuid.uuid4().hex[:10]}"
    ua.send(build(f"REGISTER sip:{LOCAL}:{seed.port} SIP/2.0", [
        ("Via", f"SIP/2.0/UDP {ua.hostport};branch=z9hG4bK{uuid.uuid4().hex[:10]};rport"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:{user}@{LOCAL}>;tag={uuid.uuid4().hex[:8]}"),
        ("To", f"<sip:{user}@{LOCAL}>"),
        ("Call-ID", call_id), ("CSeq", "1 REGISTER"),
        ("Contact", f"<sip:{user}@{ua.hostport}>"), ("Expires", "300"),
    ]), (LOCAL, seed.port))
    return call_id


def invite(ua: Endpoint, ruri: str, seed: Seed) -> str:
    call_id = f"inv-{uuid.uuid4().hex[:10]}"
    ua.send(build(f"INVITE {ruri} SIP/2.0", [
        ("Via", f"SIP/2.0/UDP {ua.hostport};branch=z9hG4bK{uuid.uuid4().hex[:10]};rport"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:alice@{LOCAL}>;tag={uuid.uuid4().hex[:8]}"),
        ("To", f"<{ruri}>"), ("Call-ID", call_id), ("CSeq", "1 INVITE"),
        ("Contact", f"<sip:alice@{ua.hostport}>"),
    ], SDP), (LOCAL, seed.port))
    return call_id


def events_until(endpoints: dict[str, Endpoint], wanted: int, timeout: float) -> list[tuple[str, Message]]:
    """Messages as they arrive at any of `endpoints` (retransmissions left out), in arrival order,
    until `wanted` of them or `timeout`; 100 Trying is left out."""
    events: list[tuple[str, Message]] = []
    deadline = time.monotonic() + timeout
    while len(events) < wanted and time.monotonic() < deadline:
        for name, ua in endpoints.items():
            msg = ua.recv(0.02)
            if msg is not None and not msg.first_line.startswith("SIP/2.0 100 "):
                events.append((name, msg))
    return events


def test_rtpengine_with_no_daemon_left_is_logged_survived_and_stalls_nothing(
        tmp_path: Path, blackhole: socket.socket, transcript: Transcript) -> None:
    seed = start_seed(tmp_path, blackhole.getsockname()[1], ["--workers", "1"])
    alice, bob, carol = (Endpoint(n, transcript) for n in ("alice", "bob", "carol"))
    try:
        register(bob, "bob", seed)
        ok = bob.recv_final()
        assert ok is not None and ok.status == 200, seed.log()[-3000:]

        # the first call: the daemon is asked and never answers
        call_id = invite(alice, f"sip:bob@{LOCAL}:{seed.port}", seed)
        time.sleep(0.2)  # the INVITE is in its branch route, waiting for rtpengine
        register(carol, "carol", seed)
        events = events_until({"bob": bob, "carol": carol}, 2, timeout=15)
        order = [(who, msg.first_line) for who, msg in events]
        assert [who for who, _ in order] == ["carol", "bob"], (order, seed.log()[-3000:])
        assert events[0][1].status == 200  # the REGISTER was served while the INVITE waited
        relayed = events[1][1]
        assert relayed.method == "INVITE" and relayed.header("Call-ID") == call_id
        assert relayed.body == SDP  # no daemon rewrote it
        log = seed.log()
        assert "does not respond, disable it" in log, log[-3000:]
        bob.send(reply_to(relayed, 486, "Busy Here", to_tag="b1"), (LOCAL, seed.port))
        final = alice.recv_final()
        assert final is not None and final.status == 486

        # the next call: no daemon left; the function fails at once and the call goes on
        call_id = invite(alice, f"sip:bob@{LOCAL}:{seed.port}", seed)
        register(carol, "carol", seed)
        bob.recv_request("ACK")  # tm's ACK of the first call's 486
        events = events_until({"bob": bob, "carol": carol}, 2, timeout=5)
        relayed_to_bob = [msg for who, msg in events if who == "bob"]
        assert relayed_to_bob, ([(who, m.first_line) for who, m in events], seed.log()[-3000:])
        relayed = relayed_to_bob[0]
        assert relayed.header("Call-ID") == call_id and relayed.body == SDP
        assert "no available proxies" in seed.log()
        bob.send(reply_to(relayed, 486, "Busy Here", to_tag="b2"), (LOCAL, seed.port))
        final = alice.recv_final()
        assert final is not None and final.status == 486
        assert seed.proc.poll() is None
    finally:
        for ua in (alice, bob, carol):
            ua.close()
        stop_group(seed.proc)


DAEMON_TIMEOUT_S = 5.0  # rtpengine_tout (1 s) x rtpengine_retr (5), the defaults the seed keeps
LOG_PID = re.compile(r"\[(\d+)\] [A-Z]+:.*?(does not respond, disable it|no available proxies)")


def test_rtpengine_daemon_found_dead_by_one_worker_is_skipped_by_every_worker(
        tmp_path: Path, blackhole: socket.socket, transcript: Transcript) -> None:
    seed = start_seed(tmp_path, blackhole.getsockname()[1], ["--workers", "4"])
    alice, bob = Endpoint("alice", transcript), Endpoint("bob", transcript)
    try:
        register(bob, "bob", seed)
        ok = bob.recv_final()
        assert ok is not None and ok.status == 200, seed.log()[-3000:]

        # the first call: its worker asks the daemon, waits out the timeout and disables it
        first = invite(alice, f"sip:bob@{LOCAL}:{seed.port}", seed)
        relayed = bob.recv_request("INVITE", timeout=15)
        assert relayed is not None and relayed.header("Call-ID") == first, seed.log()[-3000:]
        bob.send(reply_to(relayed, 486, "Busy Here", to_tag="b0"), (LOCAL, seed.port))
        final = alice.recv_final()
        assert final is not None and final.status == 486

        # eight calls with Call-IDs of their own, spread over the workers, sent at once: each is
        # relayed before a timeout of the daemon could have run out
        sent = time.monotonic()
        call_ids = {invite(alice, f"sip:bob@{LOCAL}:{seed.port}", seed) for _ in range(8)}
        relayed_ids: set[str] = set()
        while relayed_ids != call_ids and time.monotonic() - sent < DAEMON_TIMEOUT_S:
            got = bob.recv_request("INVITE", timeout=0.2)
            if got is None or got.header("Call-ID") not in call_ids:
                continue
            relayed_ids.add(got.header("Call-ID"))
            assert got.body == SDP
            bob.send(reply_to(got, 486, "Busy Here", to_tag="b1"), (LOCAL, seed.port))
        assert relayed_ids == call_ids, (len(relayed_ids), seed.log()[-3000:])

        lines = LOG_PID.findall(seed.log())
        dead = [int(pid) for pid, what in lines if what.startswith("does not")]
        skipped = {int(pid) for pid, what in lines if what.startswith("no available")}
        assert len(dead) == 1, lines  # one worker waited on the daemon, once
        assert skipped - set(dead), lines  # other workers skipped it without asking
        assert seed.proc.poll() is None
    finally:
        for ua in (alice, bob):
            ua.close()
        stop_group(seed.proc)


@pytest.mark.parametrize("dns", ["silent", "closed"])
def test_dns_server_gone_answers_the_caller_and_stalls_nothing(
        tmp_path: Path, blackhole: socket.socket, transcript: Transcript, dns: str) -> None:
    # "closed": nothing listens there, each query is refused at once
    dns_port = blackhole.getsockname()[1] if dns == "silent" else free_port()
    # one second per try, one try: the lookup gives up quickly (OpenSIPS's dns_retr_* parameters)
    seed = start_seed(tmp_path, free_port(), ["--dns-server", f"{LOCAL}:{dns_port}"],
                      "dns_retr_time=1\ndns_retr_no=1\n")
    alice, carol = Endpoint("alice", transcript), Endpoint("carol", transcript)
    try:
        invite(alice, "sip:bob@gone.example.com", seed)
        register(carol, "carol", seed)
        events = events_until({"alice": alice, "carol": carol}, 2, timeout=20)
        order = [(who, msg.first_line) for who, msg in events]
        expected = [("carol", "SIP/2.0 200 OK"), ("alice", "SIP/2.0 478 Unresolvable destination (478/TM)")]
        assert order == expected, (order, seed.log()[-3000:])
        assert "cannot resolve sip:bob@gone.example.com" in seed.log()
        assert seed.proc.poll() is None
    finally:
        alice.close()
        carol.close()
        stop_group(seed.proc)
