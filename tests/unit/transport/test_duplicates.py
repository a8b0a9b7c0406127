"""Retransmissions dropped unread while a UDP listener is behind (pysips.transport.duplicates)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from pysips.core.api import Socket
from pysips.sip.receive import ReceiveInfo
from pysips.transport.duplicates import DuplicateFilter
from pysips.transport.udp import READ_BATCH, UdpListener, open_udp_socket

INVITE = b"INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\r\n"
OTHER = INVITE.replace(b"z9hG4bK1", b"z9hG4bK2")


def test_nothing_is_dropped_while_the_server_keeps_up() -> None:
    dups = DuplicateFilter(window=2.0)
    assert not dups.drop(INVITE, 0.0, behind=False)
    assert not dups.drop(INVITE, 0.5, behind=False)  # a retransmission: tm absorbs it
    assert dups.dropped == 0


def test_behind_a_copy_of_a_datagram_read_lately_is_dropped() -> None:
    dups = DuplicateFilter(window=2.0)
    assert not dups.drop(INVITE, 0.0, behind=False)  # the original, read before falling behind
    assert dups.drop(INVITE, 0.5, behind=True)
    assert not dups.drop(OTHER, 0.5, behind=True)  # other bytes: another message
    assert dups.drop(OTHER, 0.6, behind=True)
    assert dups.dropped == 2


def test_a_copy_older_than_the_window_is_read_again() -> None:
    """A copy sent because the answer was really lost is handled, one to two windows later."""
    dups = DuplicateFilter(window=2.0)
    assert not dups.drop(INVITE, 0.0, behind=True)
    assert dups.drop(INVITE, 1.9, behind=True)  # same window
    assert dups.drop(INVITE, 2.5, behind=True)  # the window before is still remembered
    assert not dups.drop(INVITE, 4.6, behind=True)  # read at 0.0, two whole windows ago
    dups2 = DuplicateFilter(window=2.0)
    dups2.drop(INVITE, 0.0, behind=True)
    assert not dups2.drop(INVITE, 9.0, behind=True)  # a long silence forgets everything


@pytest.fixture
def listener() -> Iterator[tuple[UdpListener, list[bytes], socket.socket]]:
    loop = asyncio.new_event_loop()
    os_sock = open_udp_socket("127.0.0.1", 0)
    port = os_sock.getsockname()[1]
    received: list[bytes] = []

    def receive(data: bytes, rcv: ReceiveInfo) -> None:
        received.append(data)

    udp = UdpListener(Socket("udp", "127.0.0.1", port), receive, loop, os_sock)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.connect(("127.0.0.1", port))
    yield udp, received, sender
    sender.close()
    udp.close()
    os_sock.close()
    loop.close()


def _queue(sender: socket.socket, datagrams: list[bytes]) -> None:
    for data in datagrams:
        sender.send(data)


def test_listener_drops_copies_only_after_a_full_batch(
        listener: tuple[UdpListener, list[bytes], socket.socket]) -> None:
    udp, received, sender = listener
    distinct = [INVITE.replace(b"z9hG4bK1", b"z9hG4bKx%d" % i) for i in range(READ_BATCH)]
    copies = distinct[:5]
    _queue(sender, distinct + copies + [OTHER])
    udp._on_readable()  # one full batch: the listener now knows it is behind
    assert received == distinct
    udp._on_readable()  # the copies of what it read are dropped; new bytes are not
    assert received == [*distinct, OTHER]


def test_listener_that_keeps_up_hands_every_copy_to_the_engine(
        listener: tuple[UdpListener, list[bytes], socket.socket]) -> None:
    udp, received, sender = listener
    _queue(sender, [INVITE, INVITE])
    udp._on_readable()
    _queue(sender, [INVITE])
    udp._on_readable()
    assert received == [INVITE, INVITE, INVITE]
