"""The round-robin position of every set, one for the server under worker processes
(pysips.core.services.SHARED_STATE), as OpenSIPS's shared memory has it.

OpenSIPS keeps each set's position (`last`, with each destination's `rr_count`) in shared
memory: consecutive calls through ds_select_dst(set, 4) go to consecutive destinations whichever
process handles them. Here the main process (the owner) keeps the position of every set:

- a worker's rotation step (algorithm 4, or 5 without credentials) is sent to it ("rr"); it
  takes the step on its copy, in the order the workers' steps reach it, and answers the index
  chosen (SHARED_STATE's `resolve`). The worker's script waits for the answer, suspended: other
  messages go on meanwhile. Its own copy's position is left alone;
- every other algorithm sets the position too (OpenSIPS: `idx->last = ds_id`). Once a set has
  rotated (the owner relays "rotates" the first time) a worker choosing in it with another
  algorithm tells the owner where it left the position ("last"), without waiting: a set never
  used by a rotation costs nothing;
- a reload replaces the sets (sharing.py), positions and counts at zero, as OpenSIPS's new data
  are.
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import SharedChannel, SharedStateService

from .rotation import rotation_step
from .runtime import NO_DESTINATION, Dispatcher, Partition
from .sets import DsSet

CHANNEL = "dispatcher_rotation"


class RotationSharing:
    __slots__ = ("_channel", "_ds")

    def __init__(self, ds: Dispatcher, shared: SharedStateService) -> None:
        self._ds = ds
        self._channel: SharedChannel = shared.share(CHANNEL, self.apply, list, resolve=self.resolve)
        if not shared.owner:
            ds.rotate = self.rotate
            ds.position_moved = self.position_moved

    # ------------------------------------------------------------------ a worker

    def rotate(self, part: Partition, set_id: int, alg: int, use_default: bool) -> int | None:
        answer = self._channel.publish(("rr", part.name, set_id, alg, use_default))
        return answer if isinstance(answer, int) else None

    def position_moved(self, part: Partition, ds_set: DsSet) -> None:
        self._channel.publish(("last", part.name, ds_set.id, ds_set.last), wait=False)

    def apply(self, change: Any) -> None:
        _, part_name, set_id = change  # ("rotates", ...): the only change relayed
        ds_set = self._set(part_name, set_id)
        if ds_set is not None:
            ds_set.rotates = True

    # ------------------------------------------------------------------ the owner

    def resolve(self, change: Any) -> tuple[Any, Any]:
        """A worker's rotation step (answered with the index) or position ("last")."""
        ds_set = self._set(change[1], change[2])
        if ds_set is None:
            return None, None  # a set gone by a reload: the worker steps on its own copy
        if change[0] == "last":
            if change[3] < len(ds_set.dests):
                ds_set.last = change[3]
            return None, None
        _, part_name, set_id, alg, use_default = change
        index = rotation_step(ds_set, alg, use_default)
        relayed = None
        if not ds_set.rotates:
            ds_set.rotates = True
            relayed = ("rotates", part_name, set_id)
        return relayed, NO_DESTINATION if index is None else index

    def _set(self, part_name: str, set_id: int) -> DsSet | None:
        part = self._ds.partition(part_name)
        return part.sets.get(set_id) if part is not None else None
