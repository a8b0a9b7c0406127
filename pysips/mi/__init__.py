"""The management interface (MI): JSON-RPC 2.0 commands, as OpenSIPS 3.x offers them.

Modules declare commands with `pysips.mi.command.command(name, doc, {param_names: handler})` and
add them at init with `register_commands(process, cmds)`; counters go to `stats_of(process)`.
Transports (mi_http, mi_fifo, mi_datagram) hand request text to `mi_of(process).handle_text()`.
"""

from pysips.mi.command import MICall, MICommand, Recipe, command
from pysips.mi.errors import MIError
from pysips.mi.runtime import MIRuntime, mi_of, register_commands, stats_of
from pysips.mi.stats import Stat, StatsRegistry

__all__ = [
    "MICall",
    "MICommand",
    "MIError",
    "MIRuntime",
    "Recipe",
    "Stat",
    "StatsRegistry",
    "command",
    "mi_of",
    "register_commands",
    "stats_of",
]
