"""Test module for async()/launch(): a_wait(code, ms) waits `ms` milliseconds on the event loop
(through pysips.core.suspend.wait) and returns `code`; a_sync(code) returns at once and is not
async-capable. What happened is appended to process.modules["asyncmod.events"]."""

from __future__ import annotations

import asyncio

from pysips.core.suspend import wait
from pysips.script.context import MsgContext
from pysips.script.exports import ArgKind, ArgSpec, FunctionExport, ModuleExports


def _events(ctx: MsgContext) -> list[str]:
    events: list[str] = ctx.process.modules.setdefault("asyncmod.events", [])
    return events


def a_wait(ctx: MsgContext, code: int, ms: int) -> int:
    _events(ctx).append(f"wait {code} start")
    wait(asyncio.sleep(ms / 1000))
    _events(ctx).append(f"wait {code} done")
    return code


def a_sync(ctx: MsgContext, code: int) -> int:
    return code


_CODE = ArgSpec(ArgKind.INT, "code")
exports = ModuleExports(
    "asyncmod",
    functions=(
        FunctionExport("a_wait", a_wait, (_CODE, ArgSpec(ArgKind.INT, "ms")), async_capable=True),
        FunctionExport("a_sync", a_sync, (_CODE,)),
    ),
)
