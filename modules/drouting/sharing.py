"""drouting's gateway and carrier states across worker processes
(pysips.core.services.SHARED_STATE).

OpenSIPS keeps the routing data in shared memory: a gateway that dr_disable(), MI dr_gw_status
or the prober disabled, a carrier MI dr_carrier_status turned off, is left out by do_routing()
in every process. Here each process has a copy and publishes what it changes, as it now is
("gw": a gateway's state flags, "cr": a carrier's); after MI dr_reload, run by the main process,
the data it loaded ("data") replaces every worker's (one database read, the same data
everywhere). A worker that starts gets the data first (snapshot). The main process marks what
a worker changed for its write-back.
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import SharedChannel, SharedStateService

from .data import CR_OFF, STAT_DIRTY, STAT_DSBL, STAT_NOEN, Carrier, Gateway
from .routing import DRouting

CHANNEL = "drouting_states"
_GW_STATE = STAT_DSBL | STAT_NOEN


class DrSharing:
    __slots__ = ("_channel", "_dr", "_owner")

    def __init__(self, dr: DRouting, shared: SharedStateService) -> None:
        self._dr = dr
        self._owner = shared.owner
        dr.owner = shared.owner
        self._channel: SharedChannel = shared.share(CHANNEL, self.apply, self.snapshot)
        dr.on_gateway = self.gateway_changed
        dr.on_carrier = self.carrier_changed
        if shared.owner:
            dr.on_reload = self.reloaded

    # a worker's changes come from its script (dr_disable()): it waits until every worker has
    # them queued; the main process's publish never waits (MI, the prober's reply callbacks)

    def gateway_changed(self, gw: Gateway) -> None:
        self._channel.publish(("gw", gw.id, gw.address, gw.flags & _GW_STATE))

    def carrier_changed(self, cr: Carrier) -> None:
        self._channel.publish(("cr", cr.id, cr.flags & CR_OFF))

    def reloaded(self) -> None:
        self._channel.publish(("data", self._dr.data, self._dr.last_reload), wait=False)

    def apply(self, change: Any) -> None:
        kind = change[0]
        if kind == "data":
            self._dr.data, self._dr.last_reload = change[1], change[2]
        elif kind == "gw":
            gw = self._dr.data.gateways.get(change[1])
            if gw is not None and gw.address == change[2] and gw.flags & _GW_STATE != change[3]:
                gw.flags = (gw.flags & ~_GW_STATE) | change[3] | (STAT_DIRTY if self._owner else 0)
        elif kind == "cr":
            cr = self._dr.data.carriers.get(change[1])
            if cr is not None and cr.flags & CR_OFF != change[2]:
                cr.flags = (cr.flags & ~CR_OFF) | change[2]
                cr.dirty = self._owner

    def snapshot(self) -> list[Any]:
        return [("data", self._dr.data, self._dr.last_reload)]
