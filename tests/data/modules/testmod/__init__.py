"""A test-only module: records every call in ctx.extra["calls"] so tests can see what ran."""

from __future__ import annotations

from typing import Any

from pysips.script.ast import RouteKind
from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ParamExport,
    ParamType,
    RouteRef,
)


def _record(ctx: MsgContext, name: str, *args: Any) -> None:
    ctx.extra.setdefault("calls", []).append((name, *args))


def t_ret(ctx: MsgContext, n: int) -> int:
    _record(ctx, "t_ret", n)
    return n


def t_rec(ctx: MsgContext, text: str, extra: Any) -> int:
    _record(ctx, "t_rec", text, extra)
    return 1


def t_int(ctx: MsgContext, n: int) -> int:
    _record(ctx, "t_int", n)
    return 1


def t_set(ctx: MsgContext, var: Any, text: str) -> int:
    var.set(ctx, text)
    return 1


def t_match(ctx: MsgContext, pattern: Any, text: str) -> int:
    return 1 if pattern.search(text) else -1


def t_on(ctx: MsgContext, route: RouteRef) -> int:
    _record(ctx, "t_on", route.name)
    ctx.extra["armed"] = route
    return 1


def t_flag(ctx: MsgContext, bit: int) -> int:
    _record(ctx, "t_flag", bit)
    return 1


def t_reqonly(ctx: MsgContext) -> int:
    _record(ctx, "t_reqonly")
    return 1


def t_params(ctx: MsgContext) -> int:
    _record(ctx, "t_params", ctx.process.modules.get("testmod"))
    return 1


def t_boom(ctx: MsgContext) -> int:
    raise ValueError("boom")


def _even(value: Any, fctx: FixupContext) -> int:
    n = int(value)
    if n % 2:
        raise FixupError(f"{n} is odd")
    return n


def _init(ictx: Any, params: dict[str, Any]) -> object:
    return dict(params)


exports = ModuleExports(
    "testmod",
    functions=(
        FunctionExport("t_ret", t_ret, (ArgSpec(ArgKind.INT, "n"),)),
        FunctionExport(
            "t_rec", t_rec, (ArgSpec(ArgKind.STR, "text"), ArgSpec(ArgKind.ANY, "extra", optional=True))
        ),
        FunctionExport("t_int", t_int, (ArgSpec(ArgKind.INT, "n"),)),
        FunctionExport("t_even", t_int, (ArgSpec(ArgKind.INT, "n", fixup=_even),)),
        FunctionExport("t_set", t_set, (ArgSpec(ArgKind.VAR, "var"), ArgSpec(ArgKind.STR, "text"))),
        FunctionExport("t_match", t_match, (ArgSpec(ArgKind.REGEX, "re"), ArgSpec(ArgKind.STR, "text"))),
        FunctionExport("t_on", t_on, (ArgSpec(ArgKind.ROUTE, "route", route_kind=RouteKind.BRANCH),)),
        FunctionExport("t_flag", t_flag, (ArgSpec(ArgKind.BFLAG, "flag"),)),
        FunctionExport("t_reqonly", t_reqonly, (), RouteType.REQUEST),
        FunctionExport("t_params", t_params),
        FunctionExport("t_boom", t_boom),
        FunctionExport("t_later", t_boom, missing="needs something not built yet"),
    ),
    params=(
        ParamExport("p_int", ParamType.INT, 1),
        ParamExport("p_str", ParamType.STR, "dflt"),
        ParamExport("p_multi", ParamType.STR, multi=True),
        ParamExport("p_bflag", ParamType.BFLAG, None),
    ),
    init=_init,
)
