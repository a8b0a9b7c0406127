"""The rtpengine module against the real daemon (Debian `rtpengine-daemon`, userspace, 127.0.0.1):
offer/answer/delete through a loaded script, WebRTC flag sets producing DTLS and ICE, per-branch
sessions of a forked call, and a daemon killed mid-call with the second daemon of the set taking over.
"""

from __future__ import annotations

import importlib
import logging
import random
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pysips.core.services import TRANSACTIONS
from pysips.script import ast
from pysips.script.compile import LoadedScript, load_script
from pysips.script.context import MsgContext, ProcessState, RouteType
from pysips.script.loader import ModuleFinder
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo
from tests.integration.proxy_harness import free_port

RTPENGINE = shutil.which("rtpengine")
pytestmark = [pytest.mark.integration]


def test_rtpengine_daemon_is_installed() -> None:
    assert RTPENGINE is not None, "rtpengine is not installed: run scripts/setup (apt: rtpengine-daemon)"


def _sub(name: str) -> Any:
    assert ModuleFinder().find("rtpengine") is not None
    return importlib.import_module(f"pysips_modules.rtpengine.{name}")


_ranges_handed_out: list[tuple[int, int]] = []


def _free_range(width: int = 60) -> tuple[int, int]:
    """Ports free now and disjoint from every range handed out before (daemons bind lazily)."""
    for _ in range(50):
        base = random.randrange(20000, 60000 - width, 2)
        if any(base <= high and low <= base + width - 1 for low, high in _ranges_handed_out):
            continue
        try:
            for port in (base, base + width // 2, base + width - 1):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        _ranges_handed_out.append((base, base + width - 1))
        return base, base + width - 1
    raise RuntimeError("no free UDP port range")


class Daemon:
    """The Debian daemon, userspace, on free ports; `log_level` 6 (the default) logs each NG command."""

    def __init__(self, log_dir: Path, name: str, log_level: int | None = None, port_width: int = 60,
                 ports: tuple[int, int] | None = None) -> None:
        self.ng_port = free_port()
        self.port_min, self.port_max = ports or _free_range(port_width)
        self.log_path = log_dir / f"rtpengine-{name}.log"
        assert RTPENGINE is not None
        self.proc = subprocess.Popen(
            [
                RTPENGINE, "--config-file=none", "--table=-1", "--foreground", "--log-stderr",
                "--interface=127.0.0.1", f"--listen-ng=127.0.0.1:{self.ng_port}",
                f"--port-min={self.port_min}", f"--port-max={self.port_max}", "--delete-delay=0",
                *([] if log_level is None else [f"--log-level={log_level}"]),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("wb"),
        )
        self._wait_ready()

    @property
    def sock(self) -> str:
        return f"udp:127.0.0.1:{self.ng_port}"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"rtpengine exited: {self.log_path.read_text()[-2000:]}")
                s.sendto(b"ready d7:command4:pinge", ("127.0.0.1", self.ng_port))
                try:
                    if b"pong" in s.recv(1000):
                        return
                except OSError:
                    time.sleep(0.1)
        raise RuntimeError("rtpengine did not answer ping")

    def command(self, command: dict[str, Any]) -> dict[str, Any]:
        B = _sub("bencode")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            cookie = f"q{random.randrange(1 << 40)}".encode()  # the daemon caches replies by cookie
            s.sendto(cookie + b" " + B.encode(command), ("127.0.0.1", self.ng_port))
            data = s.recv(65535)
        reply: dict[str, Any] = B.decode(data.partition(b" ")[2])
        return reply

    def query(self, call_id: str) -> dict[str, Any]:
        return self.command({"command": "query", "call-id": call_id})

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_contains(self, text: str) -> bool:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if text in self.log_path.read_text(errors="replace"):
                return True
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(tmp_path_factory.mktemp("rtpengine"), "main")
    yield d
    d.kill()


# ------------------------------------------------------------------------------------- messages

PHONE_SDP = (
    "v=0\r\no=phone 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n"
)
FINGERPRINT = ":".join(f"{i * 7 % 256:02X}" for i in range(32))


def browser_sdp(setup: str) -> str:
    return (
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "a=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n"
        "m=audio 50000 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 127.0.0.1\r\n"
        "a=rtcp:9 IN IP4 0.0.0.0\r\n"
        "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0\r\n"
        "a=ice-ufrag:Wa1b\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n"
        f"a=fingerprint:sha-256 {FINGERPRINT}\r\na=setup:{setup}\r\na=mid:0\r\na=sendrecv\r\n"
        "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
    )


def invite(call_id: str, sdp: str, branch: str = "z9hG4bKuac1") -> SipMessage:
    body = sdp.encode()
    data = (
        "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 10.0.0.5:5060;branch={branch}\r\n"
        "From: <sip:alice@example.org>;tag=alice-tag\r\n"
        "To: <sip:bob@example.org>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
        "Contact: <sip:alice@10.0.0.5:5060>\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(data)
    assert isinstance(msg, SipMessage)
    return msg


def reply(call_id: str, sdp: str | None, status: int = 200, to_tag: str = "bob-tag") -> SipMessage:
    body = (sdp or "").encode()
    reason = {200: "OK", 486: "Busy Here", 183: "Session Progress"}[status]
    data = (
        f"SIP/2.0 {status} {reason}\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKuac1\r\n"
        "From: <sip:alice@example.org>;tag=alice-tag\r\n"
        f"To: <sip:bob@example.org>;tag={to_tag}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
        + ("Content-Type: application/sdp\r\n" if sdp else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(data)
    assert isinstance(msg, SipMessage)
    return msg


RCV_PHONE = ReceiveInfo("udp", "127.0.0.1", 5060, "10.0.0.5", 5060)


def body_of(msg: SipMessage) -> str:
    wire = msg.serialize()
    head, _, body = wire.partition(b"\r\n\r\n")
    length = re.search(rb"Content-Length: (\d+)", head)
    assert length is not None and int(length.group(1)) == len(body)
    return body.decode()


def media_ports(sdp: str) -> list[int]:
    return [int(m) for m in re.findall(r"^m=audio (\d+) ", sdp, re.M)]


def assert_relayed(sdp: str, d: Daemon) -> None:
    assert "c=IN IP4 127.0.0.1" in sdp
    assert re.findall(r"^c=(.*)\r$", sdp, re.M) == ["IN IP4 127.0.0.1"] * len(re.findall(r"^c=", sdp, re.M))
    ports = media_ports(sdp)
    assert ports and all(d.port_min <= p <= d.port_max for p in ports), (ports, d.port_min, d.port_max)


# ------------------------------------------------------------------------------ through a script

SCRIPT = """
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "SOCK")
modparam("rtpengine", "rtpengine_tout", 1)
modparam("rtpengine", "rtpengine_retr", 2)
route {
    if ($rm == "BYE" || $rm == "CANCEL") { $var(r) = rtpengine_delete(); exit; }
    $var(flags) = "RTP/AVP replace-session-connection replace-origin ICE=remove";
    $var(r) = rtpengine_offer("$var(flags)", $var(sock));
}
onreply_route {
    $var(r) = rtpengine_answer("RTP/AVP replace-session-connection replace-origin ICE=remove");
}
"""


def _load(sock: str) -> tuple[LoadedScript, ProcessState]:
    loaded = load_script(parse_text(SCRIPT.replace("SOCK", sock), "rtpe.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    return loaded, process


def _run(loaded: LoadedScript, process: ProcessState, msg: SipMessage, kind: ast.RouteKind) -> Any:
    route = loaded.route(kind)
    assert route is not None
    ctx = MsgContext(process, msg, RCV_PHONE)
    loaded.run(route, ctx)
    return process.vars.get("r")


def test_offer_answer_delete_through_the_script(daemon: Daemon) -> None:
    loaded, process = _load(daemon.sock)
    call_id = f"plain-{random.random()}"
    inv = invite(call_id, PHONE_SDP)
    assert _run(loaded, process, inv, ast.RouteKind.REQUEST) == 1
    offered = body_of(inv)
    assert_relayed(offered, daemon)
    assert "o=phone 1 1 IN IP4 127.0.0.1" in offered  # replace-origin
    assert process.vars.get("sock") == daemon.sock

    ok = reply(call_id, PHONE_SDP.replace("o=phone", "o=bob"))
    assert _run(loaded, process, ok, ast.RouteKind.ONREPLY) == 1
    answered = body_of(ok)
    assert_relayed(answered, daemon)
    assert set(media_ports(answered)).isdisjoint(media_ports(offered))
    assert daemon.query(call_id)["result"] == "ok"

    bye = parse_message(
        (
            "BYE sip:alice@10.0.0.5 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.6;branch=z9hG4bKbye\r\n"
            "From: <sip:bob@example.org>;tag=bob-tag\r\nTo: <sip:alice@example.org>;tag=alice-tag\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(bye, SipMessage)
    assert _run(loaded, process, bye, ast.RouteKind.REQUEST) == 1
    gone = daemon.query(call_id)
    assert gone["result"] == "error" and "Unknown call-id" in str(gone.get("error-reason"))


# ------------------------------------------------------------------------------------- WebRTC

F = _sub("functions")


def _engine_ctx(process: ProcessState, msg: SipMessage, route_type: int = RouteType.REQUEST) -> MsgContext:
    return MsgContext(process, msg, RCV_PHONE, route_type)


def test_phone_to_browser_gets_dtls_and_ice(daemon: Daemon) -> None:
    _, process = _load(daemon.sock)
    call_id = f"p2b-{random.random()}"
    inv = invite(call_id, PHONE_SDP)
    flags = "UDP/TLS/RTP/SAVPF ICE=force rtcp-mux-offer SDES-off generate-mid"
    assert F.rtpengine_offer(_engine_ctx(process, inv), flags) == 1
    sdp = body_of(inv)
    assert re.search(r"^m=audio \d+ UDP/TLS/RTP/SAVPF ", sdp, re.M)
    assert re.search(r"^a=fingerprint:sha-256 [0-9A-F:]{95}\r$", sdp, re.M)
    assert "a=setup:actpass" in sdp and "a=rtcp-mux" in sdp and "a=mid:" in sdp
    assert "a=ice-ufrag:" in sdp and "a=ice-pwd:" in sdp
    candidates = re.findall(r"^a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 (\d+) typ host", sdp, re.M)
    assert candidates and all(daemon.port_min <= int(p) <= daemon.port_max for p in candidates)
    assert "a=crypto" not in sdp  # SDES-off
    assert_relayed(sdp, daemon)

    ok = reply(call_id, browser_sdp("active"))
    plain = "RTP/AVP replace-session-connection replace-origin ICE=remove"
    assert F.rtpengine_answer(_engine_ctx(process, ok), plain) == 1
    answer = body_of(ok)
    assert re.search(r"^m=audio \d+ RTP/AVP ", answer, re.M)
    assert "a=candidate" not in answer and "a=fingerprint" not in answer and "a=ice-" not in answer
    assert_relayed(answer, daemon)
    assert F.rtpengine_delete(_engine_ctx(process, inv)) == 1


def test_browser_to_phone_demuxes_rtcp_and_answers_with_dtls(daemon: Daemon) -> None:
    _, process = _load(daemon.sock)
    call_id = f"b2p-{random.random()}"
    inv = invite(call_id, browser_sdp("actpass"))
    offer_flags = "RTP/AVP replace-session-connection replace-origin ICE=remove rtcp-mux-demux"
    assert F.rtpengine_offer(_engine_ctx(process, inv), offer_flags) == 1
    sdp = body_of(inv)
    assert re.search(r"^m=audio \d+ RTP/AVP ", sdp, re.M)
    assert "a=rtcp-mux" not in sdp and "a=fingerprint" not in sdp and "a=candidate" not in sdp
    assert_relayed(sdp, daemon)

    ok = reply(call_id, PHONE_SDP.replace("o=phone", "o=bob").replace("10.0.0.5", "10.0.0.6"))
    assert F.rtpengine_answer(_engine_ctx(process, ok), "UDP/TLS/RTP/SAVPF ICE=force") == 1
    answer = body_of(ok)
    assert re.search(r"^m=audio \d+ UDP/TLS/RTP/SAVPF ", answer, re.M)
    assert "a=fingerprint:sha-256" in answer and "a=rtcp-mux" in answer
    assert re.search(r"^a=setup:(active|passive)", answer, re.M)
    assert re.search(r"^a=candidate:.* 127\.0\.0\.1 \d+ typ host", answer, re.M)
    assert F.rtpengine_delete(_engine_ctx(process, inv)) == 1


# ------------------------------------------------------------------------------ forked branches


class FakeBranch:
    def __init__(self, via_branch: str) -> None:
        self.via_branch = via_branch


class FakeTm:
    @staticmethod
    def current_branch(ctx: MsgContext) -> FakeBranch | None:
        b = ctx.extra.get("tm.branch")
        return b if isinstance(b, FakeBranch) else None


def test_each_fork_has_its_own_session(daemon: Daemon) -> None:
    _, process = _load(daemon.sock)
    process.services.provide(TRANSACTIONS, FakeTm(), "tm")
    call_id = f"fork-{random.random()}"
    contexts = []
    for index, flags in enumerate(
        ("RTP/AVP replace-session-connection replace-origin ICE=remove", "UDP/TLS/RTP/SAVPF ICE=force")
    ):
        copy = invite(call_id, PHONE_SDP)  # tm hands each branch_route its own copy
        ctx = _engine_ctx(process, copy, RouteType.BRANCH)
        ctx.extra["tm.branch"] = FakeBranch(f"z9hG4bKfork{index}")
        assert F.rtpengine_offer(ctx, flags) == 1
        contexts.append(body_of(copy))
    assert "RTP/AVP" in contexts[0] and "UDP/TLS/RTP/SAVPF" in contexts[1]
    assert set(media_ports(contexts[0])).isdisjoint(media_ports(contexts[1]))

    # the browser branch answers; the phone branch fails (486): only its session goes
    ok = reply(call_id, browser_sdp("active"), to_tag="browser-tag")
    ctx = _engine_ctx(process, ok, RouteType.ONREPLY)
    ctx.extra["tm.branch"] = FakeBranch("z9hG4bKfork1")
    assert F.rtpengine_answer(ctx, "RTP/AVP replace-session-connection replace-origin ICE=remove") == 1
    answer = body_of(ok)
    assert re.search(r"^m=audio \d+ RTP/AVP ", answer, re.M) and "a=fingerprint" not in answer

    busy = reply(call_id, None, 486, to_tag="phone-tag")
    ctx = _engine_ctx(process, busy, RouteType.ONREPLY)
    ctx.extra["tm.branch"] = FakeBranch("z9hG4bKfork0")
    assert F.rtpengine_manage(ctx) == 1  # >= 300: a delete with this branch's via-branch
    assert daemon.query(call_id)["result"] == "ok"  # the answered branch lives on
    assert daemon.log_contains("Call branch '' (via-branch 'z9hG4bKfork0') deleted")
    assert F.rtpengine_delete(_engine_ctx(process, invite(call_id, PHONE_SDP))) == 1
    assert daemon.query(call_id)["result"] == "error"


# ------------------------------------------------------------------------------------ failover


def test_killed_daemon_is_logged_disabled_and_the_other_takes_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = Daemon(tmp_path, "first"), Daemon(tmp_path, "second")
    try:
        _, process = _load(f"{first.sock} {second.sock}")
        engine = process.modules["rtpengine"]
        nodeset = engine.sets[0]
        S = _sub("sets")
        names = (f"kill-{i}" for i in range(300))
        on_first = [c for c in names if S.select_node(nodeset, c, set(), 0).index == 0]
        call_a, call_b = on_first[0], on_first[1]

        inv = invite(call_a, PHONE_SDP)
        assert F.rtpengine_offer(_engine_ctx(process, inv)) == 1
        assert_relayed(body_of(inv), first)

        first.kill()
        caplog.set_level(logging.ERROR, "pysips.modules.rtpengine")
        # the call's daemon is gone: the answer cannot be completed anywhere
        ok = reply(call_a, PHONE_SDP)
        assert F.rtpengine_answer(_engine_ctx(process, ok)) == -1
        assert f"proxy <{first.sock}> does not respond, disable it" in caplog.text
        assert "Unknown call-id" in caplog.text  # the second daemon was asked instead
        assert nodeset.nodes[0].disabled

        # new calls that would go to the dead daemon land on the second one
        inv = invite(call_b, PHONE_SDP)
        started = time.monotonic()
        assert F.rtpengine_offer(_engine_ctx(process, inv)) == 1
        assert time.monotonic() - started < 1  # the quarantined daemon is not waited for
        assert_relayed(body_of(inv), second)

        # with every daemon of the set dead, the function fails and nothing raises
        second.kill()
        caplog.clear()
        assert F.rtpengine_offer(_engine_ctx(process, invite(on_first[2], PHONE_SDP))) == -1
        assert "no available proxies" in caplog.text
    finally:
        first.kill()
        second.kill()


def test_offer_outside_a_branch_then_answer_in_a_branch_reply(daemon: Daemon) -> None:
    # the script offered in the request route (no via-branch); the reply comes back through tm,
    # which names its branch: the daemon must still pair the answer with the offer
    _, process = _load(daemon.sock)
    process.services.provide(TRANSACTIONS, FakeTm(), "tm")
    call_id = f"mixed-{random.random()}"
    inv = invite(call_id, PHONE_SDP)
    assert F.rtpengine_offer(_engine_ctx(process, inv), "UDP/TLS/RTP/SAVPF ICE=force") == 1
    ok = reply(call_id, browser_sdp("active"))
    ctx = _engine_ctx(process, ok, RouteType.ONREPLY)
    ctx.extra["tm.branch"] = FakeBranch("z9hG4bKproxy0")
    assert F.rtpengine_answer(ctx, "RTP/AVP replace-session-connection replace-origin ICE=remove") == 1
    answer = body_of(ok)
    assert re.search(r"^m=audio \d+ RTP/AVP ", answer, re.M) and "a=fingerprint" not in answer
    assert_relayed(answer, daemon)
    tags = daemon.query(call_id)["tags"]
    assert {"alice-tag", "bob-tag"} <= set(tags)
    assert F.rtpengine_delete(_engine_ctx(process, inv)) == 1
