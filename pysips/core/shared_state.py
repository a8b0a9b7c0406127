"""The SHARED_STATE service (pysips.core.services.SharedStateService) of the main process and of
a worker: channels of changes, relayed by the main process, applied in every process in order.

A worker's `publish` goes to the main process, which applies it to its own copy (the owner's:
database writes happen there), queues it to every other worker, and acknowledges. The worker's
script waits for the acknowledgement (pysips.core.suspend.wait), so once it answers the message
(a REGISTER's 200), every later message in any worker sees the change: each worker reads its
channel in order, and the change was queued to it before whatever the main process reads next.

A channel joined with `resolve` (cachedb_local's counters) is relayed to every process, the
publisher included: the main process resolves the change against its copy and queues what to
apply to each worker, then the acknowledgement (with the answer) to the publisher. A worker
applies what its channel brings in order and resumes the waiting script only after that
(pysips.core.worker_rpc), so it applies its own change where the main process ordered it, after
the earlier changes of other workers, and every copy goes through the same sequence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pysips.core.worker_rpc import WorkerRpc

log = logging.getLogger("pysips.core.workers")

Apply = Callable[[Any], None]
Resolve = Callable[[Any], tuple[Any, Any]]  # change -> (what every process applies, the answer)
Snapshot = Callable[[], list[Any]]
Forget = Callable[[int], Any]
# how the main process sends to every worker but one (index; -1: to all)
Broadcast = Callable[[Any, int], None]


class _MainChannel:
    __slots__ = ("name", "owner")

    def __init__(self, owner: MainSharedState, name: str) -> None:
        self.owner = owner
        self.name = name

    def publish(self, change: Any, wait: bool = True) -> Any:
        return self.owner.publish_own(self.name, change)


class MainSharedState:
    """The owner's side, in the main process."""

    def __init__(self) -> None:
        self.broadcast: Broadcast = lambda message, skip: None  # set by the supervisor
        self._apply: dict[str, Apply] = {}
        self._snapshot: dict[str, Snapshot] = {}
        self._forget: dict[str, Forget] = {}
        self._resolve: dict[str, Resolve] = {}

    @property
    def owner(self) -> bool:
        return True

    def share(self, name: str, apply: Apply, snapshot: Snapshot,
              forget: Forget | None = None, resolve: Resolve | None = None) -> _MainChannel:
        self._apply[name] = apply
        self._snapshot[name] = snapshot
        if forget is not None:
            self._forget[name] = forget
        if resolve is not None:
            self._resolve[name] = resolve
        return _MainChannel(self, name)

    def process_gone(self, pid: int) -> None:
        """Worker `pid` died: what it held (dialogs in profiles...) goes from every copy."""
        for name, forget in self._forget.items():
            try:
                change = forget(pid)
                if change is not None:
                    self.from_worker(-1, name, change)
            except Exception:
                log.exception("forgetting process %d in %s failed", pid, name)

    def names(self) -> set[str]:
        """The channels joined: module names, whose statistics groups the owner keeps whole."""
        return set(self._apply)

    def publish_own(self, name: str, change: Any) -> Any:
        """This process's change: its module applied it already, unless the channel resolves."""
        if name in self._resolve:
            return self._resolved(-1, name, change)
        self.broadcast(("bus", name, change), -1)
        return None

    def _resolved(self, index: int, name: str, change: Any) -> Any:
        try:
            applied, answer = self._resolve[name](change)
        except Exception:
            log.exception("resolving a change of %s from worker %d failed", name, index)
            return None
        if applied is not None:
            # the publisher too: it applies its own change in this order (module docstring)
            self.broadcast(("bus", name, applied), -1)
        return answer

    def from_worker(self, index: int, name: str, change: Any) -> Any:
        """Worker `index` published (-1: this process, for a dead worker's `forget`): applied
        here, then relayed to the other workers; the answer of the channel's `resolve`, else
        None."""
        if name in self._resolve:
            return self._resolved(index, name, change)
        apply = self._apply.get(name)
        if apply is not None:
            try:
                apply(change)
            except Exception:
                log.exception("applying a change of %s from worker %d failed", name, index)
        self.broadcast(("bus", name, change), index)

    def snapshot(self) -> list[Any]:
        """The messages that bring a new worker's copies up to date."""
        messages: list[Any] = []
        for name, snapshot in self._snapshot.items():
            try:
                messages.extend(("bus", name, change) for change in snapshot())
            except Exception:
                log.exception("snapshot of %s failed", name)
        return messages


class _WorkerChannel:
    __slots__ = ("name", "owner")

    def __init__(self, owner: WorkerSharedState, name: str) -> None:
        self.owner = owner
        self.name = name

    def publish(self, change: Any, wait: bool = True) -> Any:
        return self.owner.publish(self.name, change, wait)


class WorkerSharedState:
    """A worker's side: publishes through the main process, applies what others published."""

    def __init__(self, rpc: WorkerRpc) -> None:
        self._rpc = rpc
        self._apply: dict[str, Apply] = {}

    @property
    def owner(self) -> bool:
        return False

    def share(self, name: str, apply: Apply, snapshot: Snapshot,
              forget: Forget | None = None, resolve: Resolve | None = None) -> _WorkerChannel:
        self._apply[name] = apply  # snapshots and deaths are the owner's business
        return _WorkerChannel(self, name)

    def names(self) -> set[str]:
        return set(self._apply)

    def publish(self, name: str, change: Any, wait: bool = True) -> Any:
        if wait:  # in a script: returns once the main process has applied and relayed it
            return self._rpc.call(None, "pub", name, change)
        self._rpc.notify("pub", name, change)
        return None

    def deliver(self, name: str, change: Any) -> None:
        apply = self._apply.get(name)
        if apply is None:
            return
        try:
            apply(change)
        except Exception:
            log.exception("applying a change of %s failed", name)
