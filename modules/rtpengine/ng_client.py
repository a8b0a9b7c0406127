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

from .bencode import BencodeError, BValue, decode, decode_flat, encode

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


def parse_reply(cookie: bytes, data: bytes, flat: bool = False) -> dict[str, BValue] | None:
    """The reply dictionary, or None when `data` answers another cookie. BencodeError when the
    reply is ours but malformed. `flat`: values that are lists or dictionaries are checked but
    left out (bencode.decode_flat)."""
    if not data.startswith(cookie + b" "):
        return None
    body = data[len(cookie) + 1 :]
    if flat:
        return decode_flat(body)
    value = decode(body)
    if not isinstance(value, dict):
        raise BencodeError("reply is not a dictionary")
    return value


@dataclass(slots=True)
class Endpoint:
    """A daemon's control address, resolved once when the module loads."""

    family: int
    address: tuple[str, int] | tuple[str, int, int, int]


class _NgSocket:
    """One connected UDP socket to one daemon, read by the event loop: each reply goes to the
    request waiting on its cookie. Made synchronously, so requests arriving together share it."""

    __slots__ = ("loop", "sock", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, endpoint: Endpoint) -> None:
        self.loop = loop
        self.waiting: dict[bytes, asyncio.Future[bytes | None]] = {}
        self.sock = socket.socket(endpoint.family, socket.SOCK_DGRAM)
        try:
            self.sock.setblocking(False)
            self.sock.connect(endpoint.address)
            loop.add_reader(self.sock.fileno(), self._readable)
        except BaseException:
            self.sock.close()
            raise

    def _readable(self) -> None:
        for _ in range(64):
            try:
                data = self.sock.recv(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError as exc:
                # ICMP port unreachable on the connected socket: no daemon there, the requests
                # waiting now fail at once (their next attempt is sent again)
                log.error("can't read reply from a RTP proxy (%d:%s)", exc.errno or 0, exc.strerror)
                self._fail_all()
                return
            cookie, sep, _ = data.partition(b" ")
            future = self.waiting.get(cookie) if sep else None
            if future is not None and not future.done():
                future.set_result(data)
            # else: a late reply to a request that timed out, or someone else's

    def _fail_all(self) -> None:
        for future in self.waiting.values():
            if not future.done():
                future.set_result(None)

    def send(self, payload: bytes) -> None:
        self.sock.send(payload)

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self._fail_all()


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
        self._conns: dict[int, _NgSocket] = {}

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def _connection(self, key: int, endpoint: Endpoint, loop: asyncio.AbstractEventLoop) -> _NgSocket:
        conn = self._conns.get(key)
        if conn is not None and conn.loop is loop:
            return conn
        if conn is not None:
            conn.close()  # made on another event loop (tests without a server)
        conn = self._conns[key] = _NgSocket(loop, endpoint)
        return conn

    def _drop(self, key: int) -> None:
        conn = self._conns.pop(key, None)
        if conn is not None:
            conn.close()

    async def exchange(
        self,
        key: int,
        endpoint: Endpoint,
        command: dict[str, BValue],
        retries: int | None = None,
        flat: bool = False,
    ) -> dict[str, BValue] | None:
        """The daemon's reply (`flat`: see parse_reply); None when it does not answer (logged).
        BencodeError for a reply that cannot be decoded. Every attempt resends the same cookie,
        so a late reply to an earlier attempt is taken as well."""
        cookie = self.cookies.next()
        payload = frame_request(cookie, command)
        attempts = self.retries if retries is None else max(1, retries)
        loop = asyncio.get_running_loop()
        for _ in range(attempts):
            try:
                conn = self._connection(key, endpoint, loop)
                conn.send(payload)
            except OSError as exc:
                log.error("can't send command to a RTP proxy (%d:%s)", exc.errno or 0, exc.strerror)
                self._drop(key)
                continue
            future: asyncio.Future[bytes | None] = loop.create_future()
            conn.waiting[cookie] = future
            timer = loop.call_later(self.timeout, _expire, future)
            try:
                data = await future
            finally:
                timer.cancel()
                conn.waiting.pop(cookie, None)
            if data is not None:
                reply = parse_reply(cookie, data, flat)
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
