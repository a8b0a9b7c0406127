"""The table of stream connections (TCP, TLS, WS, WSS): by id, by remote address, by alias.

Every connection gets a process-unique id (ReceiveInfo.conn_id, Destination.conn_id, what usrloc
stores). A connection is also reachable by its remote address, so a new request to a peer that
already has a connection to us reuses it (RFC 3261 18.1.1, RFC 5923), whichever side opened it;
RFC 5923 `alias` Via parameters add more addresses for the same connection.

WebSocket peers are browsers: their address is an ephemeral port that nobody listens on. When one
of their connections closes, its address is remembered for a while so a later send to it fails at
once instead of dialling a browser (RFC 7118: a `.invalid` contact is reachable only over its
connection).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterator

log = logging.getLogger("pysips.transport.connections")

ConnKey = tuple[str, str, int]  # (proto, normalised ip, port)

# How long a closed inbound WebSocket peer stays undiallable (a registration's usual lifetime).
WS_TOMBSTONE_SECONDS = 3600.0
MAX_TOMBSTONES = 200_000


def norm_ip(ip: str) -> str:
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if ":" in ip:
        try:
            return str(ipaddress.IPv6Address(ip))
        except ValueError:
            return ip.lower()
    return ip


class Connection:
    """One stream connection as the table sees it. Transports subclass it and implement `write`
    and `close`; everything else is bookkeeping shared by all of them."""

    __slots__ = ("aliases", "conn_id", "keep_until", "last_active", "local_ip", "local_port", "outbound",
                 "proto", "remote_ip", "remote_port", "socket")

    def __init__(self, proto: str, socket: object, outbound: bool) -> None:
        self.conn_id = 0
        self.proto = proto
        self.socket = socket  # pysips.core.api.Socket this connection belongs to
        self.outbound = outbound
        self.remote_ip = ""
        self.remote_port = 0
        self.local_ip = ""
        self.local_port = 0
        self.last_active = 0.0
        # not closed for idleness before this time (registrar's tcp_persistent_flag)
        self.keep_until = 0.0
        self.aliases: list[ConnKey] = []

    @property
    def is_ready(self) -> bool:
        """True once messages can be written (TLS and WS handshakes done)."""
        return True

    def write(self, data: bytes) -> bool:
        """Queue one SIP message; False when the connection cannot take it."""
        raise NotImplementedError

    def close(self, reason: str = "") -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} #{self.conn_id} {self.proto}:{self.remote_ip}:{self.remote_port}>"


class ConnectionTable:
    """Connections by id and by address; closing one notifies the subscribers (usrloc)."""

    __slots__ = ("_by_addr", "_by_id", "_next_id", "_tombstones", "on_closed")

    def __init__(self) -> None:
        self._by_id: dict[int, Connection] = {}
        self._by_addr: dict[ConnKey, Connection] = {}
        self._tombstones: dict[ConnKey, float] = {}
        self._next_id = 1
        self.on_closed: list[Callable[[int], None]] = []

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._by_id.values()))

    def add(self, conn: Connection) -> int:
        """Register a connection whose remote address is known; returns its new id."""
        conn.conn_id = self._next_id
        self._next_id += 1
        self._by_id[conn.conn_id] = conn
        key = (conn.proto, norm_ip(conn.remote_ip), conn.remote_port)
        # the newest connection to an address wins: the older one may be half dead
        self._by_addr[key] = conn
        conn.aliases.append(key)
        self._tombstones.pop(key, None)
        return conn.conn_id

    def add_alias(self, conn: Connection, ip: str, port: int) -> None:
        """RFC 5923: the peer says it can be reached at ip:port over this connection."""
        key = (conn.proto, norm_ip(ip), port)
        if self._by_addr.get(key) is conn or conn.conn_id not in self._by_id:
            return
        self._by_addr[key] = conn
        conn.aliases.append(key)

    def by_id(self, conn_id: int) -> Connection | None:
        return self._by_id.get(conn_id)

    def by_addr(self, proto: str, ip: str, port: int) -> Connection | None:
        conn = self._by_addr.get((proto, ip, port))
        if conn is None and (":" in ip or ip.startswith("[")):
            conn = self._by_addr.get((proto, norm_ip(ip), port))
        return conn

    def find(self, proto: str, ip: str, port: int, conn_id: int = 0) -> Connection | None:
        """The connection for a destination: its id when given and alive, else its address."""
        if conn_id:
            conn = self._by_id.get(conn_id)
            if conn is not None:
                return conn
        return self.by_addr(proto, ip, port)

    def remove(self, conn: Connection, now: float) -> bool:
        """Forget a closed connection and tell the subscribers; False when it was not here."""
        if self._by_id.pop(conn.conn_id, None) is None:
            return False
        for key in conn.aliases:
            if self._by_addr.get(key) is conn:
                del self._by_addr[key]
        if conn.proto in ("ws", "wss") and not conn.outbound:
            if len(self._tombstones) >= MAX_TOMBSTONES:
                self._expire_tombstones(now, force=True)
            self._tombstones[conn.aliases[0]] = now + WS_TOMBSTONE_SECONDS
        for hook in self.on_closed:
            try:
                hook(conn.conn_id)
            except Exception:
                # a subscriber's bug must not keep the others from hearing of the close
                log.exception("connection-closed subscriber %r failed", hook)
        return True

    def was_browser(self, proto: str, ip: str, port: int, now: float) -> bool:
        """True when ip:port was the client end of a WebSocket connection that closed recently."""
        until = self._tombstones.get((proto, norm_ip(ip), port))
        if until is None:
            return False
        if until < now:
            del self._tombstones[(proto, norm_ip(ip), port)]
            return False
        return True

    def _expire_tombstones(self, now: float, force: bool = False) -> None:
        stale = [k for k, until in self._tombstones.items() if until < now]
        for key in stale:
            del self._tombstones[key]
        if force and len(self._tombstones) >= MAX_TOMBSTONES:
            # still full: forget the oldest half (dicts keep insertion order)
            for key in list(self._tombstones)[: MAX_TOMBSTONES // 2]:
                del self._tombstones[key]
