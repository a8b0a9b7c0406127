"""The FIFO server: requests `:reply_fifo:{json}` read from a named pipe, replies written to
`reply_dir` + reply_fifo (OpenSIPS 3.x mi_fifo). An empty reply name means no reply is wanted.

Reading never blocks: the pipe is opened non-blocking with a writer of our own kept open, so the
read end does not see EOF each time a client closes. Replies are written non-blocking too: a
client that has not opened its reply pipe yet is retried for a few seconds, one that stops
reading costs only its own reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from pysips.mi.jsonrpc import encode, parse_error_response

log = logging.getLogger("pysips.mi_fifo")

MAX_BUFFER = 1 << 20
REPLY_RETRY_S = 0.01
REPLY_GIVE_UP_S = 5.0
CHECK_EVERY_S = 30.0

Dispatch = Callable[[object], "bytes | None"]  # a decoded request to the response bytes


class FifoError(Exception):
    pass


@dataclass(slots=True)
class FifoConfig:
    name: str = "/tmp/opensips_fifo"
    mode: int = 0o660
    uid: int = -1
    gid: int = -1
    reply_dir: str = "/tmp/"
    pretty: bool = False


def parse_commands(buffer: str) -> tuple[list[tuple[str | None, object]], str]:
    """Complete `:reply:{json}` commands at the start of buffer, and what is left.

    Each command is (reply file name or None, decoded request, or PARSE_FAILED)."""
    done: list[tuple[str | None, object]] = []
    text = buffer
    while True:
        text = text.lstrip()
        if not text:
            return done, ""
        if text[0] != ":":
            log.error("mi_fifo: a command must begin with ':', dropping %r", text[:60])
            return done, ""
        sep = text.find(":", 1)
        if sep < 0:
            return done, text  # the reply name is not complete yet
        reply = text[1:sep] or None
        body_start = sep + 1
        if not text[body_start:].strip():
            return done, text  # the request is still to come
        start = body_start + (len(text[body_start:]) - len(text[body_start:].lstrip()))
        end = json_value_end(text, start)
        if end < 0:
            return done, text  # incomplete: wait for more
        try:
            request = json.loads(text[start:end])
        except ValueError:
            request = PARSE_FAILED
        done.append((reply, request))
        text = text[end:]


def json_value_end(text: str, start: int) -> int:
    """Where the JSON object or array starting at `start` ends; -1 while it is incomplete.

    Only brackets outside strings are counted: a value that is complete but malformed is
    found complete here and fails to decode, so bad input is answered, never waited on."""
    if text[start] not in "{[":
        # not an object: take the rest of the line as the (invalid) request
        nl = text.find("\n", start)
        return len(text) if nl < 0 else nl
    depth = 0
    in_string = False
    escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


class _ParseFailed:
    __slots__ = ()


PARSE_FAILED = _ParseFailed()


def reply_path(config: FifoConfig, name: str) -> str | None:
    """reply_dir + name; a name with a path in it is refused (it could point anywhere)."""
    if "/" in name or name in (".", ".."):
        return None
    return os.path.join(config.reply_dir, name)


def _check_reply_fifo(fd: int, path: str) -> bool:
    """OpenSIPS's checks: a FIFO, not hard-linked, not a symlink, the inode we opened."""
    st = os.fstat(fd)
    if not stat.S_ISFIFO(st.st_mode) or st.st_nlink > 1:
        return False
    try:
        lst = os.lstat(path)
    except OSError:
        return False
    return not stat.S_ISLNK(lst.st_mode) and (lst.st_dev, lst.st_ino) == (st.st_dev, st.st_ino)


