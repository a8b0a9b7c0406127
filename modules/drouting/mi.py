"""MI commands of drouting (no partitions): dr_reload, dr_gw_status, dr_carrier_status,
dr_reload_status, dr_number_routing, dr_enable_probing — OpenSIPS 3.6 shapes."""

from __future__ import annotations

import time
from typing import Any

from pysips.mi import MICall, MIError, command

from .routing import DRouting


def _dr(call: MICall) -> DRouting:
    runtime = call.process.modules.get("drouting")
    if not isinstance(runtime, DRouting):
        raise MIError(500, "drouting not initialised")
    return runtime


def _no_partitions(call: MICall) -> None:
    if call.has("partition_name"):
        raise MIError(400, "Partitions are not enabled")


def _now(call: MICall) -> float:
    core = call.process.core
    return float(core.wall_time()) if core is not None else time.time()


def dr_reload(call: MICall) -> Any:
    _no_partitions(call)
    dr = _dr(call)
    inherit = True
    if call.has("inherit_state"):
        inherit = call.get_str("inherit_state").strip().lower() not in ("n", "no", "0")
    if not dr.reload(_now(call), inherit):
        raise MIError(500, "Failed to reload")
    return "OK"


def dr_gw_status(call: MICall) -> Any:
    _no_partitions(call)
    dr = _dr(call)
    if not call.has("gw_id"):
        items = []
        for gw in sorted(dr.data.gateways.values(), key=lambda g: g.id):
            item: dict[str, Any] = {"ID": gw.id, "IP": gw.address}
            if gw.attrs:
                item["ATTRS"] = gw.attrs
            item["State"] = gw.state_name
            items.append(item)
        return {"Gateways": items}
    found = dr.data.gateways.get(call.get_str("gw_id"))
    if found is None:
        raise MIError(404, "GW ID not found")
    gw = found
    if call.has("status"):
        dr.set_gw_status(gw, call.get_int("status") != 0)
        return "OK"
    result: dict[str, Any] = {}
    if gw.attrs:
        result["ATTRS"] = gw.attrs
    result["State"] = gw.state_name
    return result


def dr_carrier_status(call: MICall) -> Any:
    _no_partitions(call)
    dr = _dr(call)
    if not call.has("carrier_id"):
        items = []
        for cr in sorted(dr.data.carriers.values(), key=lambda c: c.id):
            item: dict[str, Any] = {"ID": cr.id}
            if cr.attrs:
                item["ATTRS"] = cr.attrs
            item["Enabled"] = "yes" if cr.enabled else "no "
            items.append(item)
        return {"Carriers": items}
    found_cr = dr.data.carriers.get(call.get_str("carrier_id"))
    if found_cr is None:
        raise MIError(404, "Carrier ID not found")
    cr = found_cr
    if call.has("status"):
        dr.set_carrier_status(cr, call.get_int("status") != 0)
        return "OK"
    result: dict[str, Any] = {}
    if cr.attrs:
        result["ATTRS"] = cr.attrs
    result["Enabled"] = "yes" if cr.enabled else "no "
    return result


def dr_reload_status(call: MICall) -> Any:
    _no_partitions(call)
    return {"Date": time.ctime(_dr(call).last_reload)}


def dr_number_routing(call: MICall) -> Any:
    _no_partitions(call)
    dr = _dr(call)
    group = call.get_int("group_id") if call.has("group_id") else 0
    found = dr.data.find(call.get_str("number"), group, 0, _now(call))
    if found is None:
        raise MIError(404, "No match")
    rule, length, _ = found
    gws: list[str] = []
    for entry in rule.destinations:
        if entry.carrier is not None:
            gws.append("#" + entry.carrier.id)
        elif entry.gateway is not None:
            gws.append(entry.gateway.id)
    result: dict[str, Any] = {
        "Matched Prefix": call.get_str("number")[:length],
        "Rule ID": rule.id,
        "GW List": ",".join(gws),
    }
    if rule.attrs:
        result["Attributes"] = rule.attrs
    return result


def dr_enable_probing(call: MICall) -> Any:
    dr = _dr(call)
    if call.has("status"):
        dr.probing_enabled = call.get_int("status") != 0
        return "OK"
    return {"Status": 1 if dr.probing_enabled else 0}


MI_COMMANDS = (
    command(
        "dr_reload",
        "reloads the routing data from the database",
        {
            (): dr_reload,
            ("inherit_state",): dr_reload,
            ("partition_name",): dr_reload,
            ("partition_name", "inherit_state"): dr_reload,
        },
        "drouting",
    ),
    command(
        "dr_gw_status",
        "lists the gateways, or shows/sets the state of one",
        {
            (): dr_gw_status,
            ("partition_name",): dr_gw_status,
            ("gw_id",): dr_gw_status,
            ("gw_id", "status"): dr_gw_status,
            ("partition_name", "gw_id"): dr_gw_status,
            ("partition_name", "gw_id", "status"): dr_gw_status,
        },
        "drouting",
    ),
    command(
        "dr_carrier_status",
        "lists the carriers, or shows/sets the state of one",
        {
            (): dr_carrier_status,
            ("partition_name",): dr_carrier_status,
            ("carrier_id",): dr_carrier_status,
            ("carrier_id", "status"): dr_carrier_status,
            ("partition_name", "carrier_id"): dr_carrier_status,
            ("partition_name", "carrier_id", "status"): dr_carrier_status,
        },
        "drouting",
    ),
    command(
        "dr_reload_status",
        "when the data was last loaded",
        {(): dr_reload_status, ("partition_name",): dr_reload_status},
        "drouting",
    ),
    command(
        "dr_number_routing",
        "the rule a number matches",
        {
            ("number",): dr_number_routing,
            ("group_id", "number"): dr_number_routing,
            ("partition_name", "number"): dr_number_routing,
            ("partition_name", "group_id", "number"): dr_number_routing,
        },
        "drouting",
    ),
    command(
        "dr_enable_probing",
        "shows or sets whether gateways are probed",
        {(): dr_enable_probing, ("status",): dr_enable_probing},
        "drouting",
    ),
)
