"""MI ds_list's `first_hit_counter` under worker processes: the calls of every worker.

OpenSIPS counts each destination's choices (`chosen_count`, dispatch.c ds_select_dst, once the
destination is set) in shared memory, so ds_list shows the server's count. Here each process
counts the choices it makes (a count per call sent to the main process would cost every call a
message); the main process, which serves MI, adds the counts of the workers' own ds_list answers
(the MI fan-out, as dialog's dlg_list) to its listing. A worker that dies takes its counts with
it; a reload starts every count at zero, as OpenSIPS's new data do.
"""

from __future__ import annotations

from typing import Any

# OpenSIPS's chosen_count is an unsigned short: the counter wraps at 65536
COUNTER_MASK = 0xFFFF

HitKey = tuple[str, int, str]  # partition name, set id, destination URI


def shown(count: int) -> int:
    return count & COUNTER_MASK


def listed_hits(response: Any) -> dict[HitKey, int]:
    """The first_hit_counter of every destination in the workers' merged ds_list answer (their
    partitions joined in one list), summed by partition, set and URI."""
    hits: dict[HitKey, int] = {}
    result = response.get("result") if isinstance(response, dict) else None
    parts = result.get("PARTITIONS") if isinstance(result, dict) else None
    for part in parts if isinstance(parts, list) else []:
        for ds_set in part.get("SETS", []):
            for dest in ds_set.get("Destinations", []):
                key = (part.get("name"), ds_set.get("id"), dest.get("URI"))
                hits[key] = hits.get(key, 0) + int(dest.get("first_hit_counter", 0))
    return hits


def add_hits(listing: dict[str, Any], hits: dict[HitKey, int]) -> None:
    """Adds the workers' counts to this process's ds_list answer."""
    for part in listing["PARTITIONS"]:
        for ds_set in part.get("SETS", []):
            for dest in ds_set["Destinations"]:
                extra = hits.get((part["name"], ds_set["id"], dest["URI"]), 0)
                dest["first_hit_counter"] = shown(dest["first_hit_counter"] + extra)
