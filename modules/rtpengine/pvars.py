"""$rtpstat (the call's packet counters as one line) and $rtpquery (the daemon's query reply as
JSON). Both ask the daemon (a "query") unless a delete in this route already returned the final
counters. The per-statistic form `$rtpstat(MOS-average)` is not available yet: a load error."""

from __future__ import annotations

import json

from pysips.script.ast import Pos
from pysips.script.context import MsgContext, Value
from pysips.script.exports import PVarExport
from pysips.script.pv_base import FuncPV, PVAccessor, PVError

from .bencode import BValue
from .functions import query
from .runtime import STATS_KEY, want_stats


def _stats(ctx: MsgContext) -> dict[str, BValue] | None:
    cached = ctx.extra.get(STATS_KEY)
    if isinstance(cached, dict):
        return cached
    reply = query(ctx)
    if reply is not None:
        ctx.extra[STATS_KEY] = reply
    return reply


def _counter(block: BValue, name: str) -> int:
    value = block.get(name, -1) if isinstance(block, dict) else -1
    return value if isinstance(value, int) else -1


def stat_line(reply: dict[str, BValue]) -> str | None:
    totals = reply.get("totals")
    if not isinstance(totals, dict):
        return None
    rtp, rtcp = totals.get("RTP"), totals.get("RTCP")
    if not isinstance(rtp, dict) or not isinstance(rtcp, dict):
        return None
    return (
        f"RTP: {_counter(rtp, 'bytes')} bytes, {_counter(rtp, 'packets')} packets, "
        f"{_counter(rtp, 'errors')} errors; RTCP: {_counter(rtcp, 'bytes')} bytes, "
        f"{_counter(rtcp, 'packets')} packets, {_counter(rtcp, 'errors')} errors"
    )


def _rtpstat(ctx: MsgContext) -> Value:
    reply = _stats(ctx)
    return None if reply is None else stat_line(reply)


def _rtpquery(ctx: MsgContext) -> Value:
    reply = _stats(ctx)
    return None if reply is None else json.dumps(reply, ensure_ascii=False)


def _make_rtpstat(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if subname is not None:
        raise PVError(f"$rtpstat({subname}) is not supported by pysips yet (only plain $rtpstat)", pos)
    want_stats()  # deletes now keep their statistics for us
    return FuncPV(name, _rtpstat)


def _make_rtpquery(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if subname is not None:
        raise PVError("$rtpquery takes no name in parentheses", pos)
    want_stats()
    return FuncPV(name, _rtpquery)


PVARS = (
    PVarExport("rtpstat", _make_rtpstat, doc="RTP/RTCP counters of the call (one line)"),
    PVarExport("rtpquery", _make_rtpquery, doc="the daemon's query reply for the call, as JSON"),
)
