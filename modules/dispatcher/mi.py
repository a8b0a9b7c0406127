"""MI commands ds_list, ds_set_state, ds_reload, ds_push_script_attrs (OpenSIPS 3.6 shapes)."""

from __future__ import annotations

from typing import Any

from pysips.mi import MICall, MIError, command

from .functions import find_by_address
from .hit_counts import add_hits, listed_hits, shown
from .runtime import Dispatcher, Partition

UNKNOWN_PARTITION = "ERROR Unknown partition"


def _dispatcher(call: MICall) -> Dispatcher:
    runtime = call.process.modules.get("dispatcher")
    if not isinstance(runtime, Dispatcher):
        raise MIError(500, "dispatcher not initialised")
    return runtime


def _list_partition(part: Partition, full: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"name": part.name}
    if not part.sets:
        return item
    sets = []
    for ds_set in part.sets.values():
        dests = []
        for dest in ds_set.dests:
            entry: dict[str, Any] = {
                "URI": dest.uri,
                "state": dest.state_name,
                "first_hit_counter": shown(dest.chosen_count),
            }
            if dest.socket:
                entry["socket"] = dest.socket
            if dest.attrs is not None:
                entry["attr"] = dest.attrs
            if dest.script_attrs is not None:
                entry["script_attr"] = dest.script_attrs
            if full:
                entry["weight"] = dest.weight
                entry["priority"] = dest.priority
                if dest.description:
                    entry["description"] = dest.description
            entry["resolved_addresses"] = [f"{ip}:{port}" for ip, port in dest.addresses]
            dests.append(entry)
        sets.append({"id": ds_set.id, "Destinations": dests})
    item["SETS"] = sets
    return item


def ds_list(call: MICall) -> Any:
    ds = _dispatcher(call)
    full = call.get_int("full") != 0 if call.has("full") else False
    parts = list(ds.partitions.values())
    if call.has("partition"):
        found = ds.partition(call.get_str("partition"))
        if found is None:
            raise MIError(500, UNKNOWN_PARTITION)
        parts = [found]
    listing = {"PARTITIONS": [_list_partition(p, full) for p in parts]}
    fanout = call.mi.fanout
    if fanout is not None:
        # worker processes: the states are this (the main) process's, the counts each worker's
        params = {"partition": call.get_str("partition")} if call.has("partition") else {}
        add_hits(listing, listed_hits(fanout({"jsonrpc": "2.0", "method": "ds_list", "params": params,
                                              "id": 0})))
    return listing


def ds_set_state(call: MICall) -> Any:
    ds = _dispatcher(call)
    state = call.get_str("state")
    if not state:
        raise MIError(500, "Bad state value")
    mode = {"0": "i", "i": "i", "p": "p", "2": "p", "a": "a", "1": "a"}.get(state[0].lower())
    if mode is None:
        raise MIError(500, "Bad state value")
    group = call.get_str("group")
    part_name, sep, group_text = group.rpartition(":")
    part = ds.partition(part_name if sep else None)
    if part is None:
        raise MIError(404, UNKNOWN_PARTITION)
    if not group_text.strip().isdigit():
        raise MIError(500, "bad group value")
    address = call.get_str("address")
    if not ds.mark(part, int(group_text), address, mode, "MI command"):
        raise MIError(404, "destination not found")
    return "OK"


def _inherit(call: MICall) -> bool:
    if not call.has("inherit_state"):
        return True
    text = call.get_str("inherit_state").strip().lower()
    return text not in ("n", "no", "0", "false")


def ds_reload(call: MICall) -> Any:
    ds = _dispatcher(call)
    inherit = _inherit(call)
    if call.has("partition"):
        part = ds.partition(call.get_str("partition"))
        if part is None:
            raise MIError(500, UNKNOWN_PARTITION)
        targets = [part]
    else:
        targets = list(ds.partitions.values())
    for part in targets:
        if not ds.reload(part, inherit=inherit):
            raise MIError(500, "ERROR Reloading data")
    return "OK"


def ds_push_script_attrs(call: MICall) -> Any:
    ds = _dispatcher(call)
    part = ds.partition(call.get_str("partition") if call.has("partition") else None)
    if part is None:
        raise MIError(500, UNKNOWN_PARTITION)
    found = find_by_address(part, call.get_str("ip"), call.get_int("port"), call.get_int("set"))
    if not found:
        raise MIError(500, "destination not found")
    ds.set_script_attrs(part, call.get_int("set"), found, call.get_str("attrs"))
    return "OK"


MI_COMMANDS = (
    command(
        "ds_set_state",
        "sets the state of a destination",
        {("state", "group", "address"): ds_set_state},
        "dispatcher",
    ),
    command(
        "ds_list",
        "lists the sets and destinations of the partitions",
        {(): ds_list, ("partition",): ds_list, ("full",): ds_list, ("full", "partition"): ds_list},
        "dispatcher",
    ),
    command(
        "ds_reload",
        "reloads the destinations from the database",
        {
            (): ds_reload,
            ("inherit_state",): ds_reload,
            ("partition",): ds_reload,
            ("partition", "inherit_state"): ds_reload,
        },
        "dispatcher",
    ),
    command(
        "ds_push_script_attrs",
        "sets the script attributes of a destination",
        {
            ("attrs", "ip", "port", "set"): ds_push_script_attrs,
            ("attrs", "ip", "port", "set", "partition"): ds_push_script_attrs,
        },
        "dispatcher",
    ),
)
