"""Messages between the main process and a worker: Python objects, pickled, length-prefixed,
over one end of a UNIX stream socketpair read from the event loop.

A `Channel` never blocks: what the kernel does not take at once is queued and written when the
socket is writable again. Reads drain everything available and hand each object to `on_message`
in order; when it returns True the rest of the batch waits for the next loop turn (what that
message scheduled runs first). End of file (the peer died or closed) calls `on_closed` once.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("pysips.core.ipc")

_HEADER = struct.Struct("!I")
_READ_SIZE = 1 << 18
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class Channel:
    __slots__ = ("_batch", "_buf", "_closed", "_fd", "_loop", "_out", "_paused", "_sock", "_writing",
                 "on_batch_end", "on_closed", "on_message")

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop,
                 on_message: Callable[[Any], bool | None],
                 on_closed: Callable[[], None] | None = None) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self._loop = loop
        self._buf = bytearray()
        self._out: deque[memoryview] = deque()
        self._writing = False
        self._closed = False
        self._paused = False
        # frames sent during one loop turn, written together at its end: the main process
        # dispatching a batch of datagrams makes one write (and one wake-up) per worker
        self._batch: list[bytes] = []
        self.on_message = on_message
        self.on_closed = on_closed
        # called after each run of on_message calls (a worker releases the sends it held)
        self.on_batch_end: Callable[[], None] | None = None
        loop.add_reader(self._fd, self._on_readable)

    @property
    def fileno(self) -> int:
        return self._fd

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, obj: Any) -> None:
        if self._closed:
            return
        payload = pickle.dumps(obj, _PROTOCOL)
        batch = self._batch
        if not batch:
            self._loop.call_soon(self._write_batch)
        batch.append(_HEADER.pack(len(payload)))
        batch.append(payload)

    def _write_batch(self) -> None:
        if self._closed or not self._batch:
            return
        frame = b"".join(self._batch)
        self._batch = []
        if self._out:
            self._out.append(memoryview(frame))
            return
        try:
            sent = self._sock.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(f"send: {exc}")
            return
        if sent < len(frame):
            self._out.append(memoryview(frame)[sent:])
            if not self._writing:
                self._writing = True
                self._loop.add_writer(self._fd, self._flush)

    def _flush(self) -> None:
        out = self._out
        while out:
            try:
                sent = self._sock.send(out[0])
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._lost(f"send: {exc}")
                return
            if sent < len(out[0]):
                out[0] = out[0][sent:]
                return
            out.popleft()
        self._writing = False
        self._loop.remove_writer(self._fd)

    def _on_readable(self) -> None:
        buf = self._buf
        while True:
            try:
                chunk = self._sock.recv(_READ_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._lost(f"recv: {exc}")
                return
            if not chunk:
                self._lost("closed by the peer")
                return
            buf += chunk
            if len(chunk) < _READ_SIZE:
                break
        if not self._paused:
            self._deliver()

    def _deliver(self) -> None:
        try:
            self._deliver_batch()
        finally:
            if self.on_batch_end is not None:
                self.on_batch_end()

    def _deliver_batch(self) -> None:
        self._paused = False
        buf = self._buf
        pos = 0
        size = len(buf)
        on_message = self.on_message
        while size - pos >= 4:
            (length,) = _HEADER.unpack_from(buf, pos)
            if size - pos - 4 < length:
                break
            obj = pickle.loads(buf[pos + 4:pos + 4 + length])
            pos += 4 + length
            try:
                pause = on_message(obj)
            except Exception:
                log.exception("error handling a message from another process")
                pause = False
            if self._closed:
                return
            if pause:
                self._paused = True
                self._loop.call_soon(self._deliver)
                break
        del buf[:pos]

    def _lost(self, reason: str) -> None:
        if self._closed:
            return
        log.debug("channel closed: %s", reason)
        self.close()
        if self.on_closed is not None:
            self.on_closed()

    def close(self) -> None:
        if self._closed:
            return
        self._write_batch()  # what this turn sent still goes, as far as the socket takes it
        self._closed = True
        self._loop.remove_reader(self._fd)
        if self._writing:
            self._loop.remove_writer(self._fd)
        self._out.clear()
        self._sock.close()


# asked over a worker's MI channel instead of a JSON-RPC request: its statistics as they are now
STATS_REQUEST = "statistics-now"


def call_blocking(sock: socket.socket, req: int, obj: Any, timeout: float) -> Any:
    """Request `req` and its answer, `(req, answer)`, over a socket used for nothing else,
    blocking up to `timeout` seconds (the main process asking a worker an MI question); None when
    none comes. Late answers to earlier requests are skipped."""
    payload = pickle.dumps((req, obj), _PROTOCOL)
    sock.settimeout(timeout)
    try:
        sock.sendall(_HEADER.pack(len(payload)) + payload)
        while True:
            (length,) = _HEADER.unpack(_recv_exactly(sock, 4))
            got, answer = pickle.loads(_recv_exactly(sock, length))
            if got == req:
                return answer
    except (OSError, EOFError) as exc:
        log.warning("no answer from a worker: %s", exc)
        return None


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise EOFError("closed")
        chunks += chunk
    return bytes(chunks)
