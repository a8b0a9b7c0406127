"""tm's UAC (TRANSACTIONS.send_request) on real UDP sockets: requests pysips originates, their
replies delivered to a callback, a local 408 when nobody answers, and the ACK tm sends for a
negative final of an INVITE of ours."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pysips.core.services import TRANSACTIONS, UacReply, UacRequest
from pysips.sip.message import SipMessage
from tests.integration.inprocess import LOCALHOST, reply_to, running_script, udp_peer
from tests.integration.proxy_harness import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SCRIPT = """
socket=udp:127.0.0.1:{port}
loadmodule "tm.so"
loadmodule "sl.so"
modparam("tm", "fr_timeout", 2)
modparam("tm", "fr_inv_timeout", 3)
route {{ sl_send_reply(404, "Not Here"); }}
"""


def _collector() -> tuple[list[UacReply], asyncio.Event, object]:
    replies: list[UacReply] = []
    final = asyncio.Event()

    def callback(reply: UacReply) -> None:
        replies.append(reply)
        if reply.code >= 200:
            final.set()

    return replies, final, callback


def test_options_answered_200_and_a_dead_port_ends_in_a_local_408(tmp_path: Path) -> None:
    async def scenario() -> None:
        uas = await udp_peer(lambda msg: [reply_to(msg, 200, "OK")] if msg.is_request else [])
        async with running_script(SCRIPT.format(port=free_port()), tmp_path) as engine:
            tm = engine.process.services.get(TRANSACTIONS)
            assert tm is not None
            replies, final, callback = _collector()
            request = UacRequest("OPTIONS", f"sip:probe@{LOCALHOST}:{uas.port}",
                                 from_uri="sip:pinger@pysips.test", headers=("X-Probe: 1",))
            assert tm.send_request(request, callback) == 1  # type: ignore[arg-type]
            await asyncio.wait_for(final.wait(), 5)
            assert [(r.code, r.local) for r in replies] == [(200, False)]
            assert isinstance(replies[0].reply, SipMessage)
            (sent,) = uas.received
            assert sent.method == "OPTIONS" and sent.ruri == f"sip:probe@{LOCALHOST}:{uas.port}"
            assert sent.header("x-probe") == "1" and sent.from_tag
            assert "sip:pinger@pysips.test" in (sent.header("from") or "")
            assert sent.header("call-id") == replies[0].call_id

            dead, dead_final, dead_cb = _collector()
            started = asyncio.get_running_loop().time()
            target = UacRequest("OPTIONS", f"sip:nobody@{LOCALHOST}:{free_port()}")
            assert tm.send_request(target, dead_cb) == 1  # type: ignore[arg-type]
            await asyncio.wait_for(dead_final.wait(), 10)
            elapsed = asyncio.get_running_loop().time() - started
            assert [(r.code, r.reason, r.reply, r.local) for r in dead] == [
                (408, "Request Timeout", None, True)]
            assert 1.9 <= elapsed < 6  # fr_timeout (2 s, the least OpenSIPS accepts), not Timer F (32 s)
        uas.close()

    asyncio.run(scenario())


def test_invite_provisional_then_busy_is_delivered_and_acked_by_tm(tmp_path: Path) -> None:
    def answer(msg: SipMessage) -> list[bytes]:
        if msg.method == "INVITE":
            return [reply_to(msg, 180, "Ringing"), reply_to(msg, 486, "Busy Here")]
        return []

    async def scenario() -> None:
        uas = await udp_peer(answer)
        async with running_script(SCRIPT.format(port=free_port()), tmp_path) as engine:
            tm = engine.process.services.get(TRANSACTIONS)
            assert tm is not None
            replies, final, callback = _collector()
            request = UacRequest("INVITE", f"sip:callee@{LOCALHOST}:{uas.port}", body=b"v=0\r\n",
                                 content_type="application/sdp", contact=f"<sip:pysips@{LOCALHOST}>")
            assert tm.send_request(request, callback) == 1  # type: ignore[arg-type]
            await asyncio.wait_for(final.wait(), 5)
            for _ in range(50):  # the ACK follows the 486 at once
                if len(uas.received) >= 2:
                    break
                await asyncio.sleep(0.02)
            assert [(r.code, r.reason) for r in replies] == [(180, "Ringing"), (486, "Busy Here")]
            assert [m.method for m in uas.received] == ["INVITE", "ACK"]
            invite, ack = uas.received
            assert invite.body == b"v=0\r\n" and invite.header("content-type") == "application/sdp"
            assert ack.header("call-id") == invite.header("call-id")
            assert ack.top_via is not None and invite.top_via is not None
            assert ack.top_via.branch == invite.top_via.branch  # the ACK of a non-2xx: same transaction
        uas.close()

    asyncio.run(scenario())
