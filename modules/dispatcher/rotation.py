"""The round-robin position of a set: OpenSIPS's `ds_set_t.last` with each destination's
`rr_count` (dispatch.c, ds_select_dst), which algorithm 4 (weighted round robin) reads, and
algorithm 5 for a request without credentials.

OpenSIPS keeps them in shared memory, one position per set of each partition, so consecutive
calls go to consecutive destinations whichever process handles them. With worker processes the
main process keeps the position and takes each rotation step (sharing.py); in one process the
step is taken here on the process's own copy, as before.
"""

from __future__ import annotations

from .sets import DsSet, choose, set_size_of

ROUND_ROBIN = 4
AUTH_USERNAME = 5  # round robin when the request carries no credentials


def round_robin_candidate(ds_set: DsSet, set_size: int) -> int:
    """Algorithm 4: each destination is chosen `weight` times in a row before the next one (its
    `rr_count` counts them; the count is reset when the turn moves on, even if the next
    candidate then turns out inactive)."""
    last = ds_set.dests[ds_set.last] if ds_set.last < len(ds_set.dests) else None
    if last is not None and last.rr_count < last.weight:
        return ds_set.last
    if last is not None:
        last.rr_count = 0
    return (ds_set.last + 1) % set_size


def rotation_step(ds_set: DsSet, alg: int, use_default: bool) -> int | None:
    """The index a rotation (algorithm 4, or 5 without credentials) chooses, the position moved
    on; None when no active destination can be used (the position moved all the same, as
    OpenSIPS leaves it on its error path)."""
    if not ds_set.dests or ds_set.active_nr == 0:
        return None  # OpenSIPS gives up before the position is touched
    set_size = set_size_of(ds_set, use_default)
    if alg == ROUND_ROBIN:
        candidate = round_robin_candidate(ds_set, set_size)
    else:
        # algorithm 5 advances the position, then (like every algorithm) sets it to the
        # destination chosen: without credentials it keeps choosing the last one used
        candidate = ds_set.last
        ds_set.last = (ds_set.last + 1) % set_size
    return choose(ds_set, alg, 0, candidate, use_default)
