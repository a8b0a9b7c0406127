"""The asyncio shell of UDP listeners: datagrams in to the engine, datagrams out of our sockets.

One listener per socket (IPv4 or IPv6), read and written from loop callbacks. The OS socket is
made here so its receive buffer can be raised for bursts and SO_REUSEPORT set when several
workers will share a port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket as pysocket
import time
from collections import deque
from collections.abc import Callable

from pysips.core.api import Destination, Socket, TimerHandle
from pysips.sip.receive import ReceiveInfo
from pysips.transport.duplicates import DuplicateFilter

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


# Datagrams read per readiness callback. asyncio's datagram transport reads one per event-loop
# turn, and a turn (epoll, handle scheduling) costs as much as a small message's processing;
# draining a batch halves that overhead under load and still lets timers run between batches.
READ_BATCH = 64
MAX_DATAGRAM = 65535
# how long a routability answer for a destination address is trusted, and how many are kept
ROUTE_CACHE_S = 30.0
ROUTE_CACHE_SIZE = 4096
DROPPED_LOG_INTERVAL_S = 10.0  # how often dropped retransmissions are reported while behind


class UdpListener:
    """Hands every datagram of one socket to the engine; sends from that socket.

    Reads and writes the non-blocking OS socket directly from loop callbacks (add_reader): no
    asyncio transport in between. A send the kernel refuses for lack of buffer space is queued
    and flushed when the socket is writable again.
    """

    __slots__ = ("_batch", "_behind", "_closed", "_duplicates", "_fd", "_local", "_logged_drops", "_loop",
                 "_next_drop_log", "_os_sock", "_pending", "_receive", "_routes", "sock")

    def __init__(self, sock: Socket, receive: Receiver, loop: asyncio.AbstractEventLoop,
                 os_sock: pysocket.socket) -> None:
        self.sock = sock
        self._receive = receive
        self._loop = loop
        self._os_sock = os_sock
        self._fd = os_sock.fileno()
        self._local = (sock.ip, sock.port)
        self._pending: deque[tuple[bytes, tuple[str, int]]] = deque()
        self._closed = False
        # While a batch of datagrams is handled, what it sends is held and written at the end:
        # the first datagram wakes the peer, the rest then find it awake, which costs the kernel
        # (and a virtual machine's CPUs) far less than one wake-up per datagram.
        self._batch: list[tuple[bytes, tuple[str, int]]] | None = None
        # destination ip -> (routable, when we asked): see _routable()
        self._routes: dict[str, tuple[bool, float]] = {}
        # retransmissions dropped unread while behind (pysips.transport.duplicates): behind
        # means the last read batch was full, more was waiting than one batch reads
        self._duplicates = DuplicateFilter()
        self._behind = False
        self._logged_drops = 0
        self._next_drop_log = 0.0

    def start(self) -> None:
        self._loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        recvfrom = self._os_sock.recvfrom
        receive = self._receive
        ip, port = self._local
        held = self._batch is not None  # an outer hold() keeps them: its release() sends them
        if not held:
            self._batch = []
        duplicates = self._duplicates
        behind = self._behind
        now = time.monotonic()
        emptied = False  # the socket had nothing more: this batch did not stop at its size
        try:
            for _ in range(READ_BATCH):
                try:
                    data, addr = recvfrom(MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    emptied = True
                    break
                except OSError as exc:
                    # ICMP port unreachable from an earlier send shows up here: not our fault
                    log.debug("%s: %s", self.sock.name, exc)
                    continue
                if duplicates.drop(data, now, behind):
                    continue
                receive(data, ReceiveInfo("udp", ip, port, addr[0], addr[1]))
                if self._closed:
                    return
        finally:
            if not held:
                self.release()
        self._behind = not emptied
        if duplicates.dropped != self._logged_drops and now >= self._next_drop_log:
            log.warning("%s is behind: %d retransmissions dropped unread since the last report",
                        self.sock.name, duplicates.dropped - self._logged_drops)
            self._logged_drops = duplicates.dropped
            self._next_drop_log = now + DROPPED_LOG_INTERVAL_S

    def hold(self) -> None:
        """Hold what is sent from now on until `release()`: a batch of messages being handled
        (read here, or handed over by a worker's channel) then wakes each peer once."""
        if self._batch is None:
            self._batch = []

    def release(self) -> None:
        """Send what `hold()` kept, in order, and send directly again."""
        batch = self._batch
        self._batch = None
        if batch:
            for data, addr in batch:
                self._send_now(data, addr)

    def send(self, data: bytes, dst: Destination) -> bool:
        if self._closed:
            return False
        batch = self._batch
        if batch is not None:
            # held until the batch ends, but a destination the kernel cannot route to fails now,
            # as OpenSIPS's immediate sendto() does (tm then answers 477 at once)
            if not self._routable(dst.ip):
                log.error("sending to %s:%d from %s failed: no route", dst.ip, dst.port, self.sock.name)
                return False
            batch.append((data, (dst.ip, dst.port)))
            return True
        return self._send_now(data, (dst.ip, dst.port))

    def _routable(self, ip: str) -> bool:
        """Whether a datagram from our address can go to `ip` (a connect() on a scratch socket
        asks the kernel's routing table); answers are kept ROUTE_CACHE_S seconds."""
        now = time.monotonic()
        known = self._routes.get(ip)
        if known is not None and now - known[1] < ROUTE_CACHE_S:
            return known[0]
        probe = pysocket.socket(self._os_sock.family, pysocket.SOCK_DGRAM)
        try:
            probe.bind((self.sock.ip, 0))
            probe.connect((ip, 9))
            ok = True
        except OSError:
            ok = False
        finally:
            probe.close()
        if len(self._routes) >= ROUTE_CACHE_SIZE:
            self._routes.clear()
        self._routes[ip] = (ok, now)
        return ok

    def _send_now(self, data: bytes, addr: tuple[str, int]) -> bool:
        if self._closed:
            return False
        if self._pending:
            self._pending.append((data, addr))
            return True
        try:
            self._os_sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self._pending.append((data, addr))
            self._loop.add_writer(self._fd, self._flush)
        except OSError as exc:
            log.error("sending to %s:%d from %s failed: %s", addr[0], addr[1], self.sock.name, exc)
            return False
        return True

    def _flush(self) -> None:
        pending = self._pending
        while pending:
            data, addr = pending[0]
            try:
                self._os_sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.error("sending to %s:%d from %s failed: %s", addr[0], addr[1], self.sock.name, exc)
            pending.popleft()
        self._loop.remove_writer(self._fd)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        if self._pending:
            self._loop.remove_writer(self._fd)
            self._pending.clear()
        self._os_sock.close()


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
    listener = UdpListener(sock, receive, loop, os_sock)
    listener.start()
    return listener
