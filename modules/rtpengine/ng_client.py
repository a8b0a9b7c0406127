"""The NG control protocol on the wire: `<cookie> <bencoded dictionary>` over UDP.

Each request starts with a cookie unique to this process; the daemon echoes it in front of its
reply, which is how a reply is matched to its request (and a late reply to an earlier, timed-out
request is ignored). Framing is sans-I/O (`frame_request`, `parse_reply`) so that an asyncio
transport can reuse it; `SyncUdpTransport` is the blocking one OpenSIPS also uses: the worker
waits up to `timeout` seconds per attempt, `retries` attempts per daemon.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import select
import socket
import time
from dataclasses import dataclass

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


class SyncUdpTransport:
    """Blocking request/reply exchange, one connected UDP socket per daemon."""

    __slots__ = ("_sockets", "cookies", "retries", "timeout")

    def __init__(self, timeout: float, retries: int) -> None:
        self.timeout = timeout
        self.retries = max(1, retries)
        self.cookies = CookieJar()
        self._sockets: dict[int, socket.socket] = {}

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def _socket(self, key: int, endpoint: Endpoint) -> socket.socket:
        sock = self._sockets.get(key)
        if sock is None:
            sock = socket.socket(endpoint.family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect(endpoint.address)
            self._sockets[key] = sock
        return sock

    def _drop(self, key: int) -> None:
        sock = self._sockets.pop(key, None)
        if sock is not None:
            sock.close()

    def exchange(
        self, key: int, endpoint: Endpoint, command: dict[str, BValue], retries: int | None = None
    ) -> dict[str, BValue] | None:
        """The daemon's reply; None when it does not answer (logged). BencodeError for a reply
        that cannot be decoded."""
        cookie = self.cookies.next()
        payload = frame_request(cookie, command)
        attempts = self.retries if retries is None else max(1, retries)
        for _ in range(attempts):
            try:
                sock = self._socket(key, endpoint)
                self._drain(sock)
                sock.send(payload)
            except OSError as exc:
                log.error("can't send command to a RTP proxy (%d:%s)", exc.errno or 0, exc.strerror)
                self._drop(key)
                continue
            reply = self._wait(key, sock, cookie)
            if reply is not None:
                return reply
        log.error("timeout waiting reply from a RTP proxy")
        return None

    def _drain(self, sock: socket.socket) -> None:
        # Late replies to earlier (timed-out) requests would otherwise sit in the buffer.
        while True:
            try:
                sock.recv(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ECONNREFUSED:
                    continue  # a stale ICMP error from an earlier attempt
                raise

    def _wait(self, key: int, sock: socket.socket, cookie: bytes) -> dict[str, BValue] | None:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        remaining_ms = int(self.timeout * 1000)
        deadline = _monotonic_ms() + remaining_ms
        while remaining_ms > 0:
            if not poller.poll(remaining_ms):
                return None
            try:
                data = sock.recv(MAX_DATAGRAM)
            except BlockingIOError:
                data = b""
            except OSError as exc:
                log.error("can't read reply from a RTP proxy (%d:%s)", exc.errno or 0, exc.strerror)
                self._drop(key)
                return None
            if data:
                reply = parse_reply(cookie, data)
                if reply is not None:
                    return reply
            remaining_ms = deadline - _monotonic_ms()
        return None


def _monotonic_ms() -> int:
    return int(time.monotonic() * 1000)


def resolve_endpoint(host: str, port: int, want_v6: bool) -> Endpoint:
    """Raises OSError when the name does not resolve."""
    family = socket.AF_INET6 if want_v6 else socket.AF_UNSPEC
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)
    fam, _, _, _, addr = infos[0]
    return Endpoint(int(fam), addr)  # type: ignore[arg-type]
