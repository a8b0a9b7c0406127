"""A classic SIP phone over UDP for the end-to-end test: REGISTER, place and answer calls, BYE.

Plain RTP (PCMU, 20 ms, 50 packets/s) flows from `rtp.RtpStream` once a call has an answer; the
stream counts what arrives. The SIP side keeps to RFC 3261 where the proxy can notice: Via with
`rport` and a fresh branch per transaction, CSeq counting per dialog, tags, the route set taken from
Record-Route (reversed for the caller), in-dialog requests sent to the first loose route, the ACK
for a 2xx as its own transaction and for a failure inside the INVITE transaction, UDP retransmissions
(timer A/E from T1 = 0.5 s) and 2xx retransmission until the ACK arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from tests.integration.e2e.rtp import RtpStream
from tests.integration.e2e.sipmsg import SipMsg, host_port, new_token, parse, reply_to, tag_of, uri_of

T1, T2 = 0.5, 4.0
Addr = tuple[str, int]


@dataclass
class Call:
    call_id: str
    local_tag: str
    local_uri: str
    remote_uri: str
    outgoing: bool
    rtp: RtpStream
    remote_tag: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 1
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    ended_by: str = ""
    invite: SipMsg | None = None
    ok_reply: bytes = b""
    ok_dest: Addr = ("", 0)
    remote_media: Addr = ("", 0)
    timeline: dict[str, float] = field(default_factory=dict)


def sdp_media(body: bytes) -> Addr:
    """Connection address and audio port of an SDP (session- or media-level c= line)."""
    host, port = "", 0
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("c=IN IP4 "):
            host = line.split()[2]
        elif line.startswith("m=audio "):
            port = int(line.split()[1])
    return host, port


class Phone(asyncio.DatagramProtocol):
    def __init__(self, user: str, proxy: Addr, host: str = "127.0.0.1") -> None:
        self.user, self.proxy, self.host = user, proxy, host
        self.port = 0
        self.aor = f"sip:{user}@{proxy[0]}"
        self.transport: asyncio.DatagramTransport | None = None
        self.calls: dict[str, Call] = {}
        self.incoming: asyncio.Queue[Call] = asyncio.Queue()
        self.trace: list[str] = []
        self.wire: list[bytes] = []  # every datagram sent and received, for the run's sip log
        self._pending: dict[str, asyncio.Future[SipMsg]] = {}
        self._provisional: dict[str, asyncio.Event] = {}
        self._register_cseq = 0
        self._register_call_id = new_token()
        self._tasks: set[asyncio.Task[None]] = set()
        self._t0 = time.monotonic()

    # ----------------------------------------------------------------------------- plumbing

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, 0))
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.host}:{self.port}>"

    def _send(self, data: bytes, dest: Addr) -> None:
        assert self.transport is not None
        first_line = data.split(b"\r\n", 1)[0].decode()
        self.trace.append(f"{time.monotonic() - self._t0:7.3f} -> {dest[0]}:{dest[1]} {first_line}")
        self.wire.append(
            f"=== {time.monotonic() - self._t0:7.3f} sent to {dest[0]}:{dest[1]}\n".encode() + data
        )
        self.transport.sendto(data, dest)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        self.wire.append(f"=== {time.monotonic() - self._t0:7.3f} from {addr[0]}:{addr[1]}\n".encode() + data)
        msg = parse(data)
        if msg is None:
            return
        self.trace.append(f"{time.monotonic() - self._t0:7.3f} <- {addr[0]}:{addr[1]} {msg.first_line}")
        if msg.is_request:
            self._on_request(msg, addr)
        else:
            self._on_reply(msg)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------------- client transactions

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/UDP {self.host}:{self.port};rport;branch={branch}"

    async def _transact(self, msg: SipMsg, dest: Addr, timeout: float = 10.0) -> SipMsg:
        """Sends a request and waits for its final reply, retransmitting as RFC 3261 timers A/E."""
        branch = msg.get("via").split("branch=", 1)[1].split(";", 1)[0]
        future: asyncio.Future[SipMsg] = asyncio.get_running_loop().create_future()
        provisional = asyncio.Event()
        self._pending[branch] = future
        self._provisional[branch] = provisional
        data = msg.serialize()
        deadline = time.monotonic() + timeout
        interval = T1
        try:
            self._send(data, dest)
            while time.monotonic() < deadline:
                try:
                    return await asyncio.wait_for(
                        asyncio.shield(future), min(interval, deadline - time.monotonic())
                    )
                except TimeoutError:
                    pass
                if not provisional.is_set():
                    self._send(data, dest)
                    interval = min(interval * 2, T2)
                else:
                    interval = T2
            raise TimeoutError(f"no final reply to {msg.first_line}")
        finally:
            self._pending.pop(branch, None)
            self._provisional.pop(branch, None)

    def _on_reply(self, msg: SipMsg) -> None:
        branch = msg.get("via").split("branch=", 1)[-1].split(";", 1)[0]
        future = self._pending.get(branch)
        if msg.status < 200:
            if branch in self._provisional:
                self._provisional[branch].set()
            return
        if future is not None and not future.done():
            future.set_result(msg)
            return
        call = self.calls.get(msg.get("call-id"))
        if call is not None and msg.cseq_method == "INVITE" and msg.status < 300 and call.confirmed.is_set():
            self._send_ack(call, msg.cseq)  # a retransmitted 2xx: our ACK was lost

    # --------------------------------------------------------------------------- registration

    async def register(self, expires: int = 300) -> int:
        self._register_cseq += 1
        msg = SipMsg(
            f"REGISTER sip:{self.proxy[0]}:{self.proxy[1]} SIP/2.0",
            [
                ("via", self._via("z9hG4bK" + new_token())),
                ("max-forwards", "70"),
                ("from", f"<{self.aor}>;tag={new_token()}"),
                ("to", f"<{self.aor}>"),
                ("call-id", self._register_call_id),
                ("cseq", f"{self._register_cseq} REGISTER"),
                ("contact", self.contact),
                ("expires", str(expires)),
                ("user-agent", "pysips-e2e-phone"),
            ],
        )
        return (await self._transact(msg, self.proxy)).status

    # ------------------------------------------------------------------------------- calling

    def _sdp(self, call: Call) -> bytes:
        sess = int(time.time())
        return (
            f"v=0\r\no={self.user} {sess} 1 IN IP4 {self.host}\r\ns=pysips-e2e\r\n"
            f"c=IN IP4 {self.host}\r\nt=0 0\r\nm=audio {call.rtp.port} RTP/AVP 0\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        ).encode()

    async def call(self, target: str, timeout: float = 20.0) -> Call:
        """INVITE `target` through the proxy; returns once the 2xx is ACKed and RTP is flowing."""
        rtp = RtpStream(self.host)
        await rtp.open()
        call = Call(new_token(), new_token(), self.aor, target, outgoing=True, rtp=rtp)
        self.calls[call.call_id] = call
        branch = "z9hG4bK" + new_token()
        invite = SipMsg(
            f"INVITE {target} SIP/2.0",
            [
                ("via", self._via(branch)),
                ("max-forwards", "70"),
                ("from", f"<{call.local_uri}>;tag={call.local_tag}"),
                ("to", f"<{target}>"),
                ("call-id", call.call_id),
                ("cseq", f"{call.local_cseq} INVITE"),
                ("contact", self.contact),
                ("content-type", "application/sdp"),
                ("user-agent", "pysips-e2e-phone"),
            ],
            self._sdp(call),
        )
        call.invite = invite
        call.timeline["invite"] = time.monotonic()
        final = await self._transact(invite, self.proxy, timeout)
        if final.status >= 300:
            self._ack_failure(invite, final)
            raise RuntimeError(f"call to {target} failed: {final.first_line}")
        call.remote_tag = tag_of(final.get("to"))
        call.remote_target = uri_of(final.get("contact"))
        call.route_set = [uri_of(rr) for rr in reversed(final.get_all("record-route"))]
        call.remote_media = sdp_media(final.body)
        call.timeline["answered"] = time.monotonic()
        call.answered.set()
        self._send_ack(call, call.local_cseq)
        call.confirmed.set()
        rtp.start_sending(call.remote_media)
        return call

    def _ack_failure(self, invite: SipMsg, final: SipMsg) -> None:
        ack = SipMsg(
            invite.first_line.replace("INVITE", "ACK", 1),
            [
                ("via", invite.get("via")),
                ("max-forwards", "70"),
                ("from", invite.get("from")),
                ("to", final.get("to")),
                ("call-id", invite.get("call-id")),
                ("cseq", f"{invite.cseq} ACK"),
            ],
        )
        self._send(ack.serialize(), self.proxy)

    def _in_dialog(self, call: Call, method: str, cseq: int) -> tuple[SipMsg, Addr]:
        headers = [("via", self._via("z9hG4bK" + new_token())), ("max-forwards", "70")]
        headers += [("route", f"<{r}>") for r in call.route_set]
        headers += [
            ("from", f"<{call.local_uri}>;tag={call.local_tag}"),
            ("to", f"<{call.remote_uri}>;tag={call.remote_tag}"),
            ("call-id", call.call_id),
            ("cseq", f"{cseq} {method}"),
        ]
        if call.route_set and ";lr" in call.route_set[0]:
            dest = host_port(call.route_set[0])
        else:
            dest = host_port(call.remote_target)
        return SipMsg(f"{method} {call.remote_target} SIP/2.0", headers), dest

    def _send_ack(self, call: Call, cseq: int) -> None:
        ack, dest = self._in_dialog(call, "ACK", cseq)
        self._send(ack.serialize(), dest)

    async def hangup(self, call: Call) -> int:
        call.local_cseq += 1
        bye, dest = self._in_dialog(call, "BYE", call.local_cseq)
        call.timeline["bye"] = time.monotonic()
        reply = await self._transact(bye, dest)
        call.ended_by = "local"
        call.ended.set()
        await call.rtp.close()
        return reply.status

    # ------------------------------------------------------------------------------ answering

    def _on_request(self, msg: SipMsg, addr: Addr) -> None:
        # replies go to the top Via's sent-by, or the source when it asked for rport
        via = msg.get("via")
        dest = (
            addr
            if ";rport" in via or ";received" in via
            else host_port("sip:" + via.split()[1].split(";")[0])
        )
        call = self.calls.get(msg.get("call-id"))
        method = msg.method
        if method == "INVITE" and not tag_of(msg.get("to")):
            if call is None:
                self._spawn(self._answer(msg, dest))
            elif call.ok_reply:
                self._send(call.ok_reply, dest)  # retransmitted INVITE: repeat our 2xx
            return
        if method == "ACK":
            if call is not None:
                call.confirmed.set()
            return
        if method == "BYE" and call is not None:
            self._send(reply_to(msg, 200, "OK", "").serialize(), dest)
            call.ended_by = "remote"
            call.timeline["bye"] = time.monotonic()
            call.ended.set()
            self._spawn(call.rtp.close())
            return
        status, reason = (200, "OK") if method == "OPTIONS" else (481, "Call/Transaction Does Not Exist")
        self._send(reply_to(msg, status, reason, new_token()).serialize(), dest)

    async def _answer(self, invite: SipMsg, dest: Addr) -> None:
        rtp = RtpStream(self.host)
        await rtp.open()
        call = Call(
            invite.get("call-id"),
            new_token(),
            uri_of(invite.get("to")),
            uri_of(invite.get("from")),
            outgoing=False,
            rtp=rtp,
            remote_tag=tag_of(invite.get("from")),
            remote_target=uri_of(invite.get("contact")),
            route_set=[uri_of(rr) for rr in invite.get_all("record-route")],
            invite=invite,
        )
        call.local_cseq = 0
        call.remote_media = sdp_media(invite.body)
        call.timeline["invite"] = time.monotonic()
        self.calls[call.call_id] = call
        self._send(reply_to(invite, 180, "Ringing", call.local_tag).serialize(), dest)
        extra = [("record-route", rr) for rr in invite.get_all("record-route")]
        extra += [("contact", self.contact), ("content-type", "application/sdp")]
        ok = reply_to(invite, 200, "OK", call.local_tag, extra, self._sdp(call))
        call.ok_reply, call.ok_dest = ok.serialize(), dest
        call.timeline["answered"] = time.monotonic()
        call.answered.set()
        rtp.start_sending(call.remote_media)
        self.incoming.put_nowait(call)
        interval = T1
        deadline = time.monotonic() + 64 * T1
        while not call.confirmed.is_set() and not call.ended.is_set() and time.monotonic() < deadline:
            self._send(call.ok_reply, dest)
            try:
                await asyncio.wait_for(call.confirmed.wait(), interval)
            except TimeoutError:
                interval = min(interval * 2, T2)
