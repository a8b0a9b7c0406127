"""Sans-I/O framing of SIP over a byte stream (TCP, TLS): bytes in, whole messages out.

RFC 3261 18.3: on a stream every message carries Content-Length; the header block ends at the
first empty line. Between messages, RFC 5626 keepalives: CRLFCRLF is a ping (the peer wants a
CRLF back), a lone CRLF is a pong. Nothing here knows about sockets or asyncio.

Limits, as OpenSIPS enforces them on TCP: a message (headers and body) may not exceed
`max_message` bytes (OpenSIPS's TCP buffer is 65535), and may not arrive in more than
`max_chunks` reads (`tcp_max_msg_chunks`: slow-drip senders are cut off). A violation is fatal for
the connection: the caller closes it, because the stream can no longer be resynchronised.
"""

from __future__ import annotations

import re

DEFAULT_MAX_MESSAGE = 65535
DEFAULT_MAX_CHUNKS = 4

# "Content-Length" or its compact form "l", at the start of a header line, any case.
_CLEN = re.compile(rb"\n[ \t]*(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_HEAD_END = b"\r\n\r\n"


class SipFrame:
    """One complete SIP message (headers and exactly Content-Length bytes of body)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"SipFrame({self.data[:40]!r}..., {len(self.data)} bytes)"


class KeepalivePing:
    """CRLFCRLF between messages: answer with a CRLF (RFC 5626 section 4.4.1)."""

    __slots__ = ()


class KeepalivePong:
    """A lone CRLF between messages: the peer's answer to our ping, or its own keepalive."""

    __slots__ = ()


class FramingError:
    """The stream cannot be framed any further; `status` is the response the problem deserves."""

    __slots__ = ("reason", "status")

    def __init__(self, reason: str, status: int) -> None:
        self.reason = reason
        self.status = status

    def __repr__(self) -> str:
        return f"FramingError({self.status}, {self.reason!r})"


FrameEvent = SipFrame | KeepalivePing | KeepalivePong | FramingError
PING = KeepalivePing()
PONG = KeepalivePong()


def content_length_of(head: bytes) -> int | FramingError:
    """The Content-Length of a header block (start line included, final CRLFCRLF excluded)."""
    found = _CLEN.findall(head)
    if not found:
        return FramingError("missing Content-Length on a stream transport", 400)
    values = {v.strip() for v in found}
    if len(values) > 1:
        return FramingError("conflicting Content-Length headers", 400)
    text = values.pop()
    if not text.isdigit():
        return FramingError(f"bad Content-Length {text[:20]!r}", 400)
    return int(text)


class StreamFramer:
    """Accumulates stream bytes and cuts them into SIP messages and keepalives."""

    __slots__ = ("_body_len", "_buf", "_chunks", "_head_len", "_scanned", "broken", "max_chunks",
                 "max_message")

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE, max_chunks: int = DEFAULT_MAX_CHUNKS) -> None:
        self.max_message = max_message
        self.max_chunks = max_chunks  # 0: no limit
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already searched for the end of headers
        self._head_len = -1  # header block length (with CRLFCRLF) once found
        self._body_len = 0
        self._chunks = 0  # reads that fed the message being assembled
        self.broken = False

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message waiting for more data."""
        return len(self._buf)

    @property
    def in_message(self) -> bool:
        """A message has begun and is not complete (a half keepalive CRLF does not count)."""
        return bool(self._buf) and self._buf[0] not in b"\r\n"

    def feed(self, data: bytes) -> list[FrameEvent]:
        if self.broken:
            return []
        if not self._buf:
            # common case: whole messages per read, nothing buffered
            self._buf = bytearray(data)
        else:
            self._buf += data
        events: list[FrameEvent] = []
        while self._buf:
            if self._head_len < 0 and not self._skip_keepalives(events):
                break
            if not self._buf:
                break
            done = self._next_message(events)
            if done is None:
                self.broken = True
                self._buf = bytearray()
                return events
            if not done:
                break
        if self._buf:
            self._chunks += 1
            if self.max_chunks and self._chunks > self.max_chunks:
                events.append(FramingError(f"message arrived in more than {self.max_chunks} reads", 408))
                self.broken = True
                self._buf = bytearray()
        return events

    def _skip_keepalives(self, events: list[FrameEvent]) -> bool:
        """Consume CRLFs before a message. False when what is left may still be a keepalive."""
        buf = self._buf
        start = 0
        n = len(buf)
        while start < n and buf[start] in b"\r\n":
            if buf.startswith(b"\r\n\r\n", start):
                events.append(PING)
                start += 4
            elif buf.startswith(b"\r\n", start):
                if n - start < 4 and b"\r\n\r\n".startswith(bytes(buf[start:])):
                    break  # could be the first half of a ping
                events.append(PONG)
                start += 2
            elif n - start == 1 and buf[start] == 13:
                break
            else:
                start += 1  # a stray LF: noise between messages
        if start:
            del buf[:start]
            self._chunks = 0
        return bool(buf) and buf[0] not in b"\r\n"

    def _next_message(self, events: list[FrameEvent]) -> bool | None:
        """True: a message was emitted; False: need more data; None: fatal error (appended)."""
        buf = self._buf
        if self._head_len < 0:
            at = buf.find(_HEAD_END, max(0, self._scanned - 3))
            if at < 0:
                self._scanned = len(buf)
                if len(buf) > self.max_message:
                    events.append(FramingError(f"headers longer than {self.max_message} bytes", 513))
                    return None
                return False
            self._head_len = at + 4
            length = content_length_of(bytes(buf[:at]))
            if isinstance(length, FramingError):
                events.append(length)
                return None
            if self._head_len + length > self.max_message:
                events.append(FramingError(
                    f"message of {self._head_len + length} bytes exceeds {self.max_message}", 513))
                return None
            self._body_len = length
        total = self._head_len + self._body_len
        if len(buf) < total:
            return False
        events.append(SipFrame(bytes(buf[:total])))
        del buf[:total]
        self._head_len = -1
        self._body_len = 0
        self._scanned = 0
        self._chunks = 0
        return True
