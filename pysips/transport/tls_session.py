"""Sans-I/O TLS for one connection: Python's ssl.SSLObject over two memory BIOs.

Why not asyncio's own SSL transport: it gives every connection a 256 KiB read buffer, written
once at creation, so an idle TLS connection costs ~300 KiB of resident memory; here it costs what
OpenSSL keeps (tens of KiB). Ciphertext from the network goes in (`receive`), plaintext and
ciphertext to send come out; nothing here touches a socket.
"""

from __future__ import annotations

import contextlib
import ssl

READ_CHUNK = 16384  # one TLS record at most


class TlsFailed(Exception):
    """The handshake or the record layer failed; the connection must be closed."""


class TlsSession:
    __slots__ = ("_hdr", "_in", "_obj", "_out", "_rec_left", "closed", "handshaken")

    def __init__(self, context: ssl.SSLContext, server_side: bool,
                 server_hostname: str | None = None) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=server_side,
                                     server_hostname=server_hostname or None)
        self.handshaken = False
        self.closed = False  # the peer sent close_notify
        # TLS record boundaries of what the peer sent (RFC 8446 5.1: 5-byte header, 2-byte length),
        # so that a record arriving a byte at a time counts as a message in progress
        self._hdr = bytearray()
        self._rec_left = 0

    @property
    def in_record(self) -> bool:
        """The peer has started a TLS record it has not finished."""
        return bool(self._hdr) or self._rec_left > 0

    def _follow_records(self, data: bytes) -> None:
        at, end = 0, len(data)
        while at < end:
            if self._rec_left:
                take = min(self._rec_left, end - at)
                self._rec_left -= take
                at += take
                continue
            part = data[at : at + 5 - len(self._hdr)]
            self._hdr += part
            at += len(part)
            if len(self._hdr) == 5:
                self._rec_left = int.from_bytes(self._hdr[3:5], "big")
                self._hdr.clear()

    @property
    def ssl_object(self) -> ssl.SSLObject:
        return self._obj

    def start(self) -> bytes:
        """For a client: the ClientHello to send. Harmless for a server (returns b"")."""
        self._handshake()
        return self._out.read()

    def _handshake(self) -> bool:
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise TlsFailed(str(exc)) from exc
        self.handshaken = True
        return True

    def receive(self, data: bytes) -> tuple[bytes, bytes, bool]:
        """Feed ciphertext. Returns (plaintext, bytes to send, handshake completed just now).
        Raises TlsFailed when the peer speaks no TLS or the handshake fails."""
        self._follow_records(data)
        self._in.write(data)
        just_done = False
        if not self.handshaken:
            just_done = self._handshake()
            if not just_done:
                return b"", self._out.read(), False
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._obj.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.closed = True
                break
            except ssl.SSLError as exc:
                raise TlsFailed(str(exc)) from exc
            if not chunk:
                self.closed = True
                break
            chunks.append(chunk)
        return b"".join(chunks), self._out.read(), just_done

    def encrypt(self, plaintext: bytes) -> bytes:
        try:
            self._obj.write(plaintext)
        except ssl.SSLError as exc:
            raise TlsFailed(str(exc)) from exc
        return self._out.read()

    def close_notify(self) -> bytes:
        """Our close_notify alert, when the session is up (best effort)."""
        if not self.handshaken:
            return b""
        with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLError):
            self._obj.unwrap()
        return self._out.read()
