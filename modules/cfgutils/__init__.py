"""cfgutils: random events and pauses (the OpenSIPS 3.x `cfgutils` functions that need no engine),
and its variables `$shv(name)`, `$RANDOM`, `$ctime(field)`, `$env(NAME)` (see shvar.py).

rand_event([prob]) is true with `prob` percent chance (default: the current probability, set by
rand_set_prob() and the `initial_probability` parameter). sleep()/usleep() block the worker, as in
OpenSIPS.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from pysips.core.suspend import wait
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
    PVarExport,
)
from pysips.script.pv_base import PVAccessor

from .shvar import SharedVars, check_setting, make_ctime, make_env, make_random, make_shv, parse_setting

_ROUTES = RouteType.ALL & ~RouteType.ERROR


class Probability:
    """The module's runtime: the rand_event() probability and the `$shv` table."""

    __slots__ = ("current", "initial", "rng", "shared")

    def __init__(self, initial: int, shared: SharedVars | None = None) -> None:
        self.initial = initial
        self.current = initial
        self.rng = random.Random()
        self.shared = shared or SharedVars([])


def _state(ctx: MsgContext) -> Probability:
    state = ctx.process.modules.get("cfgutils")
    if not isinstance(state, Probability):
        state = Probability(10)
        ctx.process.modules["cfgutils"] = state
    return state


def _check_prob(value: Any) -> int:
    n = int(value)
    if not 0 <= n <= 100:
        raise FixupError(f"probability must be within [0, 100] (got {n})")
    return n


def _fix_prob(value: Any, fctx: FixupContext) -> int:
    return _check_prob(value)


def rand_event(ctx: MsgContext, prob: int | None) -> int:
    state = _state(ctx)
    p = state.current if prob is None else prob
    return 1 if state.rng.random() * 100 < p else -1


def rand_set_prob(ctx: MsgContext, prob: int) -> int:
    _state(ctx).current = prob
    return 1


def rand_reset_prob(ctx: MsgContext) -> int:
    state = _state(ctx)
    state.current = state.initial
    return 1


def rand_get_prob(ctx: MsgContext) -> int:
    return _state(ctx).current


def _pause(seconds: float) -> None:
    """Suspends this message's script (other messages go on: the non-blocking rule); where no
    script greenlet can wait (no event loop, tools), blocks as OpenSIPS's worker does. The same
    wait serves async(sleep(..)) and launch(sleep(..)), OpenSIPS's async sleep."""
    try:
        wait(asyncio.sleep(seconds))
    except RuntimeError:
        time.sleep(seconds)


def sleep(ctx: MsgContext, seconds: int) -> int:
    _pause(max(seconds, 0))
    return 1


def usleep(ctx: MsgContext, micros: int) -> int:
    _pause(max(micros, 0) / 1_000_000)
    return 1


def get_accurate_time(ctx: MsgContext, sec: PVAccessor, usec: PVAccessor, text: PVAccessor | None) -> int:
    now = time.time()
    whole = int(now)
    micros = int((now - whole) * 1_000_000)
    sec.set(ctx, whole)
    usec.set(ctx, micros)
    if text is not None:
        text.set(ctx, f"{whole}.{micros:06d}")
    return 1


def ts_usec_delta(
    ctx: MsgContext,
    s1: int,
    u1: int,
    s2: int,
    u2: int,
    delta: PVAccessor | None,
    delta_str: PVAccessor | None,
) -> int:
    d = abs((s1 * 1_000_000 + u1) - (s2 * 1_000_000 + u2))
    if delta is not None:
        delta.set(ctx, d)
    if delta_str is not None:
        delta_str.set(ctx, str(d))
    return 1


def _init(ictx: Any, params: dict[str, Any]) -> object:
    for item in params["varset"]:
        name, value = parse_setting(item)
        ictx.process.vars[name] = value
    return Probability(int(params["initial_probability"]), SharedVars(params["shvset"]))


_I = ArgKind.INT
_V = ArgKind.VAR

exports = ModuleExports(
    "cfgutils",
    functions=(
        FunctionExport(
            "rand_event",
            rand_event,
            (ArgSpec(_I, "probability", optional=True, fixup=_fix_prob),),
            _ROUTES,
            doc="true with the given (or current) probability, in percent",
        ),
        FunctionExport(
            "rand_set_prob",
            rand_set_prob,
            (ArgSpec(_I, "probability", fixup=_fix_prob),),
            _ROUTES,
            doc="set the current probability",
        ),
        FunctionExport("rand_reset_prob", rand_reset_prob, (), _ROUTES, doc="back to initial_probability"),
        FunctionExport("rand_get_prob", rand_get_prob, (), _ROUTES, doc="returns the current probability"),
        FunctionExport(
            "sleep", sleep, (ArgSpec(_I, "seconds"),), _ROUTES, async_capable=True,
            doc="wait for seconds (this message only)"
        ),
        FunctionExport(
            "usleep", usleep, (ArgSpec(_I, "microseconds"),), _ROUTES, async_capable=True,
            doc="wait for microseconds (this message only)"
        ),
        FunctionExport(
            "get_accurate_time",
            get_accurate_time,
            (ArgSpec(_V, "sec"), ArgSpec(_V, "usec"), ArgSpec(_V, "sec_usec", optional=True)),
            _ROUTES,
            doc="current time: seconds, microseconds and 'sec.usec'",
        ),
        FunctionExport(
            "ts_usec_delta",
            ts_usec_delta,
            (
                ArgSpec(_I, "t1_sec"),
                ArgSpec(_I, "t1_usec"),
                ArgSpec(_I, "t2_sec"),
                ArgSpec(_I, "t2_usec"),
                ArgSpec(_V, "delta", optional=True),
                ArgSpec(_V, "delta_str", optional=True),
            ),
            _ROUTES,
            doc="absolute difference of two timestamps, in microseconds",
        ),
    ),
    params=(
        ParamExport(
            "initial_probability",
            ParamType.INT,
            10,
            check=_check_prob,
            doc="probability (percent) of rand_event() until rand_set_prob()",
        ),
        ParamExport(
            "shvset", ParamType.STR, multi=True, check=check_setting,
            doc="initial value of a $shv: name=s:text or name=i:number",
        ),
        ParamExport(
            "varset", ParamType.STR, multi=True, check=check_setting,
            doc="initial value of a $var: name=s:text or name=i:number",
        ),
    ),
    pvars=(
        PVarExport("shv", make_shv, doc="a variable shared by every worker"),
        PVarExport("RANDOM", make_random, doc="a random number, 0..2^31-1"),
        PVarExport("ctime", make_ctime, doc="a field of the local time"),
        PVarExport("env", make_env, doc="an environment variable of the server"),
    ),
    init=_init,
    doc="Random events, pauses and time helpers.",
)
