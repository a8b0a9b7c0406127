"""event_datagram: Event Interface subscribers over UDP or a UNIX datagram socket (OpenSIPS
`event_datagram`).

`subscribe_event("E_X", "udp:10.0.0.5:8081")` (or `"unix:/path"`) makes every raise of E_X send
one datagram holding a JSON-RPC notification: `{"jsonrpc":"2.0","method":"E_X","params":...}`,
params an object when the parameters have names, else an array; integers as numbers. Addresses
are resolved (IPv4) when subscribing; datagrams leave from a socket of the module's own,
non-blocking, as OpenSIPS's do. The module has no parameters and no functions.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

from pysips.script.events import EventParam, events_of
from pysips.script.exports import ModuleExports, ModuleInitContext

log = logging.getLogger("pysips.event_datagram")

MAX_DATAGRAM = 65457


def build_payload(event: str, params: list[EventParam]) -> bytes:
    """The notification, printed compactly as cJSON does (repeated names are kept)."""

    def value(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, int):
            return str(v)
        return json.dumps(v, ensure_ascii=False)

    head = '{"jsonrpc":"2.0","method":' + json.dumps(event, ensure_ascii=False)
    if not params:
        return (head + "}").encode("utf-8", "surrogateescape")
    if params[0][0] is None:
        body = "[" + ",".join(value(v) for _, v in params) + "]"
    else:
        body = "{" + ",".join(f"{json.dumps(n or '', ensure_ascii=False)}:{value(v)}"
                              for n, v in params) + "}"
    return (head + ',"params":' + body + "}").encode("utf-8", "surrogateescape")


class DatagramTransport:
    """One Event Interface transport ("udp" or "unix") and its sending socket."""

    def __init__(self, family: int) -> None:
        self.family = family
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sent = 0

    def parse(self, address: str) -> Any:
        if self.family == socket.AF_UNIX:
            if not address:
                log.error("malformed address %s", address)
                return None
            return address
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            log.error("malformed address %s", address)
            return None
        try:
            found = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_DGRAM)
        except OSError:
            log.error("cannot resolve host %s", host)
            return None
        return found[0][4]

    def deliver(self, event: str, target: Any, params: list[EventParam]) -> bool:
        data = build_payload(event, params)
        if len(data) > MAX_DATAGRAM:
            log.error("event %s is too big for a datagram (%d bytes)", event, len(data))
            return False
        try:
            self.sock.sendto(data, target)
        except OSError as exc:
            log.error("Cannot raise datagram event due to %s", exc)
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        self.sock.close()


class EventDatagram:
    """What process.modules["event_datagram"] holds."""

    def __init__(self) -> None:
        self.udp = DatagramTransport(socket.AF_INET)
        self.unix = DatagramTransport(socket.AF_UNIX)


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> EventDatagram:
    runtime = EventDatagram()
    events = events_of(mctx.process)
    if events is None:
        raise RuntimeError("event_datagram: the event interface is not initialised")
    events.add_transport("udp", runtime.udp)
    events.add_transport("unix", runtime.unix)
    return runtime


exports = ModuleExports("event_datagram", init=_init, doc="Event Interface transport over UDP/UNIX datagrams")
