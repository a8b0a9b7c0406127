"""cfgutils variables: `$shv(name)` (shared by every worker; set by `shvset` or the script),
`$RANDOM`, `$ctime(field)` (local time: sec min hour mday mon year wday yday isdst) and `$env(NAME)`.

The `shvset`/`varset` parameters take "name=s:text" or "name=i:number" and give a `$shv` / `$var`
its value before the first message.
"""

from __future__ import annotations

import os
import random
import time
from typing import TYPE_CHECKING, Any

from pysips.script.ast import Pos
from pysips.script.errors import FixupError
from pysips.script.pv_base import FuncPV, PVAccessor, PVError, log

if TYPE_CHECKING:
    from pysips.script.context import MsgContext, Value

RAND_MAX = 2**31 - 1  # rand() of glibc


def parse_setting(text: Any) -> tuple[str, str | int]:
    """`name=s:value` / `name=i:42` -> (name, value), as OpenSIPS's shvset/varset parse it."""
    raw = str(text)
    name, sep, rest = raw.partition("=")
    if not sep or not name or len(rest) < 2 or rest[0] not in "sSiI" or rest[1] != ":":
        raise FixupError(f"unable to set parameter [{raw}]: expected name=s:text or name=i:number")
    value = rest[2:]
    if rest[0] in "sS":
        return name, value
    try:
        return name, int(value.strip())
    except ValueError:
        raise FixupError(f"unable to set parameter [{raw}]: {value!r} is not a number") from None


def check_setting(value: Any) -> str:
    parse_setting(value)
    return str(value)


class SharedVars:
    """The `$shv` table: one per server (pysips serves from one process)."""

    __slots__ = ("values",)

    def __init__(self, settings: list[Any]) -> None:
        self.values: dict[str, Value] = {}
        for item in settings:
            name, value = parse_setting(item)
            self.values[name] = value


def _table(ctx: MsgContext) -> SharedVars | None:
    state = ctx.process.modules.get("cfgutils")
    table = getattr(state, "shared", None)
    return table if isinstance(table, SharedVars) else None


def make_shv(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    key = (subname or "").strip()
    if not key:
        raise PVError("$shv needs a name: $shv(name)", pos)

    def get(ctx: MsgContext) -> Value:
        table = _table(ctx)
        return None if table is None else table.values.get(key)

    def set_(ctx: MsgContext, value: Value) -> None:
        table = _table(ctx)
        if table is None:
            log.error("$shv(%s): cfgutils is not initialised", key)
            return
        table.values[key] = 0 if value is None else value  # NULL stores integer 0, as OpenSIPS

    return FuncPV(f"$shv({key})", get, set_)


_RNG = random.Random()


def make_random(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if subname is not None:
        raise PVError("$RANDOM takes no name in parentheses", pos)
    return FuncPV("$RANDOM", lambda ctx: _RNG.randint(0, RAND_MAX))


_CTIME = {"sec": 5, "min": 4, "hour": 3, "mday": 2, "mon": 1, "year": 0, "wday": 6, "yday": 7, "isdst": 8}


def make_ctime(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    key = (subname or "").strip()
    if key not in _CTIME:
        raise PVError(f"unknown PV time name {key} (sec min hour mday mon year wday yday isdst)", pos)
    field = _CTIME[key]

    def get(ctx: MsgContext) -> Value:
        parts = time.localtime(ctx.now or time.time())
        value = int(parts[field])
        if key == "wday":
            return (value + 1) % 7 + 1  # struct tm counts from Sunday = 0; OpenSIPS adds 1
        return value

    return FuncPV(f"$ctime({key})", get)


def make_env(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    key = (subname or "").strip()
    if not key:
        raise PVError("$env needs a variable name", pos)
    return FuncPV(f"$env({key})", lambda ctx: os.environ.get(key))
