"""MI commands and statistics for runtime objects that do not declare them themselves.

The engine and the modules written before the MI existed keep counters as plain attributes; the
adapters here read them by name (duck typing: nothing is imported from a module). A module that
registers its own commands or statistics at init takes precedence: adapters skip names already
registered.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pysips.mi.stats import StatsRegistry

if TYPE_CHECKING:
    from pysips.mi.runtime import Adapter, MIRuntime

# OpenSIPS's core group, fed from the engine's `stats` dict under the same keys.
CORE_COUNTERS = (
    "rcv_requests", "rcv_replies", "fwd_requests", "fwd_replies", "drop_requests", "drop_replies",
    "err_requests", "err_replies", "bad_URIs_rcvd", "unsupported_methods", "bad_msg_hdr",
)
# pysips's own engine counters, under their own group
ENGINE_COUNTERS = ("received", "parse_errors", "script_errors", "sent", "send_failures")

SL_COUNTERS = (("sent_replies", "sent_replies"), ("sent_err_replies", "sent_err_replies"),
               ("received_ACKs", "received_acks"))
TM_COUNTERS = (
    "received_replies", "relayed_replies", "local_replies", "UAS_transactions", "UAC_transactions",
    "2xx_transactions", "3xx_transactions", "4xx_transactions", "5xx_transactions", "6xx_transactions",
)


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


def _sl(mi: MIRuntime, sl: Any) -> None:
    stats = mi.stats
    by_class = getattr(sl, "by_class", None)
    if isinstance(by_class, list) and len(by_class) >= 7:
        for cls in range(1, 7):
            name = f"{cls}xx_replies"
            if not _absent(stats, "sl", name):
                continue

            def get(cls: int = cls) -> int:
                return int(by_class[cls])

            def reset(cls: int = cls) -> None:
                by_class[cls] = 0

            stats.register("sl", name, get, reset)
    for name, attr in SL_COUNTERS:
        if hasattr(sl, attr) and _absent(stats, "sl", name):
            stats.counter_attr("sl", name, sl, attr)


def _tm(mi: MIRuntime, tm: Any) -> None:
    stats = mi.stats
    holder = getattr(tm, "stats", None)
    if holder is not None:
        for name in TM_COUNTERS:
            if hasattr(holder, name) and _absent(stats, "tm", name):
                stats.counter_attr("tm", name, holder, name)
    cells = getattr(tm, "cells", None)
    if isinstance(cells, dict) and _absent(stats, "tm", "inuse_transactions"):
        stats.gauge("tm", "inuse_transactions", lambda: len(cells))


def _usrloc(mi: MIRuntime, ul: Any) -> None:
    from pysips.mi.usrloc_cmds import register_usrloc

    register_usrloc(mi, ul)


ADAPTERS: tuple[tuple[str, Adapter], ...] = (("sl", _sl), ("tm", _tm), ("usrloc", _usrloc))
