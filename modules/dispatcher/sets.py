"""Destination sets and OpenSIPS 3.6's choice of a destination in a set (ds_select_dst).

A set's destinations are ordered as OpenSIPS orders them: by priority, highest first, and in
table order within one priority. Each keeps its running weight (the sum of the weights up to it)
and its running weight over the active ones, which the hash and random algorithms pick against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

INACTIVE = 1
PROBING = 2
PROBING_PERM = 16  # probe_mode 1: always probed


@dataclass(slots=True)
class Destination:
    uri: str  # as in the table: what probes go to and what MI/ds_mark_dst name it by
    dst_uri: str  # what ds_select_dst sets ($du): the URI without user, password, headers
    weight: int = 1
    priority: int = 0
    attrs: str | None = None
    description: str | None = None
    socket: str | None = None  # the table's socket column, OpenSIPS notation
    flags: int = 0
    addresses: list[tuple[str, int]] = field(default_factory=list)  # (ip, port) it resolves to
    running_weight: int = 0
    active_running_weight: int = 0
    rr_count: int = 0
    chosen_count: int = 0
    failure_count: int = 0
    dirty: bool = False  # state changed since written to the table
    script_attrs: str | None = None

    @property
    def active(self) -> bool:
        return not self.flags & (INACTIVE | PROBING)

    @property
    def state_code(self) -> int:
        """The table's state column: 0 active, 1 inactive, 2 probing."""
        return 1 if self.flags & INACTIVE else 2 if self.flags & PROBING else 0

    @property
    def state_name(self) -> str:
        return "Inactive" if self.flags & INACTIVE else "Probing" if self.flags & PROBING else "Active"


@dataclass(slots=True)
class DsSet:
    id: int
    dests: list[Destination] = field(default_factory=list)
    active_nr: int = 0
    last: int = 0  # the round-robin position (rotation.py)
    # with worker processes: a rotation used this set, so the main process keeps its position
    # and a worker tells it where another algorithm's choice leaves it (sharing.py)
    rotates: bool = False

    def recalculate(self) -> None:
        """The running weights and the number of active destinations (after a load or a state
        change)."""
        running = active_running = 0
        self.active_nr = 0
        for dest in self.dests:
            running += dest.weight
            dest.running_weight = running
            if dest.active:
                active_running += dest.weight
                self.active_nr += 1
            dest.active_running_weight = active_running

    def find(self, uri: str) -> int:
        wanted = uri.lower()
        for i, dest in enumerate(self.dests):
            if dest.uri.lower() == wanted:
                return i
        return -1


def order_destinations(dests: list[Destination]) -> list[Destination]:
    """Highest priority first; equal priorities keep their load order (a stable sort)."""
    return sorted(dests, key=lambda d: -d.priority)


@dataclass(slots=True)
class Selection:
    index: int
    failover: list[Destination]  # the other destinations, in the order ds_next_dst uses them
    dest: Destination | None = None  # the one chosen


def _candidate_by_hash(ds_set: DsSet, ds_hash: int, set_size: int) -> int:
    total = ds_set.dests[set_size - 1].running_weight
    if total:
        pick = ds_hash % total
        for i in range(set_size):
            if pick < ds_set.dests[i].running_weight:
                return i
        return -1
    return ds_hash % set_size


def _next_candidate(ds_set: DsSet, i: int, ds_hash: int, set_size: int, use_default: bool) -> int:
    """When the candidate is not active: the next one (no hash), or the hash over the active ones."""
    dests = ds_set.dests
    if ds_hash == 0:
        return (i + 1) % set_size
    count = ds_set.active_nr - (1 if use_default and dests[-1].active else 0)
    if not count:
        return i
    total = dests[set_size - 1].active_running_weight
    if total:
        pick = ds_hash % total
        for j in range(set_size):
            if dests[j].active and pick < dests[j].active_running_weight:
                return j
        return -1
    left = ds_hash % count
    for j in range(set_size):
        if dests[j].active:
            left -= 1
        if left < 0:
            return j
    return -1


