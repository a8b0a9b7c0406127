"""The core's MI commands, with OpenSIPS's names, parameters and result shapes."""

from __future__ import annotations

import logging
import os
import platform
import signal
import sys
import time
from typing import Any

from pysips import __version__
from pysips.mi.command import MICall, command
from pysips.mi.errors import INVALID_PARAMS, MIError
from pysips.mi.stats import Stat
from pysips.script.oslog import py_level

OK = "OK"
STATS_NOT_FOUND = (404, "Statistics Not Found")


def _ctime(ts: float) -> str:
    return time.ctime(ts)


def uptime(call: MICall) -> Any:
    now = time.time()
    return {"Now": _ctime(now), "Up since": _ctime(call.mi.started),
            "Up time": f"{int(now - call.mi.started)} [sec]"}


def server_string() -> str:
    return f"pysips ({__version__} (python {platform.python_version()}/{sys.platform}))"


def version(call: MICall) -> Any:
    return {"Server": server_string()}


def version_revision(call: MICall) -> Any:
    return {"Server": server_string(), "Git revision": __version__}


def pwd(call: MICall) -> Any:
    return {"WD": os.getcwd()}


def arg(call: MICall) -> Any:
    return list(sys.argv)


def which(call: MICall) -> Any:
    return call.mi.registry.names()


def which_command(call: MICall) -> Any:
    name = call.get_str("command")
    registry = call.mi.registry
    if name.endswith(":"):
        found = [n for n in registry.names() if n.startswith(name)]
        if found:
            return found
        raise MIError(404, "unknown MI command")
    cmd = registry.get(name)
    if cmd is None:
        raise MIError(404, "unknown MI command")
    return [list(recipe.params) for recipe in cmd.recipes]


def help_usage(call: MICall) -> Any:
    return "Usage: help mi_cmd - returns information about 'mi_cmd'"


def help_command(call: MICall) -> Any:
    cmd = call.mi.registry.get(call.get_str("mi_cmd"))
    if cmd is None:
        raise MIError(404, "unknown MI command")
    return {"Help": cmd.doc or "not available for this command", "Exported by": cmd.module}


def ps(call: MICall) -> Any:
    # One asyncio worker does everything; each role it plays is listed, all with its PID.
    pid = os.getpid()
    roles = ["attendant", *call.mi.roles]
    return {"Processes": [{"ID": i, "PID": pid, "Type": role} for i, role in enumerate(roles)]}


def kill(call: MICall) -> Any:
    core = call.process.core
    if core is None:
        os.kill(os.getpid(), signal.SIGTERM)
    else:
        # on the next loop turn, so this reply goes out first
        core.call_at(core.now(), lambda: os.kill(os.getpid(), signal.SIGTERM))
    return OK


def _os_level_now() -> int:
    level = logging.getLogger("pysips").getEffectiveLevel()
    for os_level in range(4, -4, -1):
        if py_level(os_level) >= level:
            return os_level
    return -3


def log_level_show(call: MICall) -> Any:
    pid = os.getpid()
    level = _os_level_now()
    roles = ["attendant", *call.mi.roles]
    return {"Processes": [{"PID": pid, "Log level": level, "Type": role} for role in roles]}


def log_level_set(call: MICall) -> Any:
    level = call.get_int("level")
    logging.getLogger("pysips").setLevel(py_level(level))
    return {"New global log level": level}


def log_level_set_pid(call: MICall) -> Any:
    level = call.get_int("level")
    if call.get_int("pid") != os.getpid():
        raise MIError.of(INVALID_PARAMS, "Bad PID")
    logging.getLogger("pysips").setLevel(py_level(level))
    return {"Log level": level}


def reload_routes(call: MICall) -> Any:
    reload = getattr(call.process.core, "reload_routes", None)
    if reload is None or not reload():
        raise MIError(500, "reload failed")
    return OK


# ------------------------------------------------------------------ statistics


def _selected(call: MICall, allow_all: bool) -> list[Stat] | None:
    stats = call.mi.stats
    chosen: list[Stat] = []
    found = False
    for name in call.get_str_array("statistics"):
        if allow_all and name == "all":
            chosen.extend(stats)
            found = True
        elif len(name) > 1 and name.endswith(":"):
            if stats.has_group(name[:-1]):
                chosen.extend(stats.group(name[:-1]))
                found = True
        else:
            stat = stats.by_name(name)
            if stat is not None:
                chosen.append(stat)
                found = True
    return chosen if found else None


def _value(stat: Stat) -> int | float:
    try:
        return stat.get()
    except Exception:
        logging.getLogger("pysips.mi").exception("statistic %s cannot be read", stat.full_name)
        return 0


def get_statistics(call: MICall) -> Any:
    chosen = _selected(call, allow_all=True)
    if chosen is None:
        raise MIError(*STATS_NOT_FOUND)
    return {stat.full_name: _value(stat) for stat in chosen}


def _kind(stat: Stat) -> str:
    return "incremental" if stat.reset is not None else "non-incremental"


def list_statistics(call: MICall) -> Any:
    return {stat.full_name: _kind(stat) for stat in call.mi.stats}


def list_statistics_some(call: MICall) -> Any:
    chosen = _selected(call, allow_all=False)
    if chosen is None:
        raise MIError(*STATS_NOT_FOUND)
    return {stat.full_name: _kind(stat) for stat in chosen}


def reset_statistics(call: MICall) -> Any:
    found = False
    for name in call.get_str_array("statistics"):
        stat = call.mi.stats.by_name(name)
        if stat is None:
            continue
        found = True
        if stat.reset is not None:
            stat.reset()
    if not found:
        raise MIError(*STATS_NOT_FOUND)
    return OK


def reset_all_statistics(call: MICall) -> Any:
    for stat in call.mi.stats:
        if stat.reset is not None:
            stat.reset()
    return OK


CORE_COMMANDS = (
    command("uptime", "prints various time information about the server - when it started to run, "
            "for how long it runs", {(): uptime}),
    command("version", "prints the version string of the running server",
            {(): version, ("revision",): version_revision}),
    command("pwd", "prints the working directory of the server", {(): pwd}),
    command("arg", "returns the full list of arguments used at startup", {(): arg}),
    command("which", "lists all available MI commands", {(): which, ("command",): which_command}),
    command("ps", "lists all processes used by the server", {(): ps}),
    command("kill", "terminates the server", {(): kill}),
    command("log_level", "gets/sets the per process or global log level",
            {(): log_level_show, ("level",): log_level_set, ("level", "pid"): log_level_set_pid}),
    command("reload_routes", "triggers the script (routes only) reload", {(): reload_routes}),
    command("help", "prints information about MI commands usage",
            {(): help_usage, ("mi_cmd",): help_command}),
    command("get_statistics", "prints the statistics (all, group or one) realtime values.",
            {("statistics",): get_statistics}, "statistics"),
    command("list_statistics", "lists all the registered statistics and their types",
            {(): list_statistics, ("statistics",): list_statistics_some}, "statistics"),
    command("reset_statistics", "resets the value of a statistic variable",
            {("statistics",): reset_statistics}, "statistics"),
    command("reset_all_statistics", "resets the value of all resetable variables",
            {(): reset_all_statistics}, "statistics"),
)
