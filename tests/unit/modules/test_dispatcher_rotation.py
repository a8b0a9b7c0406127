"""dispatcher's round-robin position (modules/dispatcher/rotation.py), kept by the main process
for every worker (rotation_sharing.py, over the core's SHARED_STATE with the channels replaced by
direct calls), and ds_list's first_hit_counter summed over the workers (hit_counts.py). The real
processes, beside OpenSIPS, are in tests/integration/test_workers_round_robin.py."""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from modules.dispatcher.hit_counts import add_hits, listed_hits
from modules.dispatcher.loading import Columns
from modules.dispatcher.rotation import rotation_step
from modules.dispatcher.rotation_sharing import CHANNEL, RotationSharing
from modules.dispatcher.runtime import NO_DESTINATION, Dispatcher, PartitionConfig, ProbeConfig
from modules.dispatcher.sets import INACTIVE, Destination, DsSet
from pysips.core.shared_state import MainSharedState, WorkerSharedState
from pysips.db.schema import DISPATCHER
from pysips.script.compile import load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.loader import ModuleFinder
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo
from tests.unit.modules.mi_calls import mi_caller


def _set(*specs: tuple[int, int], set_id: int = 1) -> DsSet:
    """(weight, flags) per destination, in order."""
    ds_set = DsSet(set_id, [Destination(f"sip:10.0.0.{i}", f"sip:10.0.0.{i}", weight, flags=flags)
                            for i, (weight, flags) in enumerate(specs, 1)])
    ds_set.recalculate()
    return ds_set


def _turns(ds_set: DsSet, n: int, alg: int = 4, use_default: bool = False) -> list[int | None]:
    return [rotation_step(ds_set, alg, use_default) for _ in range(n)]


# ------------------------------------------------------------------ the step (OpenSIPS's arithmetic)


def test_each_destination_weight_times_in_a_row() -> None:
    assert _turns(_set((2, 0), (1, 0), (1, 0)), 8) == [0, 0, 1, 2, 0, 0, 1, 2]


def test_an_inactive_destination_is_skipped() -> None:
    assert _turns(_set((1, 0), (1, INACTIVE), (1, 0)), 4) == [0, 2, 0, 2]


def test_the_default_destination_when_the_others_are_down() -> None:
    ds_set = _set((1, INACTIVE), (1, INACTIVE), (1, 0))
    assert _turns(ds_set, 2, use_default=True) == [2, 2]
    assert _turns(_set((1, INACTIVE), (1, INACTIVE)), 1) == [None]


def test_auth_username_without_credentials_keeps_the_last_destination() -> None:
    ds_set = _set((1, 0), (1, 0), (1, 0))
    ds_set.last = 1  # where the set's last choice, by any algorithm, left it
    assert _turns(ds_set, 3, alg=5) == [1, 1, 1]


def test_an_empty_set_leaves_the_position_alone() -> None:
    ds_set = _set()
    assert rotation_step(ds_set, 4, False) is None
    assert ds_set.last == 0


# ------------------------------------------------------------------ one position for every worker


class _Rpc:
    """A worker's requests, handled by the main process at once (its answer returned)."""

    def __init__(self, main: MainSharedState, index: int) -> None:
        self.main, self.index = main, index
        self.notified: list[Any] = []

    def call(self, default: Any, *message: Any) -> Any:
        _, name, change = message
        return self.main.from_worker(self.index, name, change)

    def notify(self, *message: Any) -> None:
        self.notified.append(message[2])
        self.main.from_worker(self.index, message[1], message[2])


def _dispatcher(*sets: DsSet) -> Dispatcher:
    ds = Dispatcher([PartitionConfig("default", "")], Columns(), ProbeConfig())
    part = ds.partition(None)
    assert part is not None
    part.sets = {s.id: s for s in sets}
    return ds


class Server:
    """A main process and `n` workers, each with its copy of a set of weights 2, 1, 1."""

    def __init__(self, n: int) -> None:
        self.main = MainSharedState()
        self.rpcs = [_Rpc(self.main, i) for i in range(n)]
        self.workers = [WorkerSharedState(rpc) for rpc in self.rpcs]  # type: ignore[arg-type]
        self.main.broadcast = self._broadcast
        self.ds = [_dispatcher(_set((2, 0), (1, 0), (1, 0))) for _ in range(n + 1)]  # [0]: main's
        RotationSharing(self.ds[0], self.main)
        for ds, worker in zip(self.ds[1:], self.workers, strict=True):
            RotationSharing(ds, worker)

    def _broadcast(self, message: Any, skip: int) -> None:
        for i, worker in enumerate(self.workers):
            if i != skip:
                worker.deliver(message[1], message[2])

    def step(self, worker: int) -> int | None:
        ds = self.ds[worker + 1]
        part = ds.partition(None)
        assert part is not None and ds.rotate is not None
        return ds.rotate(part, 1, 4, False)

    def the_set(self, process: int) -> DsSet:
        part = self.ds[process].partition(None)
        assert part is not None
        return part.sets[1]


