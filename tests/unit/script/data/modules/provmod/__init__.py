"""Test-only provider of functions that oldmod offers as fallbacks."""

from __future__ import annotations

from typing import Any

from pysips.script.context import MsgContext, RouteType
from pysips.script.exports import ArgKind, ArgSpec, FunctionExport, ModuleExports, ParamExport, ParamType


def t_new(ctx: MsgContext, text: str) -> int:
    ctx.extra.setdefault("calls", []).append(("provmod.t_new", text))
    return 1


def shared_fn(ctx: MsgContext) -> int:
    ctx.extra.setdefault("calls", []).append(("provmod.shared_fn",))
    return 1


def t_param(ctx: MsgContext, text: Any) -> int:
    ctx.extra.setdefault("calls", []).append(("provmod.t_param", text))
    return 1


def _suffix(value: Any, fctx: Any) -> str:
    return f"{value}{fctx.params['suffix']}"


exports = ModuleExports(
    "provmod",
    functions=(
        FunctionExport("t_new", t_new, (ArgSpec(ArgKind.STR, "text"),), RouteType.REQUEST),
        FunctionExport("shared_fn", shared_fn),
        FunctionExport("t_param", t_param, (ArgSpec(ArgKind.STR, "text", fixup=_suffix),)),
    ),
    params=(ParamExport("suffix", ParamType.STR, "-default"),),
)
