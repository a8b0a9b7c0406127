"""Sends held while a batch of messages is handled (UdpListener.hold/release, Channel.on_batch_end).

A single process holds what a batch of datagrams it read sends; a worker holds what the batch its
channel handed over sends. Each peer is then woken once per batch instead of once per datagram.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from pysips.core.api import Destination, Socket
from pysips.core.ipc import Channel
from pysips.sip.receive import ReceiveInfo
from pysips.transport.udp import UdpListener, open_udp_socket


def _pending(sock: socket.socket) -> list[bytes]:
    got: list[bytes] = []
    while True:
        try:
            got.append(sock.recv(2000, socket.MSG_DONTWAIT))
        except BlockingIOError:
            return got


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def _listener(loop: asyncio.AbstractEventLoop,
              on_receive: list[tuple[bytes, ReceiveInfo]] | None = None) -> UdpListener:
    os_sock = open_udp_socket("127.0.0.1", 0)
    port = os_sock.getsockname()[1]

    def receive(data: bytes, rcv: ReceiveInfo) -> None:
        if on_receive is not None:
            on_receive.append((data, rcv))

    return UdpListener(Socket("udp", "127.0.0.1", port), receive, loop, os_sock)


def test_held_sends_leave_in_order_at_release(loop: asyncio.AbstractEventLoop,
                                              peer: socket.socket) -> None:
    udp = _listener(loop)
    dst = Destination("udp", "127.0.0.1", peer.getsockname()[1])
    udp.hold()
    assert udp.send(b"one", dst) and udp.send(b"two", dst)
    assert _pending(peer) == []
    udp.release()
    assert _pending(peer) == [b"one", b"two"]
    assert udp.send(b"three", dst)  # released: direct again
    assert _pending(peer) == [b"three"]
    udp.close()


def test_a_read_batch_inside_a_held_batch_leaves_the_release_to_its_holder(
        loop: asyncio.AbstractEventLoop, peer: socket.socket) -> None:
    dst = Destination("udp", "127.0.0.1", peer.getsockname()[1])
    holder: list[UdpListener] = []

    def receive(data: bytes, rcv: ReceiveInfo) -> None:
        holder[0].send(b"answer to " + data, dst)

    os_sock = open_udp_socket("127.0.0.1", 0)
    udp = UdpListener(Socket("udp", "127.0.0.1", os_sock.getsockname()[1]), receive, loop, os_sock)
    holder.append(udp)
    peer.sendto(b"a", os_sock.getsockname())
    udp.hold()
    udp._on_readable()
    assert _pending(peer) == []  # the outer hold is still on
    udp.release()
    assert _pending(peer) == [b"answer to a"]
    peer.sendto(b"b", os_sock.getsockname())
    udp._on_readable()  # no hold around it: the read batch releases its own sends
    assert _pending(peer) == [b"answer to b"]
    udp.close()


def test_channel_batch_end_follows_every_batch_even_a_failing_one(
        loop: asyncio.AbstractEventLoop) -> None:
    ours, theirs = socket.socketpair()
    events: list[object] = []

    def on_message(obj: object) -> None:
        events.append(obj)
        if obj == "bad":
            raise ValueError("a broken message")

    receiver = Channel(theirs, loop, on_message)
    receiver.on_batch_end = lambda: events.append("end")
    sender = Channel(ours, loop, lambda obj: None)
    for obj in ("m1", "bad", "m2"):
        sender.send(obj)

    async def turn() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    loop.run_until_complete(turn())
    assert events == ["m1", "bad", "m2", "end"]
    sender.close()
    receiver.close()
