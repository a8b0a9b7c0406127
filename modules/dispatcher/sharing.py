"""The dispatcher's destination states across worker processes (pysips.core.services.SHARED_STATE).

OpenSIPS keeps the sets in shared memory: a destination that ds_mark_dst(), MI or the prober
took down is skipped by ds_select_dst() in every process, and ds_probing_threshold counts the
failures of every process on one counter. Here each process has a copy of the sets and the main
process (the owner) decides:

- a worker applies its change to its own copy at once (the script goes on with it) and sends the
  operation ("op": the set_state arguments); the owner resolves it (SHARED_STATE's `resolve`):
  applied to its copy in the order the workers' operations reached it, it becomes the outcome
  ("st": flags and failure count) that every worker, the sender included, takes as it is, the
  sender before its publish returns. Failures counted by two workers at once both count, and
  every copy ends as the owner's;
- a change made in the owner (MI ds_set_state, the prober) is published as its outcome;
- after MI ds_reload (run by the main process) the owner publishes the sets it loaded ("sets"),
  which replace every worker's: one database read, the same data everywhere. A worker that
  starts gets the same message first (snapshot);
- script attributes (ds_push_script_attrs) are published as they are set ("attrs").
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import SharedChannel, SharedStateService

from .runtime import Dispatcher, Partition
from .sets import INACTIVE, PROBING, Destination

CHANNEL = "dispatcher_states"


class DsSharing:
    __slots__ = ("_channel", "_ds", "_owner", "_resolving")

    def __init__(self, ds: Dispatcher, shared: SharedStateService) -> None:
        self._ds = ds
        self._owner = shared.owner
        ds.owner = shared.owner
        self._resolving = False  # the owner applying a worker's operation (its outcome is the answer)
        self._channel: SharedChannel = shared.share(CHANNEL, self.apply, self.snapshot,
                                                    resolve=self.resolve)
        ds.on_state = self.state_changed
        ds.on_attrs = self.attrs_set
        if shared.owner:
            ds.on_reload = self.reloaded

    # ------------------------------------------------------------------ this process's changes

    def state_changed(self, part: Partition, group: int, uri: str, state: int, turn_on: bool,
                      count_failure: bool) -> None:
        if self._resolving:
            return
        if self._owner:
            self._publish_outcome(part, group, uri)
        else:
            # a worker's changes come from its script: it waits until the owner has the outcome
            # and every worker has it queued (the next call, anywhere, sees the destination down)
            self._channel.publish(("op", part.name, group, uri, state, turn_on, count_failure))

    def _publish_outcome(self, part: Partition, group: int, uri: str) -> None:
        outcome = _outcome(part, group, uri)
        if outcome is not None:
            # the owner's publish never waits (it queues to the workers at once): timers and
            # reply callbacks (the prober) may publish too
            self._channel.publish(outcome, wait=False)

    def reloaded(self, part: Partition) -> None:
        self._channel.publish(("sets", part.name, part.sets), wait=False)

    def attrs_set(self, part: Partition, group: int, uris: list[str], attrs: str | None) -> None:
        self._channel.publish(("attrs", part.name, group, uris, attrs))

    # ------------------------------------------------------------------ the others' changes

    def resolve(self, change: Any) -> tuple[Any, Any]:
        """In the owner, every change in arrival order: a worker's operation applied here becomes
        its outcome for every process; anything else (the owner's own outcomes and reloads,
        attributes) is applied here (again, for the owner's own: harmless) and relayed as it is."""
        if change[0] != "op":
            self.apply(change)
            return change, None
        _, part_name, group, uri, state, turn_on, count_failure = change
        part = self._ds.partition(part_name)
        if part is None:
            return None, None
        self._resolving = True
        try:
            self._ds.set_state(part, group, uri, state, turn_on, count_failure, "", quiet=True)
        finally:
            self._resolving = False
        return _outcome(part, group, uri), None

    def apply(self, change: Any) -> None:
        kind, part_name = change[0], change[1]
        part = self._ds.partition(part_name)
        if part is None:
            return
        if kind == "st":
            _, _, group, uri, flags, failures = change
            self._take_outcome(part, group, uri, flags, failures)
        elif kind == "sets":
            part.sets = change[2]
        elif kind == "attrs":
            _, _, group, uris, attrs = change
            for uri in uris:
                dest = _find(part, group, uri)
                if dest is not None:
                    dest.script_attrs = attrs

    def _take_outcome(self, part: Partition, group: int, uri: str, flags: int, failures: int) -> None:
        ds_set = part.sets.get(group)
        dest = _find(part, group, uri)
        if ds_set is None or dest is None:
            return
        before = dest.flags
        dest.flags = flags
        dest.failure_count = failures
        if bool(before & (INACTIVE | PROBING)) != bool(flags & (INACTIVE | PROBING)):
            ds_set.recalculate()

    def snapshot(self) -> list[Any]:
        return [("sets", part.name, part.sets) for part in self._ds.partitions.values()]


def _outcome(part: Partition, group: int, uri: str) -> tuple[Any, ...] | None:
    dest = _find(part, group, uri)
    if dest is None:
        return None
    return ("st", part.name, group, uri, dest.flags, dest.failure_count)


def _find(part: Partition, group: int, uri: str) -> Destination | None:
    ds_set = part.sets.get(group)
    if ds_set is None:
        return None
    index = ds_set.find(uri)
    return ds_set.dests[index] if index >= 0 else None
