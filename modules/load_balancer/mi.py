"""MI commands lb_reload, lb_resize, lb_list, lb_status (OpenSIPS 3.6 shapes)."""

from __future__ import annotations

from typing import Any

from pysips.mi import MICall, MIError, command

from .data import NO_REENABLE, LbDestination
from .runtime import LoadBalancer


def _lb(call: MICall) -> LoadBalancer:
    runtime = call.process.modules.get("load_balancer")
    if not isinstance(runtime, LoadBalancer):
        raise MIError(500, "load_balancer not initialised")
    return runtime


def _destination(lb: LoadBalancer, call: MICall) -> LbDestination:
    dst = lb.by_id(call.get_int("destination_id"))
    if dst is None:
        raise MIError(404, "Destination ID not found")
    return dst


def lb_reload(call: MICall) -> Any:
    if not _lb(call).reload():
        raise MIError(500, "Failed to reload")
    return "OK"


def lb_resize(call: MICall) -> Any:
    lb = _lb(call)
    dst = _destination(lb, call)
    name = call.get_str("res_name")
    if name not in dst.resources:
        raise MIError(404, "Destination has no such resource")
    lb.resize(dst, name, call.get_int("new_capacity"))
    return "OK"


def lb_list(call: MICall) -> Any:
    lb = _lb(call)
    items = []
    for dst in lb.destinations:
        item: dict[str, Any] = {
            "uri": dst.uri,
            "id": dst.id,
            "group": dst.group,
            "enabled": "yes" if dst.enabled else "no",
            "auto-reenable": "off" if dst.flags & NO_REENABLE else "on",
            "Resources": [
                {"name": name, "max": capacity, "load": lb.load_of(dst, name)}
                for name, capacity in dst.resources.items()
            ],
        }
        if dst.attrs:
            item["attrs"] = dst.attrs
        items.append(item)
    return {"Destinations": items}


def lb_status(call: MICall) -> Any:
    lb = _lb(call)
    dst = _destination(lb, call)
    if call.has("new_status"):
        lb.set_status(dst, call.get_int("new_status") != 0)
        return "OK"
    result: dict[str, Any] = {"enable": "yes" if dst.enabled else "no"}
    if dst.attrs:
        result["attrs"] = dst.attrs
    return result


MI_COMMANDS = (
    command("lb_reload", "reloads the destinations from the database", {(): lb_reload}, "load_balancer"),
    command(
        "lb_resize",
        "changes the capacity of a resource of a destination",
        {("destination_id", "res_name", "new_capacity"): lb_resize},
        "load_balancer",
    ),
    command(
        "lb_list",
        "lists the destinations with the capacity and load of their resources",
        {(): lb_list},
        "load_balancer",
    ),
    command(
        "lb_status",
        "shows or sets whether a destination is enabled",
        {("destination_id",): lb_status, ("destination_id", "new_status"): lb_status},
        "load_balancer",
    ),
)
