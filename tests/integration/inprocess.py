"""Run a routing script in this process on real 127.0.0.1 sockets, and small UDP peers for it.

For tests that need to reach into the running server (a module's service, its runtime) while
real SIP traffic flows: `async with running_script(text, tmp_path) as engine: ...` starts
`pysips.core.server.serve_script` on the test's event loop and stops it (modules' destroy
included) on exit. `UdpPeer` is a UDP endpoint that records what it receives and answers with
what the test's `answer(message) -> list[bytes]` returns; `ReplyCollector` a UAC's socket that
keeps the replies, for requests built with `out_of_dialog`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from pysips.core.engine import Engine
from pysips.core.server import ServeOptions, serve_script
from pysips.sip.message import SipMessage, parse_message

LOCALHOST = "127.0.0.1"


@contextlib.asynccontextmanager
async def running_script(text: str, folder: Path, mpath: str | None = None) -> AsyncIterator[Engine]:
    cfg = folder / "inprocess.cfg"
    cfg.write_text(text)
    ready: asyncio.Future[Engine] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    options = ServeOptions(mpath=mpath, on_ready=ready.set_result)
    task = asyncio.create_task(serve_script(cfg, options, stop))
    done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        task.cancel()
        raise AssertionError(f"the script did not start: {task.result() if task.done() else 'timeout'}")
    try:
        yield ready.result()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def reply_to(request: SipMessage, code: int, reason: str, to_tag: str = "uas1") -> bytes:
    """A reply of a UAS: the request's Vias, From, Call-ID and CSeq; To with our tag."""
    lines = [f"SIP/2.0 {code} {reason}"]
    lines += [f"Via: {value}" for value in request.headers("via")]
    to = request.header("to") or ""
    lines += [f"From: {request.header('from')}", f"To: {to if ';tag=' in to else to + ';tag=' + to_tag}",
              f"Call-ID: {request.header('call-id')}", f"CSeq: {request.header('cseq')}",
              "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


class UdpPeer(asyncio.DatagramProtocol):
    def __init__(self, answer: Callable[[SipMessage], list[bytes]]) -> None:
        self.answer = answer
        self.received: list[SipMessage] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = parse_message(data)
        if not isinstance(msg, SipMessage):
            return
        self.received.append(msg)
        assert self.transport is not None
        for out in self.answer(msg):
            self.transport.sendto(out, addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def udp_peer(answer: Callable[[SipMessage], list[bytes]]) -> UdpPeer:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(lambda: UdpPeer(answer), local_addr=(LOCALHOST, 0))
    return protocol


class ReplyCollector(asyncio.DatagramProtocol):
    """A UAC's UDP socket: every SIP message it receives, with when it came (time.monotonic)."""

    def __init__(self) -> None:
        self.replies: list[tuple[float, SipMessage]] = []
        self.arrived = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = parse_message(data)
        if isinstance(msg, SipMessage):
            self.replies.append((time.monotonic(), msg))
            self.arrived.set()

    async def wait(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` messages came (TimeoutError after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while len(self.replies) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), max(0.01, deadline - time.monotonic()))

    async def take(self, count: int, timeout: float = 10.0) -> list[SipMessage]:
        """The first `count` messages once they came; all kept so far are forgotten."""
        await self.wait(count, timeout)
        found = [msg for _, msg in self.replies]
        self.replies.clear()
        return found


def out_of_dialog(method: str, port: int, local: int, user: str, headers: str = "") -> bytes:
    """A request from alice at our port `local` to `user` at the server on `port`; `headers`
    (lines ending in CRLF) go before Content-Length."""
    tag = uuid.uuid4().hex[:10]
    return (f"{method} sip:{user}@{LOCALHOST}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCALHOST}:{local};branch=z9hG4bK{tag}\r\n"
            f"From: <sip:alice@{LOCALHOST}>;tag={tag}\r\nTo: <sip:{user}@{LOCALHOST}>\r\n"
            f"Call-ID: {tag}\r\nCSeq: 1 {method}\r\n{headers}Content-Length: 0\r\n\r\n").encode()
