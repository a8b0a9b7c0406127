"""The event interface (OpenSIPS evi): events published by the core, modules and scripts, and their
subscribers.

An event is known once published (a module at init, or a script's `raise_event("E_X")` or
`subscribe_event("E_X", ...)` at load time). Subscribers are reached through a transport named by the
prefix of their socket: `route:NAME` (built in) runs `event_route[NAME]`; modules may register more
(`udp:` for event_datagram ...). Every `event_route[E_X]` block of the script is subscribed to E_X
for good when the script starts.

Raising an event with no subscriber does nothing. Delivery to an event_route is not done inside the
raiser's route: as OpenSIPS hands it to another process, `schedule` runs it after the current work
(the engine sets it to its loop; by default, e.g. in tests, it runs at once). The route runs with no
SIP message, fresh AVPs, and the event's parameters as `$param(name)` and `$param(N)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pysips.script.context import MsgContext, ProcessState, RouteType, Value

log = logging.getLogger("pysips.script.events")

# One parameter of a raised event: (name or None, value).
EventParam = tuple[str | None, Value]
RouteRunner = Callable[[MsgContext], int]


class Transport(Protocol):
    """How events reach one kind of subscriber socket (`udp:...`, `route:...`)."""

    def parse(self, address: str) -> Any:
        """The subscriber's address, parsed; None (after logging why) when it is not valid."""
        ...

    def deliver(self, event: str, target: Any, params: list[EventParam]) -> bool: ...


@dataclass(slots=True)
class Subscriber:
    proto: str
    address: str
    target: Any
    expires_at: float | None  # None: never


class RouteTransport:
    """`route:NAME`: runs the script's `event_route[NAME]`."""

    def __init__(self, interface: EventInterface) -> None:
        self._events = interface

    def parse(self, address: str) -> Any:
        run = self._events.routes.get(address)
        if run is None:
            log.error("cannot find route %s", address)
        return run

    def deliver(self, event: str, target: Any, params: list[EventParam]) -> bool:
        self._events.schedule(lambda: self._events.run_event_route(target, event, params))
        return True


class EventInterface:
    """Per process: published events, transports, subscribers, the script's event routes."""

    def __init__(self, process: ProcessState, clock: Callable[[], float]) -> None:
        self.process = process
        self.clock = clock  # wall-clock seconds, for subscription expiry
        self.published: set[str] = set()
        self.routes: dict[str, RouteRunner] = {}
        self.transports: dict[str, Transport] = {"route": RouteTransport(self)}
        self._subscribers: dict[str, list[Subscriber]] = {}
        self.schedule: Callable[[Callable[[], None]], None] = lambda work: work()
        # set by the owner of the routes: runs a compiled route on a fresh context
        self.route_runner: Callable[[RouteRunner, MsgContext], int] = lambda run, ctx: run(ctx)

    def publish(self, event: str) -> None:
        self.published.add(event)

    def add_event_route(self, event: str, run: RouteRunner) -> None:
        """`event_route[E_X]`: E_X is published and its route subscribed, never expiring."""
        self.routes[event] = run
        self.publish(event)
        self.subscribe(event, f"route:{event}", 0)

    def add_transport(self, proto: str, transport: Transport) -> None:
        self.transports[proto] = transport

    def subscribe(self, event: str, socket: str, expire: int) -> int:
        """1 subscribed (or refreshed), -1 unknown event, transport or bad address."""
        if event not in self.published:
            log.error("invalid event name <%s>", event)
            return -1
        proto, sep, address = socket.partition(":")
        transport = self.transports.get(proto) if sep else None
        if transport is None:
            log.error("couldn't find a protocol to support %s", socket)
            return -1
        target = transport.parse(address)
        if target is None:
            return -1
        expires_at = self.clock() + expire if expire > 0 else None
        subs = self._subscribers.setdefault(event, [])
        for sub in subs:
            if sub.proto == proto and sub.address == address:
                sub.expires_at = expires_at
                return 1
        subs.insert(0, Subscriber(proto, address, target, expires_at))
        return 1

    def _live(self, event: str) -> list[Subscriber]:
        subs = self._subscribers.get(event)
        if not subs:
            return []
        now = self.clock()
        alive = [s for s in subs if s.expires_at is None or s.expires_at > now]
        if len(alive) != len(subs):
            self._subscribers[event] = alive
        return alive

    def has_subscribers(self, event: str) -> bool:
        return bool(self._live(event))

    def raise_event(self, event: str, params: list[EventParam]) -> int:
        """Deliver to every subscriber; 1 when delivered (or nobody listens), -1 on failure."""
        if event not in self.published:
            log.error("event %s is not published", event)
            return -1
        ok = True
        for sub in self._live(event):
            transport = self.transports.get(sub.proto)
            if transport is None or not transport.deliver(event, sub.target, params):
                log.error("cannot raise event %s to %s:%s", event, sub.proto, sub.address)
                ok = False
        return 1 if ok else -1

    def run_event_route(self, run: RouteRunner, event: str, params: list[EventParam]) -> None:
        ctx = MsgContext(self.process, None, None, RouteType.EVENT, self.clock())
        ctx.event_params = {name: value for name, value in reversed(params) if name is not None}
        ctx.params = tuple(value for _, value in params)
        try:
            self.route_runner(run, ctx)
        except Exception:
            log.exception("error while running event_route[%s]", event)


def events_of(process: ProcessState) -> EventInterface | None:
    found = process.events
    return found if isinstance(found, EventInterface) else None


# ---------------------------------------------------------------------------------------------
# The script functions
# ---------------------------------------------------------------------------------------------


def _interface(ctx: MsgContext) -> EventInterface | None:
    events = events_of(ctx.process)
    if events is None:
        log.error("no event interface in this process (the script was only checked?)")
    return events


def w_raise_event(ctx: MsgContext, event: str, attrs: Any = None, vals: Any = None) -> int:
    """raise_event(event, [attrs_avp], [vals_avp]): the values (newest AVP first) become the
    parameters, named by the attrs AVP's values in the same order; no vals, no parameters."""
    events = _interface(ctx)
    if events is None:
        return -1
    events.publish(event)
    params: list[EventParam] = []
    if vals is not None:
        values = vals.get_all(ctx)
        names = attrs.get_all(ctx) if attrs is not None else None
        for i, value in enumerate(values):
            name: str | None = None
            if names is not None:
                if i >= len(names):
                    log.error("missing attribute")
                    return -1
                if not isinstance(names[i], str):
                    log.error("invalid attribute name - must be string")
                    return -1
                name = str(names[i])
            params.append((name, value))
        if names is not None and len(names) > len(values):
            log.error("too many attribute names")
    if events.raise_event(event, params) < 0:
        log.error("cannot raise event")
        return -1
    return 1


def w_subscribe_event(ctx: MsgContext, event: str, socket: str, expire: int | None = None) -> int:
    events = _interface(ctx)
    if events is None:
        return -1
    events.publish(event)
    return events.subscribe(event, socket, expire or 0)
