"""The engine's statistics for the MI (the core group, and pysips's own counters).

Modules declare their MI commands and statistics in their exports (ModuleExports.mi_commands,
.stats); the loader registers them after the module's init. Nothing here reads a module's
runtime object.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pysips.mi.stats import StatsRegistry

if TYPE_CHECKING:
    from pysips.mi.runtime import MIRuntime

# OpenSIPS's core group, fed from the engine's `stats` dict under the same keys.
CORE_COUNTERS = (
    "rcv_requests", "rcv_replies", "fwd_requests", "fwd_replies", "drop_requests", "drop_replies",
    "err_requests", "err_replies", "bad_URIs_rcvd", "bad_msg_hdr", "slow_messages",
)
# pysips's own engine counters, under their own group
ENGINE_COUNTERS = ("received", "parse_errors", "script_errors", "sent", "send_failures")


def _absent(stats: StatsRegistry, group: str, name: str) -> bool:
    return stats.find(f"{group}:{name}") is None


def register_core_stats(mi: MIRuntime, core: Any) -> None:
    table = getattr(core, "stats", None)
    stats = mi.stats
    if isinstance(table, dict):
        for name in CORE_COUNTERS:
            if _absent(stats, "core", name):
                stats.counter_key("core", name, table)
        for name in ENGINE_COUNTERS:
            if _absent(stats, "pysips", name):
                stats.counter_key("pysips", name, table)
    started = mi.started
    stats.gauge("core", "timestamp", lambda: int(time.time() - started))