def test_workers_taking_turns_follow_one_rotation() -> None:
    server = Server(4)
    order = [0, 3, 3, 1, 2, 0, 1, 1, 2, 3, 0, 2]
    assert [server.step(w) for w in order] == [0, 0, 1, 2] * 3
    assert server.the_set(0).last == 2
    assert all(server.the_set(p).last == 0 for p in range(1, 5))  # the workers' own are unused


def test_the_first_step_marks_the_set_rotating_everywhere() -> None:
    server = Server(2)
    assert not any(server.the_set(p).rotates for p in range(3))
    server.step(1)
    assert all(server.the_set(p).rotates for p in range(3))


def test_another_algorithm_in_a_worker_moves_the_main_process_position() -> None:
    server = Server(2)
    assert [server.step(0), server.step(1)] == [0, 0]
    ds = server.ds[2]
    assert ds.position_moved is not None
    moved = server.the_set(2)
    moved.last = 2  # a hash chose the third destination in worker 1
    ds.position_moved(ds.partitions["default"], moved)
    assert server.rpcs[1].notified == [("last", "default", 1, 2)]
    assert server.the_set(0).last == 2
    # the rotation goes on from there: the hash's choice is not counted in the third one's turn
    assert [server.step(0), server.step(1)] == [2, 0]


def test_no_active_destination_and_an_unknown_set() -> None:
    server = Server(1)
    for dest in server.the_set(0).dests:
        dest.flags = INACTIVE
    server.the_set(0).recalculate()
    assert server.step(0) == NO_DESTINATION
    assert server.main.from_worker(0, CHANNEL, ("rr", "default", 9, 4, False)) is None
    assert server.main.from_worker(0, CHANNEL, ("rr", "other", 1, 4, False)) is None


def test_one_process_has_no_hooks() -> None:
    ds = _dispatcher(_set((1, 0)))
    assert ds.rotate is None and ds.position_moved is None
    owner = _dispatcher(_set((1, 0)))
    RotationSharing(owner, MainSharedState())
    assert owner.rotate is None and owner.position_moved is None  # the owner steps on its copy


# ------------------------------------------------------------------ first_hit_counter


def _listing(*dests: tuple[str, int, str, int]) -> dict[str, Any]:
    parts: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for part, set_id, uri, hits in dests:
        parts.setdefault(part, {}).setdefault(set_id, []).append(
            {"URI": uri, "state": "Active", "first_hit_counter": hits})
    return {"PARTITIONS": [{"name": p, "SETS": [{"id": s, "Destinations": d} for s, d in sets.items()]}
                           for p, sets in parts.items()]}


def test_the_workers_counts_are_summed_by_partition_set_and_uri() -> None:
    # the fan-out's merged answer: the workers' partitions joined in one list
    w1 = _listing(("default", 1, "sip:a", 3), ("default", 1, "sip:b", 1), ("p2", 1, "sip:a", 7))
    w2 = _listing(("default", 1, "sip:a", 2), ("default", 2, "sip:a", 5))
    merged = {"result": {"PARTITIONS": w1["PARTITIONS"] + w2["PARTITIONS"]}}
    hits = listed_hits(merged)
    assert hits == {("default", 1, "sip:a"): 5, ("default", 1, "sip:b"): 1, ("p2", 1, "sip:a"): 7,
                    ("default", 2, "sip:a"): 5}
    own = _listing(("default", 1, "sip:a", 0), ("default", 1, "sip:b", 0), ("default", 2, "sip:a", 1))
    add_hits(own, hits)
    counts = [d["first_hit_counter"] for s in own["PARTITIONS"][0]["SETS"] for d in s["Destinations"]]
    assert counts == [5, 1, 6]
    assert listed_hits(None) == {} and listed_hits({"error": {"code": 500}}) == {}


def test_the_counter_wraps_as_an_unsigned_short() -> None:
    own = _listing(("default", 1, "sip:a", 65535))
    add_hits(own, {("default", 1, "sip:a"): 3})
    assert own["PARTITIONS"][0]["SETS"][0]["Destinations"][0]["first_hit_counter"] == 2


# ------------------------------------------------------------------ ds_select_dst in a worker


