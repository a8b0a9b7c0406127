"""The asyncio shell of one stream connection: TCP, TLS (asyncio's SSL transport), WS, WSS.

All protocol work is sans-I/O (StreamFramer, WsSession); this class moves bytes between them and
the transport, and reports to its `Owner` (the StreamTransports of the process): a message to
deliver, a connection that went away.
"""

from __future__ import annotations

import asyncio
import logging
import socket as pysocket
import ssl
from typing import TYPE_CHECKING, Protocol

from pysips.transport.connections import Connection
from pysips.transport.stream_framing import FramingError, KeepalivePing, SipFrame, StreamFramer
from pysips.transport.tls_session import TlsFailed, TlsSession
from pysips.transport.ws_protocol import (
    CLOSE_GOING_AWAY,
    OriginPolicy,
    WsClosed,
    WsMessage,
    WsOpened,
    WsRejected,
    WsSession,
)

if TYPE_CHECKING:
    from pysips.transport.stream_settings import ProtoSettings, StreamSettings

log = logging.getLogger("pysips.transport.stream")

MAX_WRITE_BUFFER = 4 * 1024 * 1024  # a peer that does not read this much is dead or hostile
MAX_QUEUED = 32  # messages queued while an outbound connection is still opening


class Owner(Protocol):
    settings: StreamSettings

    def now(self) -> float: ...

    def accepted(self, conn: StreamConnection) -> bool: ...

    def deliver(self, conn: StreamConnection, data: bytes) -> None: ...

    def lost(self, conn: StreamConnection, reason: str) -> None: ...


