"""OpenSIPS 3.x `async(func(...), resume_route[, timeout])` and `launch(func(...)[, route[, param]])`.

Only functions their module marks async-capable (`FunctionExport.async_capable`, OpenSIPS's
"acmds") may be used; anything else is a load error, as in OpenSIPS ("unknown async command").

async(): in a request route, the transaction is created first when there is none (a
retransmission then ends the script), so retransmissions are absorbed while the function waits.
The function runs; while it waits on the network only this message is suspended (the script runs
in a script greenlet, pysips.core.suspend). Then the resume route runs as a top route on the same
message, with the transaction, its $avp's and flags, `$rc` holding the function's return code;
the route that called async() ends there. `$var`s belong to the process, as in OpenSIPS: the
resume route sees their values at resume time, not the ones they had at async() time. With a
timeout (seconds) the function's wait is cut short and it fails (`$rc` -1 at worst).

launch(): the function runs detached, on a copy of the message, and the script continues at once.
When it ends, the report route (if any) runs as a request route without a SIP message, `$rc` its
return code and `$param(1)` the third argument, evaluated at launch() time.

The waiting itself is the engine's (`ctx.process.core.launch` / `call_with_deadline`): this file
stays free of asyncio.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pysips.script import ast
from pysips.script.compile_call import compile_call
from pysips.script.compile_expr import formatted_value, value
from pysips.script.context import ACT_EXIT, MsgContext, RouteType
from pysips.script.values import as_int
from pysips.sip.message import SipMessage

if TYPE_CHECKING:
    from pysips.script.compile_state import CompiledRoute, CompilerState, RunFn

log = logging.getLogger("pysips.script.core")


def _async_function(c: CompilerState, word: str, call: ast.Call) -> RunFn | None:
    """The compiled call, or None (reported) when the function cannot run asynchronously."""
    entry = c.find_function(call.name, len(call.args))
    fn = compile_call(c, call)  # checks the arguments, and lists unknown functions in the report
    if entry is None:
        return None
    if not entry.export.async_capable:
        c.error(call.pos, f"{call.name}() cannot be used in {word}(): it is not an async function "
                          f"(OpenSIPS: unknown async command <{call.name}>)")
        return None
    return fn


def _request_route(c: CompilerState, word: str, name: str, pos: ast.Pos) -> CompiledRoute | None:
    target = c.route(ast.RouteKind.REQUEST, name)
    c.current.calls.append(name)
    if target is None:
        c.error(pos, f"unknown route {name!r} in {word}()")
    return target


def compile_async(c: CompilerState, stmt: ast.Async) -> RunFn:
    fn = _async_function(c, "async", stmt.call)
    resume = _request_route(c, "async", stmt.resume_route, stmt.pos)
    if "tm" not in c.loaded_modules:
        c.error(stmt.pos, 'async() needs the tm module (loadmodule "tm.so")')
        return lambda ctx: -1
    timeout = value(c, stmt.timeout) if stmt.timeout is not None else None
    if fn is None or resume is None:
        return lambda ctx: -1
    call_fn, resume_route = fn, resume

    def run(ctx: MsgContext) -> int:
        if ctx.route_type & RouteType.REQUEST and ctx.transaction is None:
            starter = ctx.process.transactions
            created = starter.new_tran(ctx) if starter is not None else -1
            if created == 0:  # a retransmission: absorbed, nothing to resume
                ctx.action_flags |= ACT_EXIT
                return 0
            if created < 0:
                log.error("async: could not create a transaction for %s()", stmt.call.name)
        seconds = (as_int(timeout(ctx)) or 0) if timeout is not None else 0
        code = _call(ctx, call_fn, seconds, stmt.call.name)
        ctx.action_flags = 0
        ctx.retcode = code
        resume_route.run(ctx)
        ctx.action_flags |= ACT_EXIT  # the route that called async() ends here
        return 0

    return run


def _call(ctx: MsgContext, call_fn: RunFn, seconds: int, name: str) -> int:
    core = ctx.process.core
    try:
        if seconds > 0 and core is not None:
            return int(core.call_with_deadline(float(seconds), call_fn, ctx))
        return call_fn(ctx)
    except TimeoutError:
        log.error("async: %s() timed out after %d s", name, seconds)
        return -1


def compile_launch(c: CompilerState, stmt: ast.Launch) -> RunFn:
    fn = _async_function(c, "launch", stmt.call)
    report = _request_route(c, "launch", stmt.report_route, stmt.pos) if stmt.report_route else None
    param = formatted_value(c, stmt.report_param) if stmt.report_param is not None else None
    if fn is None or (stmt.report_route and report is None):
        return lambda ctx: -1
    call_fn = fn

    def run(ctx: MsgContext) -> int:
        detached = _detached(ctx)
        args = (param(ctx),) if param is not None else ()
        job = _launch_job(detached, call_fn, report, args)
        core = ctx.process.core
        if core is None:
            job()  # no engine (a script checked or driven by hand): nothing runs concurrently
        else:
            core.launch(job)
        return 1

    return run


def _detached(ctx: MsgContext) -> MsgContext:
    """A copy of the context the launched function may change freely: the script goes on with
    the original message meanwhile."""
    twin = copy.copy(ctx)
    msg = ctx.msg
    if isinstance(msg, SipMessage):
        twin.msg = msg.copy()
    twin.extra = dict(ctx.extra)
    twin.avps = {name: list(values) for name, values in ctx.avps.items()}
    twin.branches = [dict(b) for b in ctx.branches]
    return twin


def _launch_job(ctx: MsgContext, call_fn: RunFn, report: CompiledRoute | None,
                params: tuple[Any, ...]) -> Callable[[], None]:
    def job() -> None:
        try:
            code = call_fn(ctx)
        except Exception:
            log.exception("launch: the launched function failed")
            code = -1
        if report is None:
            return
        rctx = MsgContext(ctx.process, None, None, RouteType.REQUEST, ctx.now)
        rctx.retcode = code
        rctx.params = params
        report.run(rctx)

    return job
