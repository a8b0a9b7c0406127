"""An engine with in-memory sockets: what it sends is recorded, nothing touches the network."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pysips.core.api import Destination, Socket
from pysips.core.engine import Engine, ManualClock, RouteFn
from pysips.core.resolve import Resolver
from pysips.script.context import ProcessState
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

PROXY = Socket("udp", "127.0.0.1", 5060)
PROXY_V6 = Socket("udp", "::1", 5060)
OTHER = Socket("udp", "127.0.0.2", 5070)
CLIENT = ("127.0.0.1", 40000)


@dataclass(slots=True)
class Sent:
    socket: Socket
    dst: Destination
    data: bytes

    @property
    def msg(self) -> SipMessage:
        parsed = parse_message(self.data)
        assert isinstance(parsed, SipMessage), parsed
        return parsed

    @property
    def first_line(self) -> str:
        return self.data.split(b"\r\n", 1)[0].decode()


@dataclass(slots=True)
class Net:
    engine: Engine
    sent: list[Sent] = field(default_factory=list)

    def deliver(self, data: bytes | str, src: tuple[str, int] = CLIENT, to: Socket = PROXY) -> list[Sent]:
        """One datagram in; returns what the engine sent because of it."""
        if isinstance(data, str):
            data = data.encode()
        before = len(self.sent)
        self.engine.receive(data, ReceiveInfo("udp", to.ip, to.port, src[0], src[1]))
        return self.sent[before:]


def fake_addresses(table: dict[str, list[str]]) -> Any:
    def lookup(host: str) -> tuple[list[str], float]:
        return list(table.get(host, [])), 60.0

    return lookup


def make_net(
    route: RouteFn | None = None,
    sockets: tuple[Socket, ...] = (PROXY, OTHER, PROXY_V6),
    hosts: dict[str, list[str]] | None = None,
    process: ProcessState | None = None,
) -> Net:
    resolver = Resolver({"udp"}, naptr=lambda n: ([], 60.0), srv=lambda n: ([], 60.0),
                        addresses=fake_addresses(hosts or {}))
    engine = Engine(process or ProcessState(), list(sockets), ManualClock(), resolver=resolver,
                    main_route=route, aliases=[("proxy.example.com", None)])
    net = Net(engine)
    for sock in sockets:
        def sender(data: bytes, dst: Destination, sock: Socket = sock) -> bool:
            net.sent.append(Sent(sock, dst, data))
            return True

        engine.attach(sock, sender)
    return net


def request(method: str = "OPTIONS", ruri: str = "sip:bob@127.0.0.1:5060", *,
            via_host: str = "127.0.0.1:40000", via_params: str = ";rport", branch: str = "z9hG4bKabc1",
            extra: str = "", to_tag: str = "",
            max_forwards: int = 70, body: str = "") -> str:
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {via_host};branch={branch}{via_params}\r\n"
        f"Max-Forwards: {max_forwards}\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\n"
        f"To: {to}\r\n"
        "Call-ID: call-1@example.com\r\n"
        f"CSeq: 1 {method}\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )


def script_net(text: str, sockets: tuple[Socket, ...] = (PROXY, OTHER, PROXY_V6)) -> tuple[Net, Any]:
    """An engine running a real script (bundled modules), wired the way the server wires it."""
    from pysips.script.compile import LoadOptions, load_script
    from pysips.script.parse import parse_text

    process = ProcessState()
    net = make_net(None, sockets, process=process)
    loaded = load_script(parse_text(text, "t.cfg"), LoadOptions(myself=net.engine.myself))
    main = loaded.main_route
    net.engine.main_route = main.run if main is not None else None
    loaded.init_modules(process)
    loaded.child_init(process)
    return net, loaded
