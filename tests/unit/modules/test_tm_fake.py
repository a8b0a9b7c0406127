"""The rig for the tm tests: the real engine, sends landing in a list, a manual clock.

Peers: the caller (UAC) at 10.0.0.2:5060, callees at 10.0.0.3:5060 and 10.0.0.4:5060, the proxy
on udp 10.0.0.1:5060. The "script" is a Python callable taking the MsgContext.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pysips.core.api import Destination, Socket
from pysips.core.engine import Engine, ManualClock
from pysips.core.resolve import Resolver
from pysips.script.ast import RouteKind
from pysips.script.context import MsgContext, ProcessState
from pysips.script.exports import ModuleExports, ModuleInitContext, RouteRef
from pysips.script.flags import FlagRegistry
from pysips.script.loader import ModuleFinder
from pysips.sip.build import make_response
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

PROXY = ("10.0.0.1", 5060)
CALLER = ("10.0.0.2", 5060)
ALICE = ("10.0.0.3", 5060)
BOB = ("10.0.0.4", 5060)


def tm_exports() -> ModuleExports:
    found = ModuleFinder().find("tm")
    assert found is not None
    return found.exports


def fn(name: str) -> Callable[..., int]:
    return tm_exports().functions_by_name[name].handler


@dataclass
class Sent:
    data: bytes
    dst: Destination

    @property
    def msg(self) -> SipMessage:
        parsed = parse_message(self.data)
        assert isinstance(parsed, SipMessage), parsed
        return parsed

    @property
    def first_line(self) -> str:
        return self.data.split(b"\r\n", 1)[0].decode()


Script = Callable[[MsgContext], int]


def _no_dns(name: str) -> tuple[list[Any], float]:
    return [], 60.0


class Rig:
    """tm loaded into a real Engine with in-memory sockets and a manual clock; the script is a
    Python callable."""

    def __init__(self, script: Script, params: dict[str, Any] | None = None,
                 onreply_route: Script | None = None) -> None:
        self.process = ProcessState()
        self.clock = ManualClock()
        self.sent: list[Sent] = []
        self.fail_sends_to: set[tuple[str, int]] = set()
        self.script = script
        self._ran: list[MsgContext] = []
        sock = Socket("udp", *PROXY)
        resolver = Resolver({"udp"}, naptr=_no_dns, srv=_no_dns, addresses=_no_dns)
        self.engine = Engine(self.process, [sock], self.clock, resolver=resolver, main_route=self._main,
                             onreply_route=onreply_route, server_header=None)
        self.engine.attach(sock, self._send)
        exports = tm_exports()
        assert exports.init is not None
        merged = {p.name: p.default for p in exports.params}
        merged.update(params or {})
        self.tm: Any = exports.init(ModuleInitContext("tm", self.process, FlagRegistry(), None), merged)
        self.process.modules["tm"] = self.tm

    def _send(self, data: bytes, dst: Destination) -> bool:
        if (dst.ip, dst.port) in self.fail_sends_to:
            return False
        self.sent.append(Sent(data, dst))
        return True

    def _main(self, ctx: MsgContext) -> int:
        self._ran.append(ctx)
        return self.script(ctx)

    def receive(self, data: bytes, src: tuple[str, int]) -> MsgContext | None:
        """One datagram in; the script's context when the main route ran for it."""
        before = len(self._ran)
        self.engine.receive(data, ReceiveInfo("udp", PROXY[0], PROXY[1], src[0], src[1]))
        return self._ran[-1] if len(self._ran) > before else None

    def take(self) -> list[Sent]:
        out, self.sent = self.sent, []
        return out

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def answer(self, request: Sent, code: int, reason: str, to_tag: str | None = "callee",
               body: bytes = b"") -> bytes:
        """The callee's reply to a request the proxy sent it."""
        return make_response(request.msg, code, reason, to_tag=to_tag, body=body)


def route(kind: RouteKind, body: Script, name: str = "r") -> RouteRef:
    return RouteRef(kind, name, run=body)


def invite(call_id: str = "call-1", branch: str = "z9hG4bKcaller1", ruri: str = "sip:bob@10.0.0.3",
           method: str = "INVITE", cseq: int = 1, to_tag: str | None = None, extra: str = "") -> bytes:
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    body = b"v=0\r\n" if method == "INVITE" else b""
    head = (
        f"{method} {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 10.0.0.2:5060;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@example.com>;tag=caller\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:alice@10.0.0.2>\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def cancel_of(invite_bytes: bytes) -> bytes:
    msg = parse_message(invite_bytes)
    assert isinstance(msg, SipMessage)
    return (
        f"CANCEL {msg.ruri} SIP/2.0\r\n"
        f"Via: {msg.vias[0].text}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: {msg.header('From')}\r\n"
        f"To: {msg.header('To')}\r\n"
        f"Call-ID: {msg.call_id}\r\n"
        f"CSeq: {msg.cseq.number} CANCEL\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def ack_for(invite_bytes: bytes, reply: SipMessage) -> bytes:
    """The caller's hop-by-hop ACK for a non-2xx final (same branch as the INVITE)."""
    msg = parse_message(invite_bytes)
    assert isinstance(msg, SipMessage)
    return (
        f"ACK {msg.ruri} SIP/2.0\r\n"
        f"Via: {msg.vias[0].text}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: {msg.header('From')}\r\n"
        f"To: {reply.header('To')}\r\n"
        f"Call-ID: {msg.call_id}\r\n"
        f"CSeq: {msg.cseq.number} ACK\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
