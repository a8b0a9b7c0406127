"""Test-only module: a pseudo-variable, a parameter naming pseudo-variables, an init that keeps
what it was handed, so the tests can see which variables module parameters and init can reach."""

from __future__ import annotations

from typing import Any

from pysips.script.ast import Pos
from pysips.script.context import MsgContext, Value
from pysips.script.exports import (
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamResolveContext,
    ParamType,
    PVarExport,
)
from pysips.script.pv_base import FuncPV, PVAccessor
from pysips.script.pvparam import compile_param_pv


def _pvmod_code(ctx: MsgContext) -> Value:
    return 487


def _factory(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    return FuncPV("$pvmod_code", _pvmod_code)


def _resolve(value: Any, rctx: ParamResolveContext) -> PVAccessor:
    return compile_param_pv(str(value), "spec", rctx.pv_registry)


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"ictx": ictx, "params": params}


exports = ModuleExports(
    name="pvmod",
    params=(
        ParamExport("spec", ParamType.STR, None, resolve=_resolve),
        ParamExport("specs", ParamType.STR, multi=True, resolve=_resolve),
    ),
    pvars=(PVarExport("pvmod_code", _factory),),
    init=_init,
)