class StreamConnection(Connection, asyncio.Protocol):
    __slots__ = ("_closed", "_framer", "_owner", "_queue", "_tls", "_transport", "_ws", "close_reason",
                 "message_started", "opened_at", "proto_settings", "ssl_context", "ws_uri")

    def __init__(self, owner: Owner, socket: object, proto: str, outbound: bool,
                 ws_uri: str | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        Connection.__init__(self, proto, socket, outbound)
        self._owner = owner
        self.proto_settings: ProtoSettings = owner.settings.proto(proto)
        self._transport: asyncio.Transport | None = None
        self._framer: StreamFramer | None = None
        self._ws: WsSession | None = None
        self._tls: TlsSession | None = None
        self.ssl_context = ssl_context  # tls and wss: TLS runs in-process (see tls_session.py)
        self._queue: list[bytes] | None = None  # messages waiting for the handshake
        self._closed = False
        self.close_reason = ""
        self.ws_uri = ws_uri
        self.opened_at = owner.now()
        self.last_active = self.opened_at
        # when the bytes of a still incomplete SIP message began to arrive (tcp_max_msg_time)
        self.message_started: float | None = None

    # ------------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if peer and not self.outbound:
            self.remote_ip, self.remote_port = str(peer[0]), int(peer[1])
        if local:
            self.local_ip, self.local_port = str(local[0]), int(local[1])
        settings = self._owner.settings
        self._set_keepalive(transport, settings)
        if not self.outbound and not self._owner.accepted(self):
            self._closed = True
            transport.abort()
            return
        if self.ssl_context is not None:
            try:
                self._tls = TlsSession(self.ssl_context, server_side=not self.outbound)
                hello = self._tls.start()
            except TlsFailed as exc:
                self.abort(f"TLS setup failed: {exc}")
                return
            if hello:
                transport.write(hello)
            return  # the SIP layers start once the handshake is done
        self._session_up()

    def _session_up(self) -> None:
        """TCP is connected (and TLS handshaken): start WebSocket or SIP framing."""
        settings = self._owner.settings
        if self.proto in ("ws", "wss"):
            p = self.proto_settings
            if self.outbound:
                self._ws = WsSession(False, max_message=settings.max_message, uri=self.ws_uri)
                if self._queue is None:
                    self._queue = []
                self._flush_ws()
            else:
                policy = OriginPolicy(p.require_origin, p.allowed_origins)
                self._ws = WsSession(True, max_message=settings.max_message, policy=policy)
        else:
            self._framer = StreamFramer(settings.max_message, self.proto_settings.max_chunks)
            queued, self._queue = self._queue, None
            for data in queued or ():
                self._send_raw(data)

    def data_received(self, data: bytes) -> None:
        self.last_active = self._owner.now()
        tls = self._tls
        if tls is not None:
            try:
                data, out, just_up = tls.receive(data)
            except TlsFailed as exc:
                log.info("%s:%s:%d: TLS failed: %s", self.proto, self.remote_ip, self.remote_port, exc)
                self.abort(f"TLS failed: {exc}")
                return
            if out and self._transport is not None:
                self._transport.write(out)
            if just_up:
                self._session_up()
            if tls.closed:
                self.close("TLS close_notify")
            if not data:
                self._track_message(self._sip_in_message())
                return
        self._on_plain(data)

    def _on_plain(self, data: bytes) -> None:
        if self._ws is not None:
            self._ws_data(data)
            return
        framer = self._framer
        if framer is None:
            return
        for event in framer.feed(data):
            if isinstance(event, SipFrame):
                self._owner.deliver(self, event.data)
            elif isinstance(event, KeepalivePing):
                if self.proto_settings.crlf_pingpong:
                    self._send_raw(b"\r\n")
            elif isinstance(event, FramingError):
                log.warning("%s:%s:%d: %s; closing the connection", self.proto, self.remote_ip,
                            self.remote_port, event.reason)
                self.close(event.reason)
                return
            if self._closed:
                return
        self._track_message(framer.in_message)

    def _sip_in_message(self) -> bool:
        if self._ws is not None:
            return self._ws.in_message
        return self._framer is not None and self._framer.in_message

    def _track_message(self, in_message: bool) -> None:
        """Start or stop the tcp_max_msg_time clock: a SIP message (or WebSocket handshake, frame,
        fragments) or a TLS record under way keeps it running from its first byte."""
        if self._tls is not None and self._tls.handshaken and self._tls.in_record:
            in_message = True
        if not in_message:
            self.message_started = None
        elif self.message_started is None:
            self.message_started = self.last_active

    def eof_received(self) -> bool | None:
        if self._ws is not None:
            self._ws_events(self._ws.receive_eof())
            self._flush_ws()
        return None  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._transport = None
        reason = self.close_reason or (str(exc) if exc else "closed by peer")
        self._owner.lost(self, reason)

    # ------------------------------------------------------------------ WebSocket

    def _ws_data(self, data: bytes) -> None:
        ws = self._ws
        assert ws is not None
        self._ws_events(ws.receive(data))
        self._flush_ws()
        self._track_message(ws.in_message)

    def _ws_events(self, events: list[WsOpened | WsMessage | WsRejected | WsClosed]) -> None:
        for event in events:
            if isinstance(event, WsMessage):
                self._owner.deliver(self, event.data)
            elif isinstance(event, WsOpened):
                queued, self._queue = self._queue, None
                for data in queued or ():
                    self.write(data)
            elif isinstance(event, WsRejected):
                log.warning("%s:%s:%d: WebSocket handshake refused (%d): %s", self.proto, self.remote_ip,
                            self.remote_port, event.status, event.reason)
                self.close_reason = f"handshake refused: {event.reason}"
                self._queue = None
            elif isinstance(event, WsClosed):
                log.debug("%s:%s:%d: WebSocket closed %d %s", self.proto, self.remote_ip, self.remote_port,
                          event.code, event.reason)
                self.close_reason = f"WebSocket close {event.code} {event.reason}".strip()

    def _flush_ws(self) -> None:
        ws, transport = self._ws, self._transport
        if ws is None or transport is None:
            return
        for chunk in ws.take_output():
            if chunk is None:
                if self._tls is None and transport.can_write_eof():
                    transport.write_eof()
                transport.close()
                return
            self._send_raw(chunk)
        if ws.close_expected() and ws.closing:
            # give the peer a moment to close first, as RFC 6455 7.1.1 asks of servers
            asyncio.get_running_loop().call_later(2.0, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def ping(self) -> None:
        if self._ws is not None and self._ws.is_open:
            self._ws.ping()
            self._flush_ws()

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._transport

    @property
    def ws_open(self) -> bool:
        return self._ws is not None and self._ws.is_open

    # ------------------------------------------------------------------ Connection API

    @property
    def is_ready(self) -> bool:
        if self._transport is None:
            return False
        if self.ssl_context is not None and (self._tls is None or not self._tls.handshaken):
            return False
        if self.proto in ("ws", "wss"):
            return self._ws is not None and self._ws.is_open
        return True

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        return None if self._tls is None else self._tls.ssl_object

    def write(self, data: bytes) -> bool:
        transport = self._transport
        if self._closed:
            return False
        if transport is None or not self.is_ready:
            if self._queue is None:
                if transport is not None:
                    return False  # an inbound WS connection still in its handshake
                self._queue = []
            if len(self._queue) >= MAX_QUEUED:
                return False
            self._queue.append(data)
            return True
        if transport.is_closing():
            return False
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.error("%s:%s:%d: peer does not read (%d bytes pending); closing", self.proto, self.remote_ip,
                      self.remote_port, transport.get_write_buffer_size())
            self.close("write buffer full")
            return False
        if self._ws is not None:
            self._ws.send_message(data)
            self._flush_ws()
        else:
            self._send_raw(data)
        self.last_active = self._owner.now()
        return True

    def _send_raw(self, data: bytes) -> None:
        """Bytes of the SIP (or WebSocket) layer onto the wire, through TLS when there is one."""
        transport = self._transport
        if transport is None:
            return
        if self._tls is None:
            transport.write(data)
            return
        try:
            transport.write(self._tls.encrypt(data))
        except TlsFailed as exc:
            self.abort(f"TLS write failed: {exc}")

    def close(self, reason: str = "") -> None:
        if self._closed:
            return
        self.close_reason = self.close_reason or reason
        transport = self._transport
        if transport is None:
            return
        if self._ws is not None and self._ws.is_open:
            self._ws.close(CLOSE_GOING_AWAY, reason[:100])
            self._flush_ws()
            return
        self._closed = True
        if self._tls is not None:
            notify = self._tls.close_notify()
            if notify:
                transport.write(notify)
        transport.close()

    def abort(self, reason: str) -> None:
        self.close_reason = self.close_reason or reason
        if self._transport is not None:
            self._transport.abort()

    @staticmethod
    def _set_keepalive(transport: asyncio.Transport, settings: StreamSettings) -> None:
        sock = transport.get_extra_info("socket")
        if sock is None:
            return
        try:
            sock.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY, 1)
            if settings.keepalive:
                sock.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_KEEPALIVE, 1)
                options = (("TCP_KEEPIDLE", settings.keepidle), ("TCP_KEEPINTVL", settings.keepinterval),
                           ("TCP_KEEPCNT", settings.keepcount))
                for opt, value in options:
                    if value and hasattr(pysocket, opt):
                        sock.setsockopt(pysocket.IPPROTO_TCP, getattr(pysocket, opt), value)
        except OSError:
            pass
