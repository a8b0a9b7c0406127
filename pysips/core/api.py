"""What the proxy engine offers to modules: sockets, sending, timers, hooks.

Modules reach it as `ctx.process.core` (a `Core`). The engine never imports a module by name;
modules register their hooks (reply matching, connection events, timers) when they initialise, as
OpenSIPS modules do. What modules offer each other (and the engine) is in pysips.core.services.
Everything here is synchronous and non-blocking: the asyncio shells in
pysips.transport do the waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pysips.script.context import MsgContext
    from pysips.script.myself import MyselfChecker
    from pysips.sip.message import SipMessage
    from pysips.sip.receive import ReceiveInfo


@dataclass(frozen=True, slots=True)
class Socket:
    """A listening socket of ours, as declared by `listen=`/`socket=`.

    `ip` is the bound address (IPv6 without brackets); `advertised_*` come from `as host:port`.
    `host_for_headers`/`port_for_headers` are what goes into Via, Record-Route and Contact.
    """

    proto: str  # udp, tcp, tls, ws, wss
    ip: str
    port: int
    advertised_host: str | None = None
    advertised_port: int | None = None
    tag: str | None = None

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.ip

    @property
    def host_for_headers(self) -> str:
        host = self.advertised_host or self.ip
        if ":" in host and not host.startswith("["):
            return f"[{host}]"
        return host

    @property
    def port_for_headers(self) -> int:
        return self.advertised_port or self.port

    @property
    def name(self) -> str:
        """OpenSIPS's socket notation, e.g. udp:127.0.0.1:5060 (for $socket_in, logs)."""
        host = f"[{self.ip}]" if self.is_ipv6 else self.ip
        return f"{self.proto}:{host}:{self.port}"

    @property
    def reliable(self) -> bool:
        return self.proto != "udp"


@dataclass(frozen=True, slots=True)
class Destination:
    """Where to send: a transport address, and the connection to reuse when there is one."""

    proto: str
    ip: str
    port: int
    conn_id: int = 0


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


# A reply handler returns True when it consumed the reply (tm matched it to a transaction);
# otherwise the core forwards the reply statelessly by its Via.
ReplyHook = Callable[["SipMessage", "ReceiveInfo"], bool]
# Called with a request before the script runs; returns True when consumed (e.g. a retransmission
# absorbed by tm), so the script does not run.
RequestHook = Callable[["SipMessage", "ReceiveInfo"], bool]
ConnectionClosedHook = Callable[[int], None]
# The bytes of every message received, before it is parsed, and of every message sent, as the
# transport gets them (OpenSIPS's pre/post raw processing callbacks): returns the bytes to use.
RawHook = Callable[[bytes], bytes]
# After a request's main route has ended (its end, exit, drop, or async() taking it over), in the
# request's script greenlet: OpenSIPS's POST_SCRIPT callbacks (dialog drops a dialog whose INVITE
# got no transaction).
RequestDoneHook = Callable[["MsgContext"], None]


@dataclass(slots=True)
class Hooks:
    reply: list[ReplyHook] = field(default_factory=list)
    request: list[RequestHook] = field(default_factory=list)
    connection_closed: list[ConnectionClosedHook] = field(default_factory=list)
    raw_in: list[RawHook] = field(default_factory=list)
    raw_out: list[RawHook] = field(default_factory=list)
    request_done: list[RequestDoneHook] = field(default_factory=list)


class Core(Protocol):
    """The engine as modules see it."""

    sockets: list[Socket]
    hooks: Hooks
    myself: MyselfChecker
    # The script's unnamed onreply_route{} (None when it has none). tm runs it for the replies it
    # matches, with the transaction's flags; the engine runs it for the others.
    onreply_route: Callable[[MsgContext], int] | None
    # a relayed 503 goes up as 500 (False with the core parameter disable_503_translation)
    translate_503: bool

    def now(self) -> float:
        """Monotonic seconds, for timers."""
        ...

    def wall_time(self) -> float: ...

    def send(self, data: bytes, dst: Destination, socket: Socket) -> bool:
        """Queues bytes for sending; False when it failed at once (no such connection, ...)."""
        ...

    def socket_for(self, dst: Destination, ctx: MsgContext | None = None) -> Socket | None:
        """The socket to send from: ctx.force_socket if set, else one of dst's protocol and
        address family (the receiving socket preferred when it fits)."""
        ...

    def resolve(self, uri: str) -> list[Destination]:
        """RFC 3263: a SIP URI (R-URI or $du) to ordered destinations; [] when it cannot."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle: ...

    def run_route(self, ctx: MsgContext, route: Callable[[MsgContext], int]) -> int:
        """Runs a compiled route and the post-script housekeeping (e.g. logging errors)."""
        ...

    # ---- additions (H7): what tm and the reply-sending modules need from the engine

    def via_for(self, socket: Socket, branch: str, ctx: MsgContext | None = None) -> str:
        """Our via-parm for a request leaving through `socket` ("SIP/2.0/UDP host:port;branch=..."),
        with the advertised address and `;rport` when the script called add_local_rport()."""
        ...

    def prepare_relay(self, ctx: MsgContext) -> None:
        """Once per request before it is relayed: add `received`/`rport` to the received top Via
        (RFC 3261 18.2.1, RFC 3581, force_rport()). Idempotent."""
        ...

    def reply_destination(self, ctx: MsgContext) -> Destination:
        """Where a reply to ctx's request goes (RFC 3261 18.2.2: the connection it came on, else
        Via received/rport, else sent-by port)."""
        ...

    def build_reply(self, ctx: MsgContext, code: int, reason: str, to_tag: str | None = None,
                    extra_headers: tuple[str, ...] = (), body: bytes = b"") -> bytes:
        """A reply to ctx's request with the received/rport-fixed top Via and the reply lumps."""
        ...

    def send_reply(self, ctx: MsgContext, data: bytes) -> bool:
        """Sends reply bytes to reply_destination(ctx) from the socket the request came in on."""
        ...

    def set_connection_lifetime(self, conn_id: int, seconds: float) -> bool:
        """Keeps a stream connection open for at least `seconds` more, however idle (registrar's
        tcp_persistent_flag); never shortens. False when there is no such connection."""
        ...