class FifoServer:
    def __init__(self, config: FifoConfig, dispatch: Dispatch) -> None:
        self.config = config
        self.dispatch = dispatch
        self.read_fd = -1
        self.keep_fd = -1
        self._inode: tuple[int, int] | None = None
        self._buffer = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._check: asyncio.TimerHandle | None = None

    # ---------------------------------------------------------------- the request pipe

    def create(self) -> None:
        path = self.config.name
        try:
            os.lstat(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise FifoError(f"mi_fifo: cannot stat {path}: {exc.strerror}") from exc
        else:
            try:
                os.unlink(path)  # a FIFO left by an earlier run (OpenSIPS deletes it too)
            except OSError as exc:
                raise FifoError(f"mi_fifo: cannot remove the old {path}: {exc.strerror}") from exc
        try:
            os.mkfifo(path, self.config.mode)
            os.chmod(path, self.config.mode)
            if self.config.uid != -1 or self.config.gid != -1:
                os.chown(path, self.config.uid, self.config.gid)
            self.read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            self.keep_fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            self._close_fds()
            raise FifoError(f"mi_fifo: cannot create the FIFO {path}: {exc.strerror}") from exc
        st = os.fstat(self.read_fd)
        self._inode = (st.st_dev, st.st_ino)

    def start(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.create()
        self._loop = loop
        if loop is None:
            log.warning("mi_fifo: no event loop running, %s is not served", self.config.name)
            return
        loop.add_reader(self.read_fd, self._readable)
        self._check = loop.call_later(CHECK_EVERY_S, self._check_file)

    def _close_fds(self) -> None:
        for fd in (self.read_fd, self.keep_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.keep_fd = -1

    def close(self, unlink: bool = True) -> None:
        if self._loop is not None and self.read_fd >= 0:
            self._loop.remove_reader(self.read_fd)
        if self._check is not None:
            self._check.cancel()
        if unlink and self._still_ours():
            with contextlib.suppress(OSError):
                os.unlink(self.config.name)
        self._close_fds()

    def _still_ours(self) -> bool:
        try:
            st = os.lstat(self.config.name)
        except OSError:
            return False
        return stat.S_ISFIFO(st.st_mode) and (st.st_dev, st.st_ino) == self._inode

    def _check_file(self) -> None:
        """Every 30 s: a FIFO someone deleted or replaced is created again."""
        if not self._still_ours():
            log.info("mi_fifo: %s is gone, creating it again", self.config.name)
            self.close(unlink=False)
            try:
                self.start(self._loop)
            except FifoError as exc:
                log.error("%s", exc)
            return
        if self._loop is not None:
            self._check = self._loop.call_later(CHECK_EVERY_S, self._check_file)

    def _readable(self) -> None:
        chunks: list[bytes] = []
        while True:
            try:
                data = os.read(self.read_fd, 65536)
            except BlockingIOError:
                break
            except OSError as exc:
                log.error("mi_fifo: reading %s failed: %s", self.config.name, exc.strerror)
                break
            if not data:
                break
            chunks.append(data)
        if chunks:
            self.feed(b"".join(chunks))

    def feed(self, data: bytes) -> None:
        self._buffer += data.decode("utf-8", errors="replace")
        commands, self._buffer = parse_commands(self._buffer)
        if len(self._buffer) > MAX_BUFFER:
            log.error("mi_fifo: a request larger than %d bytes, dropped", MAX_BUFFER)
            self._buffer = ""
        for reply, request in commands:
            if request is PARSE_FAILED:
                log.error("mi_fifo: cannot parse a command (reply to %s)", reply)
                response: bytes | None = encode(parse_error_response())
            else:
                response = self.dispatch(request)
            if reply is None:
                continue
            path = reply_path(self.config, reply)
            if path is None:
                log.error("mi_fifo: refusing reply FIFO name %r", reply)
                continue
            body = b"" if response is None else response + b"\n"
            ReplyWriter(path, body, self._loop).start()


class ReplyWriter:
    """Writes one reply to a client's reply FIFO without ever blocking the worker."""

    def __init__(self, path: str, data: bytes, loop: asyncio.AbstractEventLoop | None) -> None:
        self.path = path
        self.data = memoryview(data)
        self.loop = loop
        self.fd = -1
        self.deadline = (loop.time() if loop else 0.0) + REPLY_GIVE_UP_S

    def start(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO and self.loop is not None and self.loop.time() < self.deadline:
                # the client has not opened its end for reading yet
                self.loop.call_later(REPLY_RETRY_S, self.start)
                return
            log.warning("mi_fifo: cannot open the reply FIFO %s: %s", self.path, exc.strerror)
            return
        if not _check_reply_fifo(self.fd, self.path):
            log.error("mi_fifo: %s is not a plain FIFO, no reply written", self.path)
            self._done()
            return
        self._write()

    def _write(self) -> None:
        while self.data:
            try:
                n = os.write(self.fd, self.data)
            except BlockingIOError:
                if self.loop is None or self.loop.time() > self.deadline:
                    log.warning("mi_fifo: the client of %s does not read, reply cut", self.path)
                    self._done()
                    return
                self.loop.add_writer(self.fd, self._writable)
                return
            except OSError as exc:
                log.warning("mi_fifo: writing the reply to %s failed: %s", self.path, exc.strerror)
                self._done()
                return
            self.data = self.data[n:]
        self._done()

    def _writable(self) -> None:
        assert self.loop is not None
        self.loop.remove_writer(self.fd)
        self._write()

    def _done(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
