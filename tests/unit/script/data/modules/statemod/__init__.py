"""Test-only provider with runtime state: it cannot lend functions without being loaded."""

from __future__ import annotations

from typing import Any

from pysips.script.context import MsgContext
from pysips.script.exports import FunctionExport, ModuleExports, ModuleInitContext


def stateful(ctx: MsgContext) -> int:
    return 1 if ctx.process.modules.get("statemod") else -1


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> object:
    return {"ready": True}


exports = ModuleExports("statemod", functions=(FunctionExport("stateful", stateful),), init=_init)
