"""Real media for the test phone: PCMU in 20 ms RTP packets (50 per second) out, RTP packets counted in.

The RTP socket takes an even port and the next odd one is held for RTCP, so a relay that splits
RTCP out (rtcp-mux-demux) has somewhere to send it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import struct
import time

PCMU = 0
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz


def _ulaw(sample: int) -> int:
    """G.711 mu-law encoding of one 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = 7
    for exp in range(7, -1, -1):
        if magnitude & (0x4000 >> (7 - exp)):
            exponent = exp
            break
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _ulaw_decode(byte: int) -> int:
    inverted = ~byte & 0xFF
    magnitude = (((inverted & 0x0F) << 3) + 0x84) << ((inverted & 0x70) >> 4)
    return 0x84 - magnitude if inverted & 0x80 else magnitude - 0x84


ULAW_PEAK = [abs(_ulaw_decode(b)) for b in range(256)]
AUDIBLE = 300  # peak amplitude (of 32767) above which a packet carries sound rather than silence


def tone_payloads(freq: float = 440.0) -> list[bytes]:
    """One second of a sine tone as 50 PCMU payloads (a real signal, not silence)."""
    samples = [int(8000 * math.sin(2 * math.pi * freq * n / 8000)) for n in range(8000)]
    encoded = bytes(_ulaw(s) for s in samples)
    return [encoded[i : i + SAMPLES_PER_PACKET] for i in range(0, 8000, SAMPLES_PER_PACKET)]


def bind_rtp_pair(host: str) -> tuple[socket.socket, socket.socket]:
    for _ in range(100):
        port = random.randrange(30000, 39998, 2)
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtp.bind((host, port))
            rtcp.bind((host, port + 1))
        except OSError:
            rtp.close()
            rtcp.close()
            continue
        rtp.setblocking(False)
        rtcp.setblocking(False)
        return rtp, rtcp
    raise RuntimeError("no free RTP port pair")


class RtpCounter(asyncio.DatagramProtocol):
    __slots__ = ("audible", "first_at", "received", "sources")

    def __init__(self) -> None:
        self.received = 0
        self.audible = 0
        self.sources: set[tuple[str, int]] = set()
        self.first_at = 0.0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # RTP version 2, payload type below 72 (72-76 would be RTCP sent on the RTP port)
        if len(data) >= 12 and data[0] >> 6 == 2 and not 72 <= (data[1] & 0x7F) <= 76:
            if not self.received:
                self.first_at = time.monotonic()
            self.received += 1
            self.sources.add(addr)
            if data[1] & 0x7F == PCMU and max(ULAW_PEAK[b] for b in data[12:]) > AUDIBLE:
                self.audible += 1


class RtpStream:
    """One media leg of the phone: local socket pair, remote address from the peer's SDP."""

    def __init__(self, host: str) -> None:
        self._rtp_sock, self._rtcp_sock = bind_rtp_pair(host)
        self.host = host
        self.port: int = self._rtp_sock.getsockname()[1]
        self.counter = RtpCounter()
        self.sent = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._rtcp_transport: asyncio.DatagramTransport | None = None
        self._sender: asyncio.Task[None] | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: self.counter, sock=self._rtp_sock)
        self._rtcp_transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, sock=self._rtcp_sock
        )

    def start_sending(self, remote: tuple[str, int]) -> None:
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_loop(remote))

    async def _send_loop(self, remote: tuple[str, int]) -> None:
        assert self._transport is not None
        payloads = tone_payloads()
        ssrc = random.getrandbits(32)
        seq, timestamp = random.getrandbits(16), random.getrandbits(32)
        start = time.monotonic()
        while True:
            header = struct.pack("!BBHII", 0x80, PCMU | (0x80 if self.sent == 0 else 0), seq, timestamp, ssrc)
            self._transport.sendto(header + payloads[self.sent % len(payloads)], remote)
            self.sent += 1
            seq = (seq + 1) & 0xFFFF
            timestamp = (timestamp + SAMPLES_PER_PACKET) & 0xFFFFFFFF
            # paced against the start time so the rate stays 50 pps however late a wake-up is
            await asyncio.sleep(max(0.0, start + self.sent * 0.02 - time.monotonic()))

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        for transport in (self._transport, self._rtcp_transport):
            if transport is not None:
                transport.close()
