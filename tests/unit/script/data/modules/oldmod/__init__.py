"""Test-only module of an older release: its functions moved to provmod and statemod."""

from __future__ import annotations

from pysips.script.context import MsgContext
from pysips.script.exports import FunctionExport, ModuleExports, fallback_alias


def own_fallback(ctx: MsgContext) -> int:
    ctx.extra.setdefault("calls", []).append(("oldmod.own_fallback",))
    return 1


exports = ModuleExports(
    "oldmod",
    functions=(
        fallback_alias("t_old", "provmod", "t_new"),
        fallback_alias("shared_fn", "provmod"),
        fallback_alias("t_param", "provmod"),
        fallback_alias("stateful", "statemod"),
        fallback_alias("nowhere_fn", "nosuchmod"),
        FunctionExport("own_fallback", own_fallback, fallback=True),
    ),
)
