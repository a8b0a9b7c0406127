"""The asyncio shell of UDP listeners: datagrams in to the engine, datagrams out of our sockets.

One DatagramProtocol per listener (IPv4 or IPv6). The OS socket is made here so its receive
buffer can be raised for bursts and SO_REUSEPORT set when several workers will share a port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket as pysocket
from collections.abc import Callable
from typing import cast

from pysips.core.api import Destination, Socket, TimerHandle
from pysips.sip.receive import ReceiveInfo

log = logging.getLogger("pysips.transport.udp")

RCVBUF_BYTES = 8 * 1024 * 1024
SNDBUF_BYTES = 4 * 1024 * 1024

Receiver = Callable[[bytes, ReceiveInfo], None]


class AsyncioClock:
    """The engine's clock: monotonic loop time and loop timers."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        return self._loop.call_at(when, callback)


class UdpListener(asyncio.DatagramProtocol):
    """Hands every datagram of one socket to the engine; sends from that socket."""

    def __init__(self, sock: Socket, receive: Receiver) -> None:
        self.sock = sock
        self._receive = receive
        self._transport: asyncio.DatagramTransport | None = None
        self._local = (sock.ip, sock.port)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # the selector loop's datagram transport does not subclass DatagramTransport
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        ip, port = self._local
        self._receive(data, ReceiveInfo("udp", ip, port, str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from an earlier send shows up here: not our socket's fault
        log.debug("%s: %s", self.sock.name, exc)

    def send(self, data: bytes, dst: Destination) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        try:
            transport.sendto(data, (dst.ip, dst.port))
        except OSError as exc:
            log.error("sending to %s:%d from %s failed: %s", dst.ip, dst.port, self.sock.name, exc)
            return False
        return True

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def open_udp_socket(ip: str, port: int, reuse_port: bool = False) -> pysocket.socket:
    """A bound, non-blocking UDP socket with large buffers. Raises OSError when it cannot bind."""
    family = pysocket.AF_INET6 if ":" in ip else pysocket.AF_INET
    sock = pysocket.socket(family, pysocket.SOCK_DGRAM)
    try:
        if family == pysocket.AF_INET6:
            sock.setsockopt(pysocket.IPPROTO_IPV6, pysocket.IPV6_V6ONLY, 1)
        if reuse_port and hasattr(pysocket, "SO_REUSEPORT"):
            sock.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEPORT, 1)
        for option, size in ((pysocket.SO_RCVBUF, RCVBUF_BYTES), (pysocket.SO_SNDBUF, SNDBUF_BYTES)):
            # the kernel caps the size (net.core.rmem_max); the default still works
            with contextlib.suppress(OSError):
                sock.setsockopt(pysocket.SOL_SOCKET, option, size)
        sock.bind((ip, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def start_udp_listener(
    loop: asyncio.AbstractEventLoop, sock: Socket, receive: Receiver, reuse_port: bool = False
) -> UdpListener:
    os_sock = open_udp_socket(sock.ip, sock.port, reuse_port)
    listener = UdpListener(sock, receive)
    await loop.create_datagram_endpoint(lambda: listener, sock=os_sock)
    return listener
