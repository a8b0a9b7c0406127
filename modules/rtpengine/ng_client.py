"""The NG control protocol on the wire: `<cookie> <bencoded dictionary>` over UDP.

Each request starts with a cookie unique to this process; the daemon echoes it in front of its
reply, which is how a reply is matched to its request (and a late reply to an earlier, timed-out
request is ignored). Framing is sans-I/O (`frame_request`, `parse_reply`); `NgTransport` is the
asyncio exchange: up to `timeout` seconds per attempt, `retries` attempts per daemon, during which
only the message waiting on the reply is suspended (OpenSIPS's worker blocks in poll() instead).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from dataclasses import dataclass
from typing import Any, cast

from .bencode import BencodeError, BValue, decode, encode

log = logging.getLogger("pysips.modules.rtpengine")

MAX_DATAGRAM = 65535


class CookieJar:
    """Cookies `<pid>_<random>_<sequence>`: unique per process and per request."""

    __slots__ = ("prefix", "seq")

    def __init__(self) -> None:
        self.prefix = f"{os.getpid()}_{random.randrange(1 << 31)}_"
        self.seq = 0

    def next(self) -> bytes:
        self.seq += 1
        return f"{self.prefix}{self.seq}".encode()


def frame_request(cookie: bytes, command: dict[str, BValue]) -> bytes:
    return cookie + b" " + encode(command)


def parse_reply(cookie: bytes, data: bytes) -> dict[str, BValue] | None:
    """The reply dictionary, or None when `data` answers another cookie. BencodeError when the
    reply is ours but malformed."""
    if not data.startswith(cookie + b" "):
        return None
    value = decode(data[len(cookie) + 1 :])
    if not isinstance(value, dict):
        raise BencodeError("reply is not a dictionary")
    return value


@dataclass(slots=True)
class Endpoint:
    """A daemon's control address, resolved once when the module loads."""

    family: int
    address: tuple[str, int] | tuple[str, int, int, int]


class _NgProtocol(asyncio.DatagramProtocol):
    """One connected UDP socket to one daemon: replies go to the request waiting on their cookie."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[bytes, asyncio.Future[bytes | None]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        cookie, sep, _ = data.partition(b" ")
        future = self.waiting.get(cookie) if sep else None
        if future is None or future.done():
            return  # a late reply to a request that timed out, or someone else's
        future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable on the connected socket: no daemon there, every attempt now fails
        log.error("can't read reply from a RTP proxy (%d:%s)", getattr(exc, "errno", 0) or 0,
                  getattr(exc, "strerror", str(exc)))
        for future in self.waiting.values():
            if not future.done():
                future.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for future in self.waiting.values():
            if not future.done():
                future.set_result(None)


class NgTransport:
    """Asynchronous request/reply exchange, one connected UDP socket per daemon and event loop.

    `exchange` is a coroutine: the script functions run it through pysips.core.suspend.wait, so a
    silent daemon suspends only the message waiting on it (`timeout` seconds per attempt,
    `retries` attempts), never the worker."""

    __slots__ = ("_conns", "cookies", "retries", "timeout")

    def __init__(self, timeout: float, retries: int) -> None:
        self.timeout = timeout
        self.retries = max(1, retries)
        self.cookies = CookieJar()
        self._conns: dict[int, tuple[asyncio.AbstractEventLoop, _NgProtocol]] = {}

    def close(self) -> None:
        for _, proto in self._conns.values():
            if proto.transport is not None:
                proto.transport.close()
        self._conns.clear()

    async def _connection(self, key: int, endpoint: Endpoint) -> _NgProtocol:
        loop = asyncio.get_running_loop()
        known = self._conns.get(key)
        if known is not None and known[0] is loop and known[1].transport is not None:
            return known[1]
        if known is not None and known[1].transport is not None:
            known[1].transport.close()  # made on another event loop (tests without a server)
        _, proto = await loop.create_datagram_endpoint(
            _NgProtocol, remote_addr=endpoint.address, family=endpoint.family
        )
        self._conns[key] = (loop, proto)
        return proto

    def _drop(self, key: int) -> None:
        known = self._conns.pop(key, None)
        if known is not None and known[1].transport is not None:
            known[1].transport.close()

    async def exchange(
        self, key: int, endpoint: Endpoint, command: dict[str, BValue], retries: int | None = None
    ) -> dict[str, BValue] | None:
        """The daemon's reply; None when it does not answer (logged). BencodeError for a reply
        that cannot be decoded. Every attempt resends the same cookie, so a late reply to an
        earlier attempt is taken as well."""
        cookie = self.cookies.next()
        payload = frame_request(cookie, command)
        attempts = self.retries if retries is None else max(1, retries)
        loop = asyncio.get_running_loop()
        for _ in range(attempts):
            try:
                proto = await self._connection(key, endpoint)
                assert proto.transport is not None
                proto.transport.sendto(payload)
            except OSError as exc:
                log.error("can't send command to a RTP proxy (%d:%s)", exc.errno or 0, exc.strerror)
                self._drop(key)
                continue
            future: asyncio.Future[bytes | None] = loop.create_future()
            proto.waiting[cookie] = future
            timer = loop.call_later(self.timeout, _expire, future)
            try:
                data = await future
            finally:
                timer.cancel()
                proto.waiting.pop(cookie, None)
            if data is not None:
                reply = parse_reply(cookie, data)
                if reply is not None:
                    return reply
        log.error("timeout waiting reply from a RTP proxy")
        return None


def _expire(future: asyncio.Future[bytes | None]) -> None:
    if not future.done():
        future.set_result(None)


def resolve_endpoint(host: str, port: int, want_v6: bool) -> Endpoint:
    """Blocking: for module init, before the event loop serves messages. Raises OSError when the
    name does not resolve."""
    family = socket.AF_INET6 if want_v6 else socket.AF_UNSPEC
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)
    fam, _, _, _, addr = infos[0]
    return Endpoint(int(fam), addr)  # type: ignore[arg-type]


async def resolve_endpoint_async(host: str, port: int, want_v6: bool) -> Endpoint:
    """The same through the event loop's resolver (a thread), for daemons that did not resolve
    at init."""
    family = socket.AF_INET6 if want_v6 else socket.AF_UNSPEC
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)
    fam, _, _, _, addr = infos[0]
    return Endpoint(int(fam), addr)  # type: ignore[arg-type]
