"""NAT keepalives to registered contacts (natping_interval).

UDP contacts get a 4-byte datagram, or a SIP OPTIONS when their binding carries `sipping_bflag`
(and `sipping_from` is set). Stream contacts are pinged only with natping_tcp: TCP/TLS get a
CRLF CRLF keepalive (RFC 5626 section 4.4.1) or OPTIONS with sipping; WebSocket contacts always
get a whole SIP OPTIONS, which the WS transport frames: raw bytes never go into a WS connection.
Replies to our OPTIONS are recognised by their Call-ID and swallowed.

Stateful pinging (remove_on_timeout_bflag): a SIP ping to a binding carrying that flag must be
answered within `ping_threshold` seconds; after `max_pings_lost` unanswered pings in a row the
binding is deleted from usrloc. Any answer resets the count.
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
    remove_flag: int = 0  # mask: remove_on_timeout_bflag
    ping_threshold: int = 3  # seconds a ping may stay unanswered
    max_pings_lost: int = 3
    checker_interval: float = 1.0


@dataclass(slots=True)
class PendingPing:
    key: tuple[str, str, str, str]  # usrloc table, AOR, contact URI, Call-ID of the binding
    sent_at: float


class Pinger:
    __slots__ = ("_checker", "_seq", "_timer", "call_id_prefix", "config", "core", "lost", "pending",
                 "process", "removed", "sent")

    def __init__(self, config: PingConfig, process: Any) -> None:
        self.config = config
        self.process = process
        self.core: Any = process.core
        self.call_id_prefix = "nhping-" + os.urandom(4).hex() + "-"
        self._seq = 0
        self._timer: Any = None
        self._checker: Any = None
        self.sent = 0
        self.removed = 0
        self.pending: dict[str, PendingPing] = {}  # Call-ID of the ping -> what it was for
        self.lost: dict[tuple[str, str, str, str], int] = {}
        if self.core is not None and config.interval > 0:
            self.core.hooks.reply.append(self.swallow_reply)
            self._schedule()
            if config.remove_flag:
                self._schedule_checker()

    # ------------------------------------------------------------------ timer

    def _schedule(self) -> None:
        self._timer = self.core.call_at(self.core.now() + self.config.interval, self._tick)

    def _tick(self) -> None:
        try:
            self.ping_all(self.core.wall_time())
        except Exception:
            log.exception("nathelper: NAT ping run failed")
        self._schedule()

    def _schedule_checker(self) -> None:
        self._checker = self.core.call_at(self.core.now() + self.config.checker_interval, self._check_tick)

    def _check_tick(self) -> None:
        try:
            self.check_pings(self.core.wall_time())
        except Exception:
            log.exception("nathelper: ping checker failed")
        self._schedule_checker()

    def stop(self) -> None:
        for timer in (self._timer, self._checker):
            if timer is not None:
                timer.cancel()
        self._timer = self._checker = None

    def check_pings(self, now: float) -> int:
        """Count the pings unanswered for ping_threshold; delete bindings past max_pings_lost."""
        cfg = self.config
        removed = 0
        for call_id, ping in list(self.pending.items()):
            if now - ping.sent_at < cfg.ping_threshold:
                continue
            del self.pending[call_id]
            lost = self.lost.get(ping.key, 0) + 1
            self.lost[ping.key] = lost
            if lost >= cfg.max_pings_lost and self._remove(ping.key):
                removed += 1
        self.removed += removed
        return removed

    def _remove(self, key: tuple[str, str, str, str]) -> bool:
        self.lost.pop(key, None)
        ul = self.process.services.get(LOCATION)
        if ul is None:
            return False
        dom = ul.domain(key[0])
        rec = dom.get(key[1])
        if rec is None:
            return False
        for c in list(rec.contacts):
            if (c.uri, c.callid) == key[2:]:
                log.info("nathelper: %s of %s did not answer %d pings: removed", c.uri, c.aor,
                         self.config.max_pings_lost)
                return bool(dom.delete(rec, c))
        return False

    # ------------------------------------------------------------------ pinging

    def ping_all(self, now: float) -> int:
        """One round over every valid binding; returns how many pings were sent."""
        ul = self.process.services.get(LOCATION)
        if ul is None or self.core is None:
            return 0
        cfg = self.config
        nat_flag = int(ul.nat_flag)
        sent = 0
        for dom, c in ul.all_contacts():
            if not c.is_valid(now):
                continue
            if cfg.nated_only and not c.cflags & nat_flag:
                continue
            if self.ping(c, getattr(dom, "name", ""), now):
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
        """The socket the binding came in on; None when that socket is not ours. With usrloc shared
        between nodes (sql-only) such a binding belongs to another node, and a keepalive from here
        would not keep the phone's NAT binding open anyway (it was opened towards that node's
        address): its own node pings it. OpenSIPS sends from any socket of its own then, so each
        node pings every binding; see docs/scaling.md."""
        if c.socket:
            for sock in self.core.sockets:
                if sock.name == c.socket:
                    return sock  # type: ignore[no-any-return]
            return None
        sock = self.core.socket_for(dst)
        return sock if isinstance(sock, Socket) else None

    def ping(self, c: UContact, table: str = "", now: float = 0.0) -> bool:
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
        if data not in (UDP_PING, CRLF_PING) and c.cflags & cfg.remove_flag:
            # remember the ping: unanswered ones count against the binding
            call_id = f"{self.call_id_prefix}{self._seq}"
            self.pending[call_id] = PendingPing((table, c.aor, c.uri, c.callid), now)
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
        if not msg.call_id.startswith(self.call_id_prefix):
            return False
        ping = self.pending.pop(msg.call_id, None)
        if ping is not None:
            self.lost.pop(ping.key, None)  # answered: the count starts again
        return True