def choose(ds_set: DsSet, alg: int, ds_hash: int, candidate: int, use_default: bool) -> int | None:
    """The index of the destination for a request, as OpenSIPS's ds_select_dst picks it.

    `ds_hash` is the request's hash (0 for the algorithms without one); `candidate` the index an
    algorithm chose by itself (round robin, first entry), or -1. None when no active destination
    can be used. Updates the set's round-robin position (`last`) as OpenSIPS does, whatever the
    algorithm (dispatch.c ds_select_dst: `idx->last = ds_id`).
    """
    dests = ds_set.dests
    nr = len(dests)
    if nr == 0 or ds_set.active_nr == 0:
        return None
    set_size = nr - 1 if use_default and nr > 1 else nr
    ds_id = candidate
    if ds_id == -1:
        ds_id = _candidate_by_hash(ds_set, ds_hash, set_size)
        if ds_id < 0:
            return None
    i = ds_id
    while not dests[i].active:
        i = _next_candidate(ds_set, i, ds_hash, set_size, use_default)
        if i < 0:
            return None
        if i == ds_id:
            if not use_default:
                return None
            i = nr - 1
            if not dests[i].active:
                return None
            break
    ds_id = i
    ds_set.last = ds_id
    if alg == 4:
        dests[ds_id].rr_count += 1
    return ds_id


def select(
    ds_set: DsSet, alg: int, ds_hash: int, candidate: int, use_default: bool, max_results: int
) -> Selection | None:
    """`choose`, with the failover list of the destination chosen."""
    ds_id = choose(ds_set, alg, ds_hash, candidate, use_default)
    if ds_id is None:
        return None
    return selection_at(ds_set, ds_id, use_default, max_results)


def selection_at(ds_set: DsSet, ds_id: int, use_default: bool, max_results: int) -> Selection:
    """The destination at `ds_id` (chosen already: by the main process, with worker processes)
    and its failover list."""
    return Selection(ds_id, _failover(ds_set, ds_id, use_default, max_results), ds_set.dests[ds_id])


def _failover(
    ds_set: DsSet, ds_id: int, use_default: bool, max_results: int, order: list[Destination] | None = None
) -> list[Destination]:
    """The rest of the set for ds_next_dst, in OpenSIPS's order: the destinations before the
    chosen one, wrapping backwards; at most `max_results` of them; the default one last.
    `order` is the sorted set of algorithms 9 and 10, which OpenSIPS walks by position."""
    dests = ds_set.dests
    walked = order if order is not None else dests
    nr = len(dests)
    inactive = sum(1 for j, d in enumerate(dests) if not d.active and not (use_default and j == nr - 1))
    skip = nr - inactive - (1 if use_default else 0) - max_results
    # OpenSIPS pushes them onto an AVP stack (newest first) walking from ds_id-1 backwards, so
    # ds_id+1 ends on top and is used first; the entries it skips for max_results are the last ones.
    pushed: list[Destination] = []
    if use_default and ds_id != nr - 1:
        pushed.append(dests[nr - 1])
    for unwrapped in range(ds_id - 1 + nr, ds_id, -1):
        j = unwrapped % nr
        if j >= len(walked):
            continue
        dest = walked[j]
        if not dest.active or (use_default and j == nr - 1):
            continue
        if skip > 0:
            skip -= 1
            continue
        pushed.append(dest)
    pushed.reverse()  # the newest AVP is the next to be used
    return pushed


def set_size_of(ds_set: DsSet, use_default: bool) -> int:
    nr = len(ds_set.dests)
    return nr - 1 if use_default and nr > 1 else nr


def sorted_order(
    ds_set: DsSet, use_default: bool, score: Callable[[Destination], int | None]
) -> tuple[list[Destination], int]:
    """Algorithms 9 and 10: the active destinations by ascending score (equal scores in set
    order), then the inactive and the refused ones (score None or negative) from the end
    backwards, the default one last; and how many were scored. As OpenSIPS's ds_pvar_algo and
    ds_route_algo lay out their sorted array."""
    dests = ds_set.dests
    nr = len(dests)
    scored: list[tuple[int, Destination]] = []
    tail: list[Destination] = []
    last = nr - 1 if use_default else nr
    for dest in dests[:last]:
        value = score(dest) if dest.active else None
        if value is None or value < 0:
            if dest.active and value is None:
                continue  # could not be scored: left out, as OpenSIPS leaves its slot
            tail.append(dest)
            continue
        at = len(scored)
        for k, (other, _) in enumerate(scored):
            if other > value:
                at = k
                break
        scored.insert(at, (value, dest))
    ordered = [d for _, d in scored] + list(reversed(tail))
    if use_default:
        ordered.append(dests[-1])
    return ordered, len(scored)


def select_sorted(
    ds_set: DsSet, ordered: list[Destination], use_default: bool, max_results: int
) -> Selection:
    """The first of the sorted set is used; ds_next_dst walks the sorted positions."""
    ds_set.last = 0
    return Selection(0, _failover(ds_set, 0, use_default, max_results, ordered), ordered[0])
