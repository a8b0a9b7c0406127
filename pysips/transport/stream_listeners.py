"""Stream transports of one process: listeners, outbound connections, the connection table, timers.

The server calls `start_stream_listener(loop, socket, engine)` for every tcp/tls/ws/wss listener and
attaches the returned listener's `send` to the engine, as it does for UDP. All listeners of a process
share one `StreamTransports` (one connection table, so conn ids are unique and any socket may reuse a
connection to a peer).

Sending rules (RFC 3261 18, RFC 5923, RFC 7118):
- an existing connection is used when the destination names it (conn_id) or its address matches
  (a `ws` destination also takes a `wss` connection: browsers write transport=ws over WSS too);
- a reply never opens a connection: if the request's connection is gone the reply is dropped;
- a WebSocket destination whose connection is gone is never dialled when it was a browser (the
  client end of an inbound connection) or when the destination named a connection id;
- anything else opens a connection (TLS with the client domain of tls_mgm that matches).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import resource
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pysips.core.api import Destination, Socket
from pysips.core.services import PROTO_SERVICES, TLS_DOMAINS
from pysips.sip.receive import ReceiveInfo
from pysips.transport.connections import ConnectionTable
from pysips.transport.stream_conn import StreamConnection
from pysips.transport.stream_settings import MODULE_OF, STREAM_PROTOS, StreamSettings, settings_from
from pysips.transport.tls_domains import TlsConfigError, TlsDomains

if TYPE_CHECKING:
    import ssl

    from pysips.core.engine import Engine

log = logging.getLogger("pysips.transport.stream")

__all__ = ["STREAM_PROTOS", "StreamListener", "StreamStartupError", "StreamTransports",
           "start_stream_listener", "streams_of"]

SWEEP_INTERVAL = 1.0
_by_engine: weakref.WeakKeyDictionary[Any, StreamTransports] = weakref.WeakKeyDictionary()


class StreamStartupError(OSError):
    """A stream listener that cannot start; the message says why (an OSError so the server's
    `cannot bind` handling reports it)."""


def raise_fd_limit() -> int:
    """Thousands of connections need thousands of descriptors: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft


