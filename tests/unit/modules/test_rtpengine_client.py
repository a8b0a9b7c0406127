"""The NG exchange against small in-process fake daemons: cookies, retries, timeouts, malformed
replies, failover inside a set, quarantine and re-probe, and the script functions' return codes."""

from __future__ import annotations

import importlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pysips.core.suspend import wait
from pysips.script.ast import NOWHERE
from pysips.script.context import MsgContext, ProcessState
from pysips.script.loader import ModuleFinder
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo


def _sub(name: str) -> Any:
    assert ModuleFinder().find("rtpengine") is not None
    return importlib.import_module(f"pysips_modules.rtpengine.{name}")


B = _sub("bencode")
NG = _sub("ng_client")
SETS = _sub("sets")
RUNTIME = _sub("runtime")
FUNCS = _sub("functions")

Behaviour = Callable[[bytes, dict[str, Any]], bytes | None]  # (cookie, command) -> datagram or None


class FakeDaemon:
    def __init__(self, behaviour: Behaviour) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.behaviour = behaviour
        self.received: list[dict[str, Any]] = []
        self.last_peer: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.last_peer = peer
            cookie, _, payload = data.partition(b" ")
            command = B.decode(payload)
            self.received.append(command)
            out = self.behaviour(cookie, command)
            if out is not None:
                self.sock.sendto(out, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def ok(cookie: bytes, command: dict[str, Any]) -> bytes:
    if command["command"] == "ping":
        return cookie + b" " + B.encode({"result": "pong"})
    reply: dict[str, Any] = {"result": "ok"}
    if "sdp" in command:
        reply["sdp"] = command["sdp"].replace("10.0.0.5", "127.0.0.1")
    return cookie + b" " + B.encode(reply)


def silent(cookie: bytes, command: dict[str, Any]) -> None:
    return None


@pytest.fixture
def daemons() -> Iterator[list[FakeDaemon]]:
    made: list[FakeDaemon] = []
    yield made
    for d in made:
        d.close()


def start(made: list[FakeDaemon], behaviour: Behaviour) -> FakeDaemon:
    daemon = FakeDaemon(behaviour)
    made.append(daemon)
    return daemon


def engine_for(socks: list[str], tout: float = 0.2, retr: int = 2, disable: float = 60) -> Any:
    engine = RUNTIME.RtpEngine(SETS.build_sets(socks), NG.NgTransport(tout, retr), disable)
    engine.resolve_all()
    return engine


SDP = b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def invite(call_id: str = "call-1") -> SipMessage:
    data = (
        b"INVITE sip:bob@example.org SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-1\r\n"
        b"From: <sip:alice@example.org>;tag=ft\r\n"
        b"To: <sip:bob@example.org>\r\n"
        b"Call-ID: " + call_id.encode() + b"\r\n"
        b"CSeq: 1 INVITE\r\n"
        b"Content-Type: application/sdp\r\n"
        b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
    )
    msg = parse_message(data)
    assert isinstance(msg, SipMessage)
    return msg


def ctx_for(engine: Any, msg: SipMessage) -> MsgContext:
    process = ProcessState()
    process.modules["rtpengine"] = engine
    return MsgContext(process, msg, ReceiveInfo("udp", "127.0.0.1", 5060, "10.0.0.5", 5060))


def test_offer_rewrites_the_body_and_fixes_content_length(daemons: list[FakeDaemon]) -> None:
    d = start(daemons, ok)
    engine = engine_for([f"udp:127.0.0.1:{d.port}"])
    msg = invite()
    assert FUNCS.rtpengine_offer(ctx_for(engine, msg), "ICE=remove") == 1
    wire = msg.serialize()
    head, _, body = wire.partition(b"\r\n\r\n")
    assert b"10.0.0.5" not in body and b"c=IN IP4 127.0.0.1" in body
    assert f"Content-Length: {len(body)}".encode() in head
    assert d.received[0]["ICE"] == "remove" and d.received[0]["call-id"] == "call-1"


def test_late_and_foreign_replies_are_ignored(daemons: list[FakeDaemon]) -> None:
    def noisy(cookie: bytes, command: dict[str, Any]) -> bytes:
        # a reply to someone else's cookie first, then ours
        d.sock.sendto(b"other_1 " + B.encode({"result": "ok", "sdp": "wrong"}), d.last_peer)
        return ok(cookie, command)

    d = start(daemons, noisy)
    engine = engine_for([f"udp:127.0.0.1:{d.port}"])
    transport = engine.transport
    node = engine.sets[0].nodes[0]
    reply = wait(transport.exchange(node.index, node.endpoint, {"command": "offer", "sdp": "c=10.0.0.5"}))
    assert reply == {"result": "ok", "sdp": "c=127.0.0.1"}


def test_silent_daemon_is_retried_then_disabled_and_the_next_takes_over(
    daemons: list[FakeDaemon], caplog: pytest.LogCaptureFixture
) -> None:
    dead = start(daemons, silent)
    alive = start(daemons, ok)
    engine = engine_for([f"udp:127.0.0.1:{dead.port} udp:127.0.0.1:{alive.port}"], tout=0.1, retr=3)
    dead_node = engine.sets[0].nodes[0]
    # find a Call-ID that hashes to the silent daemon
    nodeset = engine.sets[0]
    names = (f"c{i}" for i in range(100))
    call_id = next(c for c in names if SETS.select_node(nodeset, c, set(), 0).index == 0)
    caplog.set_level(logging.ERROR, "pysips.modules.rtpengine")
    assert FUNCS.rtpengine_offer(ctx_for(engine, invite(call_id))) == 1
    assert len(dead.received) == 3  # rtpengine_retr attempts
    assert len(alive.received) == 1
    assert dead_node.disabled
    assert f"proxy <udp:127.0.0.1:{dead.port}> does not respond, disable it" in caplog.text
    # while quarantined it is not asked again
    assert FUNCS.rtpengine_offer(ctx_for(engine, invite(call_id))) == 1
    assert len(dead.received) == 3


def test_quarantined_daemon_is_pinged_and_comes_back(daemons: list[FakeDaemon]) -> None:
    d = start(daemons, silent)
    now = [0.0]
    engine = engine_for([f"udp:127.0.0.1:{d.port}"], tout=0.05, retr=1, disable=10)
    engine.clock = lambda: now[0]
    assert FUNCS.rtpengine_offer(ctx_for(engine, invite())) == -1
    node = engine.sets[0].nodes[0]
    assert node.disabled and node.recheck_at == 10
    d.behaviour = ok
    now[0] = 5.0
    assert FUNCS.rtpengine_offer(ctx_for(engine, invite())) == -1  # still quarantined: not asked
    assert [c["command"] for c in d.received] == ["offer"]
    now[0] = 10.0
    assert FUNCS.rtpengine_offer(ctx_for(engine, invite())) == 1
    assert [c["command"] for c in d.received] == ["offer", "ping", "offer"]
    assert not node.disabled


def test_no_daemon_answers(daemons: list[FakeDaemon], caplog: pytest.LogCaptureFixture) -> None:
    d = start(daemons, silent)
    engine = engine_for([f"udp:127.0.0.1:{d.port}"], tout=0.05, retr=1)
    caplog.set_level(logging.ERROR, "pysips.modules.rtpengine")
    msg = invite()
    assert FUNCS.rtpengine_offer(ctx_for(engine, msg)) == -1
    assert "no available proxies" in caplog.text
    assert msg.serialize().endswith(SDP)  # body untouched


def test_overload_error_fails_over_other_errors_do_not(daemons: list[FakeDaemon]) -> None:
    def full(cookie: bytes, command: dict[str, Any]) -> bytes:
        return cookie + b" " + B.encode({"result": "error", "error-reason": "Ran out of ports"})

    def refuses(cookie: bytes, command: dict[str, Any]) -> bytes:
        return cookie + b" " + B.encode({"result": "error", "error-reason": "Incomplete SDP"})

    a = start(daemons, full)
    b = start(daemons, ok)
    engine = engine_for([f"udp:127.0.0.1:{a.port} udp:127.0.0.1:{b.port}"])
    for i in range(6):
        assert FUNCS.rtpengine_offer(ctx_for(engine, invite(f"call-{i}"))) == 1
    assert not engine.sets[0].nodes[0].disabled  # it answered: skipped for the command only
    b.behaviour = refuses
    a.behaviour = refuses
    assert FUNCS.rtpengine_offer(ctx_for(engine, invite("call-x"))) == -1
    asked = [c for c in a.received + b.received if c["call-id"] == "call-x"]
    assert len(asked) == 1  # a plain error is the answer: no other daemon is tried
    assert any(c["call-id"] != "call-x" for c in a.received)  # the full daemon was asked before


def test_malformed_reply_counts_as_no_answer(daemons: list[FakeDaemon]) -> None:
    def garbage(cookie: bytes, command: dict[str, Any]) -> bytes:
        return cookie + b" d6:result"

    d = start(daemons, garbage)
    engine = engine_for([f"udp:127.0.0.1:{d.port}"], tout=0.05, retr=1)
    assert FUNCS.rtpengine_delete(ctx_for(engine, invite())) == -1
    assert engine.sets[0].nodes[0].disabled


def test_sock_var_pins_the_daemon_and_use_set_switches_sets(daemons: list[FakeDaemon]) -> None:
    a = start(daemons, ok)
    b = start(daemons, ok)
    engine = engine_for([f"udp:127.0.0.1:{a.port}", f"1 == udp:127.0.0.1:{b.port}"])

    class Var:
        name = "$var(sock)"
        value: Any = None

        def get(self, ctx: MsgContext) -> Any:
            return self.value

        def set(self, ctx: MsgContext, value: Any) -> None:
            self.value = value

    var = Var()
    ctx = ctx_for(engine, invite())
    assert FUNCS.rtpengine_offer(ctx, None, var) == 1
    assert var.value == f"udp:127.0.0.1:{a.port}" and len(a.received) == 1
    ctx = ctx_for(engine, invite())
    assert FUNCS.rtpengine_use_set(ctx, 1) == 1
    assert FUNCS.rtpengine_delete(ctx) == 1 and len(b.received) == 1
    assert FUNCS.rtpengine_use_set(ctx, 7) == -1
    # a pinned socket outside the set is refused for a delete
    var.value = "udp:127.0.0.1:1"
    assert FUNCS.rtpengine_delete(ctx_for(engine, invite()), None, var) == -1


def test_concurrent_requests_get_their_own_replies_whatever_the_order(daemons: list[FakeDaemon]) -> None:
    import asyncio

    held: list[tuple[bytes, dict[str, Any]]] = []

    def reversed_order(cookie: bytes, command: dict[str, Any]) -> None:
        # hold the first request; on the second, answer it first, then the held one
        held.append((cookie, command))
        if len(held) == 2:
            for c, cmd in reversed(held):
                d.sock.sendto(c + b" " + B.encode({"result": "ok", "sdp": cmd["sdp"]}), d.last_peer)
        return None

    d = start(daemons, reversed_order)
    engine = engine_for([f"udp:127.0.0.1:{d.port}"], tout=2.0, retr=1)
    transport = engine.transport
    node = engine.sets[0].nodes[0]

    async def both() -> list[Any]:
        first = transport.exchange(node.index, node.endpoint, {"command": "offer", "sdp": "one"})
        second = transport.exchange(node.index, node.endpoint, {"command": "offer", "sdp": "two"})
        return list(await asyncio.gather(first, second))

    assert asyncio.run(both()) == [{"result": "ok", "sdp": "one"}, {"result": "ok", "sdp": "two"}]


def with_stats(cookie: bytes, command: dict[str, Any]) -> bytes:
    """As rtpengine: a delete is answered with the call's statistics (keys not sorted)."""
    if command["command"] != "delete":
        return ok(cookie, command)
    return cookie + b" " + B.encode({
        "created": 1796666180,
        "totals": {"RTP": {"packets": 5, "bytes": 860, "errors": 0},
                   "RTCP": {"packets": 1, "bytes": 52, "errors": 0}},
        "result": "ok",
    })


def test_a_delete_checks_its_statistics_but_keeps_them_only_for_a_script_that_reads_them(
    daemons: list[FakeDaemon], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RUNTIME, "_stats_wanted", False)  # no $rtpstat/$rtpquery compiled
    d = start(daemons, with_stats)
    engine = engine_for([f"udp:127.0.0.1:{d.port}"], tout=0.05, retr=1)
    ctx = ctx_for(engine, invite())
    assert FUNCS.rtpengine_delete(ctx) == 1
    assert RUNTIME.STATS_KEY not in ctx.extra
    reply = engine.call(ctx, {"command": "delete", "call-id": "call-1"}, "call-1")
    assert reply == {"created": 1796666180, "result": "ok"}  # "totals" checked, not built

    # a malformed statistic fails the delete as any malformed reply does, built or not
    def broken(cookie: bytes, command: dict[str, Any]) -> bytes:
        return with_stats(cookie, command).replace(b"i860e", b"i0860e")

    d.behaviour = broken
    assert FUNCS.rtpengine_delete(ctx_for(engine, invite())) == -1
    assert engine.sets[0].nodes[0].disabled


def test_compiling_rtpstat_makes_deletes_keep_their_statistics(
    daemons: list[FakeDaemon], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RUNTIME, "_stats_wanted", False)
    pvars = _sub("pvars")
    rtpstat = pvars._make_rtpstat("rtpstat", None, NOWHERE)  # as the script compiler does
    assert RUNTIME.stats_wanted()
    d = start(daemons, with_stats)
    engine = engine_for([f"udp:127.0.0.1:{d.port}"])
    ctx = ctx_for(engine, invite())
    assert FUNCS.rtpengine_delete(ctx) == 1
    assert rtpstat.get(ctx) == "RTP: 860 bytes, 5 packets, 0 errors; RTCP: 52 bytes, 1 packets, 0 errors"
    assert [c["command"] for c in d.received] == ["delete"]  # the delete's reply, no query
