"""Shared fakes for the usrloc / registrar / nathelper tests (no test functions here).

`Fx` wires the three modules over a fake engine that records what it sends and keeps a manual
clock; REGISTERs are real parsed messages run through hand-made MsgContexts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pysips.core.api import Destination, Hooks, Socket
from pysips.core.replies import REPLY_HEADERS
from pysips.script.context import MsgContext, ProcessState
from pysips.script.exports import FixupContext, ModuleExports, ModuleInitContext
from pysips.script.flags import FlagKind, FlagRegistry
from pysips.script.loader import ModuleFinder
from pysips.sip.build import make_response
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

T0 = 1_700_000_000.0
PROXY = Socket("udp", "192.0.2.1", 5060)
PROXY_WS = Socket("ws", "192.0.2.1", 8080)
PROXY_TCP = Socket("tcp", "192.0.2.1", 5060)


def module(name: str) -> ModuleExports:
    found = ModuleFinder().find(name)
    assert found is not None, name
    return found.exports


def fn(mod: str, name: str) -> Callable[..., int]:
    return module(mod).functions_by_name[name].handler


@dataclass
class FakeTimer:
    at: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Sent:
    data: bytes
    dst: Destination
    socket: Socket

    @property
    def msg(self) -> SipMessage:
        parsed = parse_message(self.data)
        assert isinstance(parsed, SipMessage), parsed
        return parsed


@dataclass
class FakeCore:
    sockets: list[Socket] = field(default_factory=lambda: [PROXY, PROXY_WS, PROXY_TCP])
    hooks: Hooks = field(default_factory=Hooks)
    mono: float = 100.0
    wall: float = T0
    sent: list[Sent] = field(default_factory=list)
    timers: list[FakeTimer] = field(default_factory=list)

    def now(self) -> float:
        return self.mono

    def wall_time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        """Moves both clocks and fires due timers (in time order)."""
        self.mono += seconds
        self.wall += seconds
        while True:
            due = [t for t in self.timers if not t.cancelled and t.at <= self.mono]
            if not due:
                return
            timer = min(due, key=lambda t: t.at)
            self.timers.remove(timer)
            timer.callback()

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(when, callback)
        self.timers.append(timer)
        return timer

    def send(self, data: bytes, dst: Destination, socket: Socket) -> bool:
        self.sent.append(Sent(data, dst, socket))
        return True

    def socket_for(self, dst: Destination, ctx: MsgContext | None = None) -> Socket | None:
        for sock in self.sockets:
            if sock.proto == dst.proto:
                return sock
        return None

    def resolve(self, uri: str) -> list[Destination]:
        return []

    def via_for(self, socket: Socket, branch: str, ctx: MsgContext | None = None) -> str:
        return f"SIP/2.0/{socket.proto.upper()} {socket.host_for_headers}:{socket.port};branch={branch}"

    def build_reply(self, ctx: MsgContext, code: int, reason: str, to_tag: str | None = None,
                    extra_headers: tuple[str, ...] = (), body: bytes = b"") -> bytes:
        # as the engine: the request's reply lumps go into every local reply
        lumps = tuple(ctx.extra.get(REPLY_HEADERS) or ())
        return make_response(ctx.msg, code, reason, to_tag=to_tag or "sl",
                             extra_headers=extra_headers + lumps, body=body)

    def send_reply(self, ctx: MsgContext, data: bytes) -> bool:
        assert ctx.rcv is not None
        dst = Destination(ctx.rcv.proto, ctx.rcv.src_ip, ctx.rcv.src_port, ctx.rcv.conn_id)
        return self.send(data, dst, self.sockets[0])

    def replies(self) -> list[SipMessage]:
        out = [s.msg for s in self.sent if s.data.startswith(b"SIP/2.0")]
        self.sent.clear()
        return out


class Fx:
    """usrloc + registrar (+ nathelper) initialised over one process and fake engine."""

    def __init__(self, ul: dict[str, Any] | None = None, reg: dict[str, Any] | None = None,
                 nh: dict[str, Any] | None = None, core: bool = True) -> None:
        self.flags = FlagRegistry()
        self.nat_bit = self.flags.bit(FlagKind.BRANCH, "NAT")
        self.ws_bit = self.flags.bit(FlagKind.BRANCH, "DST_WS")
        self.process = ProcessState()
        self.core = FakeCore() if core else None
        self.process.core = self.core
        self.init("signaling", {})  # registrar requires it (its REPLIES service), as in OpenSIPS
        # AORs with their domain: these tests were written that way (OpenSIPS's default is 0)
        self.init("usrloc", {"nat_bflag": self.nat_bit, "use_domain": 1, **(ul or {})})
        self.init("registrar", reg or {})
        if nh is not None:
            self.init("nathelper", nh)

    def init(self, name: str, params: dict[str, Any]) -> Any:
        exports = module(name)
        merged: dict[str, Any] = {p.name: ([] if p.multi else p.default) for p in exports.params}
        merged.update(params)
        for p in exports.params:
            if p.check is not None and params.get(p.name) is not None:
                merged[p.name] = p.check(merged[p.name])
        assert exports.init is not None
        obj = exports.init(ModuleInitContext(name, self.process, self.flags, None), merged)
        self.process.modules[name] = obj
        return obj

    @property
    def ul(self) -> Any:
        return self.process.modules["usrloc"]

    def ctx(self, data: str | bytes, src: tuple[str, int] = ("198.51.100.7", 5060), proto: str = "udp",
            conn_id: int = 0, now: float | None = None) -> MsgContext:
        raw = data.encode() if isinstance(data, str) else data
        msg = parse_message(raw)
        assert isinstance(msg, SipMessage), msg
        local = {"ws": PROXY_WS, "tcp": PROXY_TCP}.get(proto, PROXY)
        rcv = ReceiveInfo(proto, local.ip, local.port, src[0], src[1], conn_id)
        wall = now if now is not None else (self.core.wall if self.core is not None else T0)
        return MsgContext(self.process, msg, rcv, now=wall)

    def save(self, data: str, *args: Any, **kw: Any) -> tuple[int, MsgContext]:
        ctx = self.ctx(data, **kw)
        flags = args[0] if args else None
        from_flags = module("registrar").functions_by_name["save"].args[1].fixup
        assert from_flags is not None
        fixed = from_flags(flags, FixupContext(FlagRegistry(), {})) if flags is not None else None
        ret = fn("registrar", "save")(ctx, "location", fixed, *args[1:])
        return ret, ctx

    def lookup(self, data: str, flags: str | None = None, aor: str | None = None,
               **kw: Any) -> tuple[int, MsgContext]:
        ctx = self.ctx(data, **kw)
        fix = module("registrar").functions_by_name["lookup"].args[1].fixup
        assert fix is not None
        fixed = fix(flags, FixupContext(FlagRegistry(), {})) if flags is not None else None
        return fn("registrar", "lookup")(ctx, "location", fixed, aor), ctx


def register(user: str = "alice", contact: str = "<sip:alice@198.51.100.7:5060>", *, call_id: str = "reg-1",
             cseq: int = 1, expires: int | None = None, extra: str = "", domain: str = "example.com",
             contacts: list[str] | None = None) -> str:
    lines = [
        f"REGISTER sip:{domain} SIP/2.0",
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK" + f"{call_id}{cseq};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{domain}>;tag=f{cseq}",
        f"To: <sip:{user}@{domain}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
    ]
    for c in contacts if contacts is not None else [contact]:
        lines.append(f"Contact: {c}")
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if extra:
        lines.extend(extra.strip("\r\n").split("\r\n"))
    lines.append("Content-Length: 0")
    return "\r\n".join(lines) + "\r\n\r\n"


def invite(ruri: str = "sip:alice@example.com", method: str = "INVITE", extra: str = "") -> str:
    return (
        f"{method} {ruri} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKinv1\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:bob@example.com>;tag=b1\r\n"
        "To: <sip:alice@example.com>\r\n"
        "Call-ID: inv-1\r\n"
        f"CSeq: 1 {method}\r\n"
        "Contact: <sip:bob@203.0.113.5:5060>\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    )


def contacts_of(reply: SipMessage) -> dict[str, dict[str, str | None]]:
    parsed = reply.contacts()
    assert isinstance(parsed, list), parsed
    return {c.uri: c.params for c in parsed}
