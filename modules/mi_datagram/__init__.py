"""mi_datagram: the management interface over UDP or a UNIX datagram socket (OpenSIPS
`mi_datagram`): one JSON-RPC request per datagram, the reply sent back to the sender.

`socket_name` is "udp:IP:PORT" (IPv6 in brackets) or the path of a UNIX socket, which is created
with `unix_socket_mode` (0660) and `unix_socket_user`/`unix_socket_group`. `children_count` and
`socket_timeout` are accepted: one asyncio worker answers every request without blocking.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from typing import Any, cast

from pysips.mi import mi_of
from pysips.mi.errors import SERVER_ERROR, MIError
from pysips.mi.jsonrpc import encode, error_response
from pysips.script.errors import FixupError
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType

log = logging.getLogger("pysips.mi_datagram")

MAX_DATAGRAM = 65457  # what OpenSIPS's mi_datagram buffers too


class MiDatagramError(Exception):
    pass


def parse_socket_name(text: Any) -> tuple[int, Any]:
    """(family, address): "udp:127.0.0.1:8080" -> (AF_INET, ("127.0.0.1", 8080)); a path -> AF_UNIX."""
    value = str(text).strip()
    if not value:
        raise FixupError("socket_name is empty")
    if not value.lower().startswith("udp:"):
        return socket.AF_UNIX, value
    host, sep, port_text = value[4:].rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise FixupError(f"bad socket_name {text!r}: expected udp:IP:PORT or a file path")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, int(port_text))


def _check_socket_name(value: Any) -> str:
    parse_socket_name(value)
    return str(value)


def _not_implemented(value: Any) -> Any:
    raise FixupError("MI tracing (proto_hep) is not implemented in pysips")


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: MiDatagram) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport is not a DatagramTransport subclass
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        reply = self.server.answer(data)
        if reply is None or self.transport is None or not addr:
            return  # a notification, or a UNIX client with no address to answer to
        try:
            self.transport.sendto(reply, addr)
        except OSError as exc:
            log.warning("mi_datagram: cannot answer %s: %s", addr, exc)

    def error_received(self, exc: Exception) -> None:
        log.debug("mi_datagram: %s", exc)


class MiDatagram:
    """`process.modules["mi_datagram"]`."""

    def __init__(self, process: Any, socket_name: str, mode: int = 0o660, uid: int = -1,
                 gid: int = -1) -> None:
        self.process = process
        self.socket_name = socket_name
        self.family, self.address = parse_socket_name(socket_name)
        self.mode, self.uid, self.gid = mode, uid, gid
        self.sock: socket.socket | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self._inode: tuple[int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def answer(self, data: bytes) -> bytes | None:
        reply = mi_of(self.process).handle_text(data)
        if reply is not None and len(reply) > MAX_DATAGRAM:
            err = MIError.of(SERVER_ERROR, f"the reply ({len(reply)} bytes) does not fit in a datagram")
            reply = encode(error_response(err, None))
        return reply

    def bind(self) -> None:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            if self.family == socket.AF_UNIX:
                path = str(self.address)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                sock.bind(path)
                os.chmod(path, self.mode)
                if self.uid != -1 or self.gid != -1:
                    os.chown(path, self.uid, self.gid)
                st = os.stat(path)
                self._inode = (st.st_dev, st.st_ino)
            else:
                sock.bind(self.address)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            text = exc.strerror or str(exc)
            raise MiDatagramError(f"mi_datagram: cannot bind {self.socket_name}: {text}") from exc
        self.sock = sock

    def start(self) -> None:
        self.bind()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("mi_datagram: no event loop running, %s is not served", self.socket_name)
            return
        self._task = loop.create_task(self._serve(loop))

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self.sock is not None
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=self.sock)
        self.transport = transport
        log.log(25, "listening on %s for MI datagrams", self.socket_name)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        elif self.sock is not None:
            self.sock.close()
        if self.family == socket.AF_UNIX and self._inode is not None:
            with contextlib.suppress(OSError):
                st = os.lstat(str(self.address))
                if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == self._inode:
                    os.unlink(str(self.address))


def _id(value: Any, lookup: Any) -> int:
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return int(lookup(text))
    except KeyError:
        raise FixupError(f"unknown user or group {text!r}") from None


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> MiDatagram:
    import grp
    import pwd

    name = params.get("socket_name")
    if not name:
        raise MiDatagramError("mi_datagram: modparam socket_name is required (udp:IP:PORT or a path)")
    uid = _id(params["unix_socket_user"], lambda n: pwd.getpwnam(n).pw_uid) \
        if params.get("unix_socket_user") is not None else -1
    gid = _id(params["unix_socket_group"], lambda n: grp.getgrnam(n).gr_gid) \
        if params.get("unix_socket_group") is not None else -1
    server = MiDatagram(mctx.process, str(name), int(params.get("unix_socket_mode", 0o660)), uid, gid)
    server.start()
    mi_of(mctx.process).add_role(f"MI Datagram {name}")
    return server



def _destroy(server: object) -> None:
    """SIGTERM/SIGINT/exit: the listening endpoint closes (and its file goes) while the loop runs."""
    if isinstance(server, MiDatagram):
        server.close()


exports = ModuleExports(
    "mi_datagram",
    params=(
        ParamExport("socket_name", ParamType.STR, None, check=_check_socket_name,
                    doc="udp:IP:PORT, or the path of a UNIX datagram socket"),
        ParamExport("children_count", ParamType.INT, 1, doc="accepted: one worker answers everything"),
        ParamExport("unix_socket_mode", ParamType.INT, 0o660, doc="permissions of a UNIX socket"),
        ParamExport("unix_socket_user", ParamType.INT_OR_STR, None, doc="owner of a UNIX socket"),
        ParamExport("unix_socket_group", ParamType.INT_OR_STR, None, doc="group of a UNIX socket"),
        ParamExport("socket_timeout", ParamType.INT, 2000, doc="accepted: replies are sent at once"),
        ParamExport("reply_indent", ParamType.STR, None, doc="accepted (2.x); replies are JSON"),
        ParamExport("trace_destination", ParamType.STR, None, check=_not_implemented,
                    doc="not implemented: a load error"),
        ParamExport("trace_bwlist", ParamType.STR, None, check=_not_implemented,
                    doc="not implemented: a load error"),
    ),
    init=_init,
    main_process_only=True,  # one MI endpoint, in the main process, with workers
    destroy=_destroy,
    doc="JSON-RPC management interface over UDP or a UNIX datagram socket",
)
