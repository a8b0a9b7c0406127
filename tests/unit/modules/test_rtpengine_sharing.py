"""rtpengine's daemon states shared by worker processes (modules/rtpengine/sharing.py) over the
core's SHARED_STATE (pysips.core.shared_state), the channels replaced by direct calls. The real
processes are in tests/reliability/test_dependencies.py (a dead daemon, four workers)."""

from __future__ import annotations

from typing import Any

from modules.rtpengine.sets import Node, build_sets, select_node
from modules.rtpengine.sharing import CHANNEL, NodeSharing
from pysips.core.shared_state import MainSharedState, WorkerSharedState

SOCKS = ["udp:127.0.0.1:1 udp:127.0.0.1:2", "1 == udp:127.0.0.1:3"]


class _Rpc:
    def __init__(self, main: MainSharedState, index: int) -> None:
        self.main, self.index = main, index

    def notify(self, *message: Any) -> None:
        _, name, change = message
        self.main.from_worker(self.index, name, change)


class Server:
    """A main process and `n` workers, each with the sets built from SOCKS."""

    def __init__(self, n: int) -> None:
        self.main = MainSharedState()
        self.workers = [WorkerSharedState(_Rpc(self.main, i)) for i in range(n)]  # type: ignore[arg-type]
        self.main.broadcast = self._broadcast
        self.sets = [build_sets(SOCKS) for _ in range(n + 1)]  # [0]: the main process's
        self.sharing = [NodeSharing(self.sets[0], self.main)]
        self.sharing += [NodeSharing(s, w) for s, w in zip(self.sets[1:], self.workers, strict=True)]

    def _broadcast(self, message: Any, skip: int) -> None:
        for i, worker in enumerate(self.workers):
            if i != skip:
                worker.deliver(message[1], message[2])

    def node(self, process: int, index: int) -> Node:
        return next(n for s in self.sets[process].values() for n in s.nodes if n.index == index)

    def states(self, index: int) -> list[tuple[bool, float]]:
        return [(self.node(p, index).disabled, self.node(p, index).recheck_at) for p in range(len(self.sets))]


def test_a_daemon_disabled_by_one_worker_is_disabled_everywhere() -> None:
    server = Server(3)
    node = server.node(2, 1)
    node.disabled, node.recheck_at = True, 160.0  # RtpEngine._disable in worker 1
    server.sharing[2].changed(node)
    assert server.states(1) == [(True, 160.0)] * 4
    assert server.states(0) == [(False, 0.0)] * 4  # the others untouched
    # another worker then skips it without asking it
    assert select_node(server.sets[3][0], "call-x", set(), 100.0) is server.node(3, 0)


def test_a_probe_in_one_worker_reenables_or_requarantines_everywhere() -> None:
    server = Server(2)
    for p in range(3):
        server.node(p, 0).disabled, server.node(p, 0).recheck_at = True, 100.0
    select_node(server.sets[1][0], "c", set(), 101.0, lambda n: False, 60.0, server.sharing[1].changed)
    assert server.states(0) == [(True, 161.0)] * 3
    select_node(server.sets[2][0], "c", set(), 162.0, lambda n: True, 60.0, server.sharing[2].changed)
    assert server.states(0) == [(False, 161.0)] * 3


def test_two_workers_disabling_at_once_leave_every_copy_alike() -> None:
    server = Server(2)
    # each worker disabled the daemon in its own copy; the main process gets worker 2's state
    # first, relays it to worker 1, then gets worker 1's (sent before worker 2's reached it)
    server.node(1, 2).disabled, server.node(1, 2).recheck_at = True, 160.0
    server.node(2, 2).disabled, server.node(2, 2).recheck_at = True, 161.0
    server.main.from_worker(1, CHANNEL, ("node", 2, True, 161.0))
    server.main.from_worker(0, CHANNEL, ("node", 2, True, 160.0))
    assert server.states(2) == [(True, 161.0)] * 3


def test_a_new_worker_starts_with_the_disabled_daemons() -> None:
    server = Server(1)
    node = server.node(1, 1)
    node.disabled, node.recheck_at = True, 160.0
    server.sharing[1].changed(node)
    fresh_sets = build_sets(SOCKS)
    fresh = NodeSharing(fresh_sets, WorkerSharedState(None))  # type: ignore[arg-type]
    for message in server.main.snapshot():
        fresh.apply(message[2])
    states = [(n.disabled, n.recheck_at) for s in fresh_sets.values() for n in s.nodes]
    assert states == [(False, 0.0), (True, 160.0), (False, 0.0)]
