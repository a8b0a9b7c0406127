"""NAT keepalives to registered contacts (natping_interval).

UDP contacts get a 4-byte datagram, or a SIP OPTIONS when their binding carries `sipping_bflag`
(and `sipping_from` is set). Stream contacts are pinged only with natping_tcp: TCP/TLS get a
CRLF CRLF keepalive (RFC 5626 section 4.4.1) or OPTIONS with sipping; WebSocket contacts always
get a whole SIP OPTIONS, which the WS transport frames: raw bytes never go into a WS connection.
Replies to our OPTIONS are recognised by their Call-ID and swallowed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pysips.core.api import Destination, Socket
from pysips.core.services import LOCATION
from pysips.sip.branch import new_branch
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.receive import ReceiveInfo
from pysips.sip.uri import parse_uri

from .addresses import host_and_port

if TYPE_CHECKING:
    from pysips.core.services import LocationContact as UContact

log = logging.getLogger("pysips.nathelper")

UDP_PING = b"\x00\x00\x00\x00"
CRLF_PING = b"\r\n\r\n"
WS_PROTOS = ("ws", "wss")


@dataclass(slots=True)
class PingConfig:
    interval: int = 0
    nated_only: bool = False
    sipping_flag: int = 0  # mask
    sipping_from: str | None = None
    sipping_method: str = "OPTIONS"
    ping_tcp: bool = False


class Pinger:
    __slots__ = ("_seq", "_timer", "call_id_prefix", "config", "core", "process", "sent")

    def __init__(self, config: PingConfig, process: Any) -> None:
        self.config = config
        self.process = process
        self.core: Any = process.core
        self.call_id_prefix = "nhping-" + os.urandom(4).hex() + "-"
        self._seq = 0
        self._timer: Any = None
        self.sent = 0
        if self.core is not None and config.interval > 0:
            self.core.hooks.reply.append(self.swallow_reply)
            self._schedule()

    # ------------------------------------------------------------------ timer

    def _schedule(self) -> None:
        self._timer = self.core.call_at(self.core.now() + self.config.interval, self._tick)

    def _tick(self) -> None:
        try:
            self.ping_all(self.core.wall_time())
        except Exception:
            log.exception("nathelper: NAT ping run failed")
        self._schedule()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------------ pinging

    def ping_all(self, now: float) -> int:
        """One round over every valid binding; returns how many pings were sent."""
        ul = self.process.services.get(LOCATION)
        if ul is None or self.core is None:
            return 0
        cfg = self.config
        nat_flag = int(ul.nat_flag)
        sent = 0
        for _dom, c in ul.all_contacts():
            if not c.is_valid(now):
                continue
            if cfg.nated_only and not c.cflags & nat_flag:
                continue
            if self.ping(c):
                sent += 1
        self.sent += sent
        return sent

    def _target(self, c: UContact) -> tuple[str, Destination] | None:
        """The URI the request would go to and where to send it: Path, received, or the Contact."""
        uri = c.uri
        hop = c.received or c.uri
        if c.path:
            first = c.path.split(",")[0].strip()
            hop = first[1:first.find(">")] if first.startswith("<") else first
        parsed = parse_uri(hop)
        if isinstance(parsed, ParseError):
            return None
        proto = (parsed.transport or ("tls" if parsed.scheme == "sips" else "udp")).lower()
        if parsed.host.lower().endswith(".invalid"):
            return None  # a browser's placeholder: only reachable over its connection
        hp = host_and_port(hop)
        if hp is None:
            return None
        host, port = hp
        conn_id = c.conn_id if proto != "udp" else 0
        if any(ch.isalpha() for ch in host) and ":" not in host:
            found = self.core.resolve(hop)
            if not found:
                return None
            dst = found[0]
            return uri, Destination(dst.proto, dst.ip, dst.port, conn_id)
        return uri, Destination(proto, host, port, conn_id)

    def _socket(self, c: UContact, dst: Destination) -> Socket | None:
        if c.socket:
            for sock in self.core.sockets:
                if sock.name == c.socket:
                    return sock  # type: ignore[no-any-return]
        sock = self.core.socket_for(dst)
        return sock if isinstance(sock, Socket) else None

    def ping(self, c: UContact) -> bool:
        target = self._target(c)
        if target is None:
            return False
        uri, dst = target
        sock = self._socket(c, dst)
        if sock is None:
            return False
        cfg = self.config
        sipping = bool(cfg.sipping_from and c.cflags & cfg.sipping_flag)
        if dst.proto == "udp":
            data = self.options(uri, sock) if sipping else UDP_PING
        elif not cfg.ping_tcp:
            return False
        elif dst.proto in WS_PROTOS:
            data = self.options(uri, sock)
        else:
            data = self.options(uri, sock) if sipping else CRLF_PING
        return bool(self.core.send(data, dst, sock))

    def options(self, uri: str, sock: Socket) -> bytes:
        self._seq += 1
        cfg = self.config
        sender = cfg.sipping_from or f"sip:pinger@{sock.host_for_headers}"
        method = cfg.sipping_method
        via = self.core.via_for(sock, new_branch())
        text = (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: {via}\r\n"
            f"From: <{sender}>;tag={os.urandom(4).hex()}\r\n"
            f"To: <{uri}>\r\n"
            f"Call-ID: {self.call_id_prefix}{self._seq}\r\n"
            f"CSeq: 1 {method}\r\n"
            "Max-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        return text.encode("utf-8", "surrogateescape")

    def swallow_reply(self, msg: SipMessage, rcv: ReceiveInfo) -> bool:
        return msg.call_id.startswith(self.call_id_prefix)