def _loaded_part(name: str) -> ModuleType:
    """A file of the dispatcher package as the module loader imported it (its classes)."""
    found = ModuleFinder().find("dispatcher")
    assert found is not None
    return importlib.import_module(f"{found.exports.init.__module__}.{name}")


SCRIPT = """
loadmodule "db_sqlite.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "db_url", "sqlite://@@DB@@")
route {
    if (!ds_select_dst(1, $(hdr(X-Alg){s.int}), "f")) return(-1);
    $var(first) = $du;
    if (ds_next_dst()) $var(second) = $du;
    return(1);
}
"""


@pytest.fixture
def worker(tmp_path: Path) -> Any:
    """A process running SCRIPT over set 1 (10.0.0.5, .6, .7), and its dispatcher runtime."""
    db = tmp_path / "ds.db"
    with sqlite3.connect(db) as raw:
        raw.execute(DISPATCHER.ddl())
        raw.executemany("INSERT INTO dispatcher (setid, destination) VALUES (1, ?)",
                        [("sip:10.0.0.5",), ("sip:10.0.0.6",), ("sip:10.0.0.7",)])
    loaded = load_script(parse_text(SCRIPT.replace("@@DB@@", str(db)), "rr.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    runtime = process.modules["dispatcher"]
    assert isinstance(runtime, _loaded_part("runtime").Dispatcher)

    def run(alg: int) -> tuple[int, Any, Any]:
        text = ("INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-1\r\n"
                "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c-1\r\n"
                f"CSeq: 1 INVITE\r\nX-Alg: {alg}\r\nContent-Length: 0\r\n\r\n")
        msg = parse_message(text.encode())
        assert isinstance(msg, SipMessage) and loaded.main_route is not None
        process.vars.pop("second", None)
        ctx = MsgContext(process, msg, ReceiveInfo("udp", "10.0.0.1", 5060, "10.0.0.9", 5060))
        return loaded.run(loaded.main_route, ctx), process.vars.get("first"), process.vars.get("second")

    yield runtime, run, process
    runtime.close()


def test_a_worker_uses_the_main_process_index(worker: Any) -> None:
    runtime, run, _process = worker
    answers: list[int | None] = [2, NO_DESTINATION, None, 7]
    asked: list[tuple[str, int, int, bool]] = []

    def rotate(part: Any, set_id: int, alg: int, use_default: bool) -> int | None:
        asked.append((part.name, set_id, alg, use_default))
        return answers.pop(0)

    runtime.rotate = rotate
    # the index answered, with its failover list (the one before it, wrapping)
    assert run(4) == (1, "sip:10.0.0.7", "sip:10.0.0.5")
    assert asked == [("default", 1, 4, False)]
    assert run(4)[0] == -1  # no active destination, says the main process
    # no answer, or an index the set no longer has: this process's own position
    assert run(4) == (1, "sip:10.0.0.5", "sip:10.0.0.6")
    assert run(4) == (1, "sip:10.0.0.6", "sip:10.0.0.7")
    assert run(5)[1] == "sip:10.0.0.6"  # no credentials: a rotation step too
    assert len(asked) == 5


def test_a_worker_reports_other_choices_in_a_rotating_set(worker: Any) -> None:
    runtime, run, _process = worker
    moved: list[tuple[str, int]] = []
    runtime.position_moved = lambda part, ds_set: moved.append((part.name, ds_set.last))
    run(8)
    assert moved == []  # no rotation used the set: nothing to tell
    runtime.partitions["default"].sets[1].rotates = True
    run(8)
    assert moved == [("default", 0)]


def test_ds_list_in_the_main_process_adds_the_workers_counts(worker: Any) -> None:
    _runtime, run, process = worker
    run(8)  # this process's own choice of 10.0.0.5
    asked: list[Any] = []

    def fanout(request: Any) -> Any:
        asked.append(request)
        return {"result": _listing(("default", 1, "sip:10.0.0.5", 4), ("default", 1, "sip:10.0.0.6", 1),
                                   ("default", 1, "sip:10.0.0.5", 2))}

    call = mi_caller(process)
    mi = _loaded_part("mi")
    alone = mi.ds_list(call())  # one process: its own counts
    assert [d["first_hit_counter"] for d in alone["PARTITIONS"][0]["SETS"][0]["Destinations"]] == [1, 0, 0]
    request = call(partition="default")
    request.mi.fanout = fanout
    listed = mi.ds_list(request)
    assert [d["first_hit_counter"] for d in listed["PARTITIONS"][0]["SETS"][0]["Destinations"]] == [7, 1, 0]
    assert asked == [{"jsonrpc": "2.0", "method": "ds_list", "params": {"partition": "default"}, "id": 0}]
