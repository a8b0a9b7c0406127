"""cachedb_local's collections shared by worker processes (modules/cachedb_local/sharing.py) over
the core's SHARED_STATE (pysips.core.shared_state), the processes' channels replaced by queues
delivered in order, as the socketpairs do. The real processes are in
tests/integration/test_workers_cache.py."""

from __future__ import annotations

from typing import Any

import pytest

from modules.cachedb_local.sharing import SharedCollections
from pysips.cachedb import CacheError
from pysips.cachedb.local import LocalCache
from pysips.core.shared_state import MainSharedState, WorkerSharedState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Bus:
    """A main process and `n` workers; each worker's channel is a list delivered by pump()."""

    def __init__(self, n: int, clock: Clock) -> None:
        self.main = MainSharedState()
        self.main.broadcast = self._broadcast
        self.channels: list[list[Any]] = [[] for _ in range(n)]
        self.inbox: list[tuple[int, str, Any, int]] = []  # what the main process has yet to read
        self.answers: dict[int, Any] = {}
        self.workers = [WorkerSharedState(_Rpc(self, i)) for i in range(n)]  # type: ignore[arg-type]
        self.req = 0
        self.clock = clock
        self.caches = [self._collections(self.main)] + [self._collections(w) for w in self.workers]

    def _collections(self, shared: Any) -> SharedCollections:
        return SharedCollections({"default": LocalCache(self.clock)}, shared)

    def _broadcast(self, message: Any, skip: int) -> None:
        for i, channel in enumerate(self.channels):
            if i != skip:
                channel.append(message)

    def main_reads(self) -> None:
        """The main process handles what workers sent, in order (Supervisor._from_worker)."""
        while self.inbox:
            index, name, change, req = self.inbox.pop(0)
            answer = self.main.from_worker(index, name, change)
            if req:
                self.channels[index].append(("re", req, answer))

    def pump(self, index: int) -> None:
        channel = self.channels[index]
        while channel:
            message = channel.pop(0)
            if message[0] == "bus":
                self.workers[index].deliver(message[1], message[2])
            else:
                self.answers[message[1]] = message[2]

    def pump_all(self) -> None:
        self.main_reads()
        for i in range(len(self.channels)):
            self.pump(i)

    def engine(self, process: int) -> Any:
        """The cache engine of process `process` (0: the main process, 1..n: the workers)."""
        return self.caches[process].engine("default")


class _Rpc:
    """WorkerRpc's two calls: `call` behaves as a script's wait (the main process reads, then this
    worker's channel is delivered up to the answer); `notify` only queues."""

    def __init__(self, bus: Bus, index: int) -> None:
        self.bus = bus
        self.index = index

    def notify(self, *message: Any) -> None:
        _, name, change = message
        self.bus.inbox.append((self.index, name, change, 0))

    def call(self, default: Any, *message: Any) -> Any:
        _, name, change = message
        self.bus.req += 1
        req = self.bus.req
        self.bus.inbox.append((self.index, name, change, req))
        self.bus.main_reads()
        channel = self.bus.channels[self.index]
        while channel:  # in order, up to and including the answer
            got = channel.pop(0)
            if got[0] == "re" and got[1] == req:
                return got[2]
            if got[0] == "bus":
                self.bus.workers[self.index].deliver(got[1], got[2])
        return default


def copies(bus: Bus, key: str) -> list[str | None]:
    return [c.collections["default"].fetch(key) for c in bus.caches]


def test_a_value_stored_in_one_worker_is_in_every_copy_when_the_store_returns() -> None:
    bus = Bus(3, Clock())
    bus.engine(1).store("k", "v", 0)
    assert bus.engine(1).fetch("k") == "v"  # the writer's copy, before anything else is read
    bus.pump_all()
    assert copies(bus, "k") == ["v"] * 4
    bus.engine(2).remove("k")
    bus.pump_all()
    assert copies(bus, "k") == [None] * 4


def test_counters_of_workers_writing_at_once_lose_no_increment() -> None:
    bus = Bus(4, Clock())
    # each worker's increments reach the main process before any worker saw another's
    for worker in (1, 2, 3, 4):
        for _ in range(5):
            bus.workers[worker - 1].publish("cachedb_local_cache", ("add", "default", "n", 1, None), False)
    bus.pump_all()
    assert copies(bus, "n") == ["20"] * 5
    # a waiting script gets the main process's count, with every earlier increment in it
    bus.workers[0].publish("cachedb_local_cache", ("add", "default", "n", 1, None), False)
    assert bus.engine(2).add("n", 1, 0) == 22
    bus.pump_all()
    assert copies(bus, "n") == ["22"] * 5


def test_own_change_applied_in_the_main_process_order() -> None:
    bus = Bus(2, Clock())
    # worker 2's store reaches the main process first; worker 1's, made later, wins everywhere
    bus.workers[1].publish("cachedb_local_cache", ("set", "default", "k", "from-2", None), False)
    bus.engine(1).store("k", "from-1", 0)
    bus.pump_all()
    assert copies(bus, "k") == ["from-1"] * 3


def test_a_write_outside_script_code_is_here_at_once_and_the_main_version_follows() -> None:
    bus = Bus(2, Clock())
    rpc = bus.workers[0]._rpc
    rpc.call = lambda default, *message: (rpc.notify(*message), default)[1]  # type: ignore[method-assign]
    assert bus.engine(1).add("n", 2, 0) == 2  # counted here, not yet in the main process
    bus.workers[1].publish("cachedb_local_cache", ("add", "default", "n", 5, None), False)
    bus.pump_all()
    assert copies(bus, "n") == ["7"] * 3


def test_expiry_is_the_same_instant_in_every_copy() -> None:
    clock = Clock()
    bus = Bus(2, clock)
    bus.engine(1).store("k", "v", 10)
    bus.main_reads()
    clock.now += 5  # worker 2 applies it five seconds later: still until 1010
    bus.pump(1)
    clock.now += 4.9
    assert copies(bus, "k") == ["v"] * 3
    clock.now += 0.1
    assert copies(bus, "k") == [None] * 3


def test_adding_to_a_text_fails_in_the_writer() -> None:
    bus = Bus(2, Clock())
    bus.engine(1).store("s", "text", 0)
    with pytest.raises(CacheError):
        bus.engine(2).add("s", 1, 0)
    bus.pump_all()
    assert copies(bus, "s") == ["text"] * 3


def test_a_new_worker_starts_with_the_live_keys() -> None:
    clock = Clock()
    bus = Bus(1, clock)
    bus.engine(1).store("keep", "1", 0)
    bus.engine(1).store("soon", "2", 5)
    bus.engine(1).store("gone", "3", 1)
    bus.engine(0).add("n", 3, 0)  # the main process writes too (startup_route)
    bus.pump_all()
    clock.now += 2
    fresh = SharedCollections({"default": LocalCache(clock)}, WorkerSharedState(None))  # type: ignore[arg-type]
    for message in bus.main.snapshot():
        fresh.apply(message[2])
    cache = fresh.collections["default"]
    assert [cache.fetch(k) for k in ("keep", "soon", "gone", "n")] == ["1", "2", None, "3"]
    clock.now += 3
    assert cache.fetch("soon") is None