class StreamTransports:
    """Everything stream-shaped in one worker process."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.loop = loop
        # where complete messages go: the engine, or (main process with workers) the dispatcher
        self.receive: Callable[[bytes, ReceiveInfo], None] = engine.receive
        services = engine.process.services
        self.settings: StreamSettings = settings_from(services)
        self.table = ConnectionTable()
        # the hook list is the engine's own: modules that subscribe later are seen too
        self.table.on_closed = engine.hooks.connection_closed
        self.tls: TlsDomains | None = services.get(TLS_DOMAINS)
        self.listeners: list[StreamListener] = []
        self._sweeper: asyncio.TimerHandle | None = None
        self.stats = {"accepted": 0, "refused": 0, "dialled": 0, "dial_failures": 0, "closed": 0}
        self._per_ip: collections.Counter[str] = collections.Counter()  # inbound connections by peer
        # set by modules around a send (tcp_no_new_conn_bflag): do not open connections
        self.no_new_conn = False

    def now(self) -> float:
        return self.loop.time()

    # ------------------------------------------------------------------ listeners

    async def start_listener(self, sock: Socket, reuse_port: bool = False) -> StreamListener:
        proto = sock.proto
        if proto not in STREAM_PROTOS:
            raise StreamStartupError(f"{sock.name}: not a stream protocol")
        if PROTO_SERVICES[proto] not in self.engine.process.services:
            raise StreamStartupError(f"{sock.name}: module {MODULE_OF[proto]} is not loaded "
                                     f"(add loadmodule \"{MODULE_OF[proto]}.so\")")
        ssl_ctx: ssl.SSLContext | None = None
        if proto in ("tls", "wss"):
            ssl_ctx = self._server_ssl(sock)
        raise_fd_limit()
        try:
            server = await self.loop.create_server(
                lambda: StreamConnection(self, sock, proto, outbound=False, ssl_context=ssl_ctx),
                host=sock.ip, port=sock.port, backlog=self.settings.backlog,
                reuse_address=True, reuse_port=reuse_port or None,
            )
        except OSError as exc:
            raise StreamStartupError(exc.errno, exc.strerror or str(exc)) from exc
        listener = StreamListener(self, sock, server)
        self.listeners.append(listener)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(SWEEP_INTERVAL, self._sweep)
        return listener

    def _server_ssl(self, sock: Socket) -> ssl.SSLContext:
        if self.tls is None:
            raise StreamStartupError(f"{sock.name}: TLS listeners need the tls_mgm module "
                                     f"(loadmodule \"tls_mgm.so\" and its certificate/private_key)")
        try:
            self.tls.build(need_server=True)
        except TlsConfigError as exc:
            raise StreamStartupError(f"{sock.name}: {exc}") from exc
        ctx = self.tls.server_context_for(sock.ip, sock.port)
        if ctx is None:
            raise StreamStartupError(f"{sock.name}: no tls_mgm server domain matches this address")
        return ctx

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for listener in self.listeners:
            listener.server.close()
        for conn in self.table:
            if isinstance(conn, StreamConnection):
                conn.abort("shutting down")
        self.listeners.clear()

    # ------------------------------------------------------------------ connection events

    def accepted(self, conn: StreamConnection) -> bool:
        if len(self.table) >= self.settings.max_connections:
            self.stats["refused"] += 1
            log.error("tcp_max_connections (%d) reached: refusing %s:%s:%d", self.settings.max_connections,
                      conn.proto, conn.remote_ip, conn.remote_port)
            return False
        per_ip = self.settings.max_connections_per_ip
        if per_ip and self._per_ip[conn.remote_ip] >= per_ip:
            self.stats["refused"] += 1
            log.warning("tcp_max_connections_per_ip (%d) reached for %s: refusing %s:%d", per_ip,
                        conn.remote_ip, conn.proto, conn.remote_port)
            return False
        self.table.add(conn)
        self._per_ip[conn.remote_ip] += 1
        self.stats["accepted"] += 1
        return True

    def deliver(self, conn: StreamConnection, data: bytes) -> None:
        sock = conn.socket
        assert isinstance(sock, Socket)
        if self.settings.accept_aliases and b"alias" in data:
            self._learn_alias(conn, data)
        rcv = ReceiveInfo(conn.proto, sock.ip, sock.port, conn.remote_ip, conn.remote_port, conn.conn_id)
        self.receive(data, rcv)

    def _learn_alias(self, conn: StreamConnection, data: bytes) -> None:
        from pysips.sip.errors import ParseError
        from pysips.sip.message import parse_message

        msg = parse_message(data)
        if isinstance(msg, ParseError) or not msg.is_request or not msg.vias:
            return
        via = msg.vias[0]
        if "alias" in via.params:
            host = via.host.strip("[]")
            self.table.add_alias(conn, host, via.port or self.settings.proto(conn.proto).default_port)

    def lost(self, conn: StreamConnection, reason: str) -> None:
        if self.table.remove(conn, self.now()):
            self.stats["closed"] += 1
            if not conn.outbound:
                left = self._per_ip[conn.remote_ip] - 1
                if left > 0:
                    self._per_ip[conn.remote_ip] = left
                else:
                    del self._per_ip[conn.remote_ip]
            log.debug("%s:%s:%d (#%d) closed: %s", conn.proto, conn.remote_ip, conn.remote_port, conn.conn_id,
                      reason)

    # ------------------------------------------------------------------ sending

    def send(self, data: bytes, dst: Destination, sock: Socket) -> bool:
        proto = dst.proto if dst.proto in STREAM_PROTOS else sock.proto
        conn = self.table.find(proto, dst.ip, dst.port, dst.conn_id)
        if conn is None and proto == "ws":
            # JsSIP and other browsers write transport=ws in their Contact over WSS as well: a
            # plain-ws destination may take the TLS connection at that address (never the reverse)
            conn = self.table.by_addr("wss", dst.ip, dst.port)
        if conn is not None:
            return conn.write(data)
        if data.startswith(b"SIP/2.0 "):
            log.warning("reply to %s:%s:%d not sent: its connection is gone (replies never open one)",
                        proto, dst.ip, dst.port)
            return False
        if proto in ("ws", "wss") and (dst.conn_id or self._was_browser(proto, dst)):
            log.warning("%s:%s:%d: the WebSocket connection is gone; not dialling a browser", proto, dst.ip,
                        dst.port)
            return False
        if self.no_new_conn:
            log.info("%s:%s:%d: no connection, and new ones are forbidden here", proto, dst.ip, dst.port)
            return False
        return self._dial(data, proto, dst, sock)

    def _was_browser(self, proto: str, dst: Destination) -> bool:
        now = self.now()
        if self.table.was_browser(proto, dst.ip, dst.port, now):
            return True
        return proto == "ws" and self.table.was_browser("wss", dst.ip, dst.port, now)

    def _dial(self, data: bytes, proto: str, dst: Destination, sock: Socket) -> bool:
        if len(self.table) >= self.settings.max_connections:
            log.error("tcp_max_connections (%d) reached: not connecting to %s:%d",
                      self.settings.max_connections, dst.ip, dst.port)
            return False
        ssl_ctx: ssl.SSLContext | None = None
        if proto in ("tls", "wss"):
            if self.tls is None:
                log.error("cannot open %s to %s:%d: tls_mgm is not loaded", proto, dst.ip, dst.port)
                return False
            try:
                self.tls.build(need_server=False)
            except TlsConfigError as exc:
                log.error("cannot open %s to %s:%d: %s", proto, dst.ip, dst.port, exc)
                return False
            dom = self.tls.client_domain_for(dst.ip, dst.port)
            if dom is None or dom.context is None:
                log.error("cannot open %s to %s:%d: no tls_mgm client domain matches", proto, dst.ip,
                          dst.port)
                return False
            ssl_ctx = dom.context
        host = f"[{dst.ip}]" if ":" in dst.ip else dst.ip
        uri = None
        if proto in ("ws", "wss"):
            uri = f"{proto}://{host}:{dst.port}{self.settings.proto(proto).resource}"
        conn = StreamConnection(self, sock, proto, outbound=True, ws_uri=uri, ssl_context=ssl_ctx)
        conn.remote_ip, conn.remote_port = dst.ip, dst.port
        conn.write(data)  # queued until connected
        self.table.add(conn)
        self.stats["dialled"] += 1
        self.loop.create_task(self._connect(conn))
        return True

    async def _connect(self, conn: StreamConnection) -> None:
        """The TCP connect; TLS and WebSocket handshakes follow in the connection (the sweep
        enforces their timeout)."""
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: conn, conn.remote_ip, conn.remote_port),
                self.settings.connect_timeout)
        except (OSError, TimeoutError) as exc:
            self.stats["dial_failures"] += 1
            log.error("cannot connect to %s:%s:%d: %s", conn.proto, conn.remote_ip, conn.remote_port,
                      exc or "timeout")
            conn.close_reason = "connect failed"
            self.lost(conn, "connect failed")

    def set_connection_lifetime(self, conn_id: int, seconds: float) -> bool:
        """Keep a connection open for at least `seconds` more, however quiet it is (OpenSIPS's
        registrar does this for tcp_persistent_flag: the connection outlives the registration).
        Never shortens; False when the connection is gone."""
        conn = self.table.by_id(conn_id)
        if conn is None:
            return False
        conn.keep_until = max(conn.keep_until, self.now() + seconds)
        return True

    # ------------------------------------------------------------------ timers

    def _sweep(self) -> None:
        """Once a second: close idle connections and slow messages, ping quiet WebSockets, end stalled
        handshakes."""
        now = self.now()
        lifetime = self.settings.lifetime
        try:
            for conn in self.table:
                if not isinstance(conn, StreamConnection):
                    continue
                p = conn.proto_settings
                idle = now - conn.last_active
                started = conn.message_started
                if started is not None and now - started > self.settings.max_msg_time:
                    log.warning("%s:%s:%d: message not complete after tcp_max_msg_time (%gs); closing",
                                conn.proto, conn.remote_ip, conn.remote_port, self.settings.max_msg_time)
                    conn.abort("message not complete within tcp_max_msg_time")
                    continue
                if not conn.is_ready:
                    limit = min(lifetime, p.handshake_timeout) + self.settings.connect_timeout
                    if now - conn.opened_at > limit:
                        conn.abort("handshake not completed in time")
                    continue
                if idle > lifetime and now > conn.keep_until:
                    conn.close("idle for longer than tcp_connection_lifetime")
                elif p.ping_interval and idle > p.ping_interval and conn.ws_open:
                    conn.ping()
        finally:
            self._sweeper = self.loop.call_later(SWEEP_INTERVAL, self._sweep)


class StreamListener:
    """One listening socket: what the engine attaches as the sender for that socket."""

    __slots__ = ("owner", "server", "sock")

    def __init__(self, owner: StreamTransports, sock: Socket, server: asyncio.AbstractServer) -> None:
        self.owner = owner
        self.sock = sock
        self.server = server

    def send(self, data: bytes, dst: Destination) -> bool:
        return self.owner.send(data, dst, self.sock)

    def close(self) -> None:
        self.server.close()
        if all(not lst.server.is_serving() for lst in self.owner.listeners):
            self.owner.close()


def streams_of(engine: Engine, loop: asyncio.AbstractEventLoop | None = None) -> StreamTransports:
    """The process's StreamTransports, made on first use."""
    found = _by_engine.get(engine)
    if found is None:
        found = StreamTransports(engine, loop or asyncio.get_running_loop())
        _by_engine[engine] = found
    return found


def existing_streams(engine: object) -> StreamTransports | None:
    return _by_engine.get(engine)


async def start_stream_listener(loop: asyncio.AbstractEventLoop, sock: Socket, engine: Engine,
                                reuse_port: bool = False) -> StreamListener:
    """Bind a tcp/tls/ws/wss listener. Raises StreamStartupError (an OSError) with the reason."""
    return await streams_of(engine, loop).start_listener(sock, reuse_port)
