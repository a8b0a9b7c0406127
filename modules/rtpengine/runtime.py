"""The rtpengine runtime of one process (process.modules["rtpengine"]): daemon sets, the transport,
and the exchange with failover.

A daemon that does not answer is logged, disabled for `rtpengine_disable_tout` seconds and the next
daemon of the set is tried; a daemon answering with an overload error ("Ran out of ports" ...) is
skipped for this command only. When no daemon is left the function fails (-1); nothing raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pysips.core.suspend import wait
from pysips.script.context import MsgContext, Value
from pysips.script.pv_base import PVAccessor

from .bencode import BencodeError, BValue
from .flags import DELETE
from .ng_client import NgTransport, resolve_endpoint, resolve_endpoint_async
from .sets import DEFAULT_SET, Node, NodeSet, select_node

log = logging.getLogger("pysips.modules.rtpengine")

# Errors after which OpenSIPS moves the command to another daemon of the set.
FAILOVER_ERRORS = (
    "parallel session limit reached",
    "ran out of ports",
    "cpu usage limit exceeded",
    "load limit exceeded",
    "bandwidth limit exceeded",
)

SET_KEY = "rtpengine.set"  # ctx.extra: the set chosen by rtpengine_use_set() for this message
STATS_KEY = "rtpengine.stats"  # ctx.extra: the last delete/query reply, for $rtpstat

# Whether the script reads a call's statistics ($rtpstat, $rtpquery): set when such a variable is
# compiled and never cleared, as OpenSIPS's rtpengine_stats_used. Until then a delete's reply is
# checked whole but its statistics (some 260 values, 1.8 KB) are not built, nor kept: nothing
# could read them, and building them was most of the NG decoding time (docs/performance.md).
_stats_wanted = False


def want_stats() -> None:
    global _stats_wanted
    _stats_wanted = True


def stats_wanted() -> bool:
    return _stats_wanted


class RtpEngine:
    __slots__ = (
        "clock",
        "disable_tout",
        "extra_failover",
        "extra_id",
        "on_change",
        "setid_avp",
        "sets",
        "transport",
    )

    def __init__(
        self,
        sets: dict[int, NodeSet],
        transport: NgTransport,
        disable_tout: float,
        setid_avp: str | None = None,
        extra_id: Callable[[MsgContext], str] | None = None,
        extra_failover: tuple[Any, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sets = sets
        self.transport = transport
        self.disable_tout = disable_tout
        self.setid_avp = setid_avp
        self.extra_id = extra_id
        self.extra_failover = extra_failover  # compiled regular expressions
        self.clock = clock
        # worker processes: a daemon's state changed here goes to the others (sharing.py)
        self.on_change: Callable[[Node], None] | None = None

    def resolve_all(self) -> None:
        for nodeset in self.sets.values():
            for node in nodeset.nodes:
                try:
                    node.endpoint = resolve_endpoint(node.host, node.port, node.ipv6)
                except OSError as exc:
                    log.error("cannot resolve rtpengine <%s>: %s", node.url, exc)

    def set_by_id(self, set_id: int) -> NodeSet | None:
        return self.sets.get(set_id)

    def current_set(self, ctx: MsgContext) -> NodeSet | None:
        chosen = ctx.extra.get(SET_KEY)
        if isinstance(chosen, NodeSet):
            return chosen
        if self.setid_avp is not None:
            values = ctx.avps.get(self.setid_avp)
            if values:
                value = values[0]
                if not isinstance(value, int):
                    log.error("setid_avp must hold an integer value")
                    return None
                nodeset = self.sets.get(value)
                if nodeset is None:
                    log.error("could not locate rtpengine set %d", value)
                return nodeset
        nodeset = self.sets.get(DEFAULT_SET)
        if nodeset is None:
            log.error("script error -no valid set selected")
        return nodeset

    # ------------------------------------------------------------------ the exchange

    def _send(self, node: Node, command: dict[str, BValue], retries: int | None = None) -> (
        dict[str, BValue] | None
    ):
        if node.endpoint is None:
            try:
                node.endpoint = wait(resolve_endpoint_async(node.host, node.port, node.ipv6))
            except OSError as exc:
                log.error("cannot resolve rtpengine <%s>: %s", node.url, exc)
                return None
        flat = not _stats_wanted and command.get("command") == DELETE
        try:
            # suspends this message's script until the daemon answers or the attempts run out
            return wait(self.transport.exchange(node.index, node.endpoint, command, retries, flat))
        except BencodeError as exc:
            log.error("failed to decode bencoded reply from proxy <%s>: %s", node.url, exc)
            return None

    def _disable(self, node: Node) -> None:
        log.error("proxy <%s> does not respond, disable it", node.url)
        node.disabled = True
        node.recheck_at = self.clock() + self.disable_tout
        if self.on_change is not None:
            self.on_change(node)

    def ping(self, node: Node) -> bool:
        """One attempt: a quarantined daemon should not block the worker for all the retries."""
        reply = self._send(node, {"command": "ping"}, retries=1)
        if reply is None or reply.get("result") != "pong":
            log.error("proxy <%s> did not respond to ping", node.url)
            return False
        log.info("rtpengine <%s> found, support for it re-enabled", node.url)
        return True

    def _is_failover_error(self, reason: str) -> bool:
        lowered = reason.lower()
        if lowered in FAILOVER_ERRORS:
            return True
        return any(rx.search(reason) for rx in self.extra_failover)

    def call(
        self,
        ctx: MsgContext,
        command: dict[str, BValue],
        call_id: str,
        sock_var: PVAccessor | None = None,
        nodeset: NodeSet | None = None,
    ) -> dict[str, BValue] | None:
        """Send to a daemon of the current set, failing over; the reply (result "ok" or not), or
        None when no daemon answered."""
        if nodeset is None:
            nodeset = self.current_set(ctx)
            if nodeset is None:
                return None
        forced: Value = sock_var.get(ctx) if sock_var is not None else None
        skip: set[int] = set()
        is_offer = command.get("command") == "offer"
        while True:
            node: Node | None = None
            if forced:
                node = nodeset.find(str(forced))
                forced = None
                if node is not None and (node.disabled and self.clock() < node.recheck_at):
                    node = None
                if node is None and not is_offer:
                    log.error("rtpengine socket %s is not available", sock_var.name if sock_var else "")
                    return None
            if node is None:
                node = select_node(
                    nodeset, call_id, skip, self.clock(), self.ping, self.disable_tout, self.on_change
                )
            if node is None:
                log.error("no available proxies")
                return None
            reply = self._send(node, command)
            if reply is None:
                self._disable(node)
                skip.add(node.index)
                continue
            if reply.get("result") == "error":
                reason = reply.get("error-reason")
                if not isinstance(reason, str):
                    log.error("proxy return error but didn't give an error reason: %r", reply)
                    return reply
                log.error("proxy replied with error: %s", reason)
                if self._is_failover_error(reason):
                    skip.add(node.index)
                    continue
                return reply
            if sock_var is not None:
                sock_var.set(ctx, node.url)
            return reply
