"""The load balancer's destinations across worker processes (pysips.core.services.SHARED_STATE).

OpenSIPS keeps them in shared memory: a destination that lb_disable_dst(), MI lb_status or the
prober disabled is left out by lb_start() in every process. Here each process has a copy and
publishes what it changes, as it now is: a state ("st": the flags), a capacity (MI lb_resize,
"res"), and after MI lb_reload, run by the main process, the destinations it loaded ("dests"),
which replace every worker's (one database read, the same data everywhere). A worker that
starts gets the destinations first (snapshot). The loads need nothing: they are dialog
profiles, which the dialog module shares.
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import SharedChannel, SharedStateService

from .data import LbDestination
from .runtime import LoadBalancer

CHANNEL = "load_balancer_states"


class LbSharing:
    __slots__ = ("_channel", "_lb")

    def __init__(self, lb: LoadBalancer, shared: SharedStateService) -> None:
        self._lb = lb
        lb.owner = shared.owner
        self._channel: SharedChannel = shared.share(CHANNEL, self.apply, self.snapshot)
        lb.on_change = self.changed
        lb.on_resize = self.resized
        if shared.owner:
            lb.on_reload = self.reloaded

    # a worker's changes come from its script (lb_disable_dst): it waits until every worker has
    # them queued; the main process's publish never waits (MI, the prober's reply callbacks)

    def changed(self, dst: LbDestination) -> None:
        self._channel.publish(("st", dst.id, dst.uri, dst.flags))

    def resized(self, dst: LbDestination, name: str) -> None:
        self._channel.publish(("res", dst.id, dst.uri, name, dst.resources[name]))

    def reloaded(self) -> None:
        self._channel.publish(("dests", self._lb.destinations), wait=False)

    def apply(self, change: Any) -> None:
        if change[0] == "dests":
            self._lb.install(change[1])
            return
        dst = self._lb.by_id(change[1])
        if dst is None or dst.uri != change[2]:
            return  # reloaded meanwhile: not the same destination
        if change[0] == "st":
            dst.flags = change[3]
        elif change[0] == "res":
            dst.resources[change[3]] = change[4]

    def snapshot(self) -> list[Any]:
        return [("dests", self._lb.destinations)]
