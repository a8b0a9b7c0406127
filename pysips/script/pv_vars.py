"""Script-owned storage: `$var(name)` (per process), `$avp(name)` (per transaction), `$param(n)`.

`$var` keeps the type it was given (int stays int). AVPs are lists, newest first: `=` pushes a
new value in front, `:=` drops the older ones first, `$avp(x)[i] = v` replaces the i-th value,
`$avp(x)[append] = v` adds after the oldest, and `= NULL` deletes the newest (all with `[*]`/`:=`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pysips.script.ast import Pos
from pysips.script.pv_base import FuncPV, PVAccessor, PVError, join_values, log, stored

if TYPE_CHECKING:
    from pysips.script.context import MsgContext, Value

APPEND = "append"


def avp_key(name: str) -> str:
    """The storage key of an AVP name as written in a script or module parameter.

    Accepts `$avp(x)`, `avp(x)` and the 1.x `s:x`/`i:5` prefixes, so modules can resolve
    parameters such as `received_avp` with the same rule as the script.
    """
    key = name.strip()
    if key.startswith("$avp(") and key.endswith(")"):
        key = key[5:-1]
    elif key.startswith("avp(") and key.endswith(")"):
        key = key[4:-1]
    if len(key) > 2 and key[1] == ":" and key[0] in "sSiI":
        key = key[2:]
    return key


def make_var(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if not subname:
        raise PVError("$var needs a name: $var(name)", pos)
    key = subname

    def get(ctx: MsgContext) -> Value:
        return ctx.process.vars.get(key)

    def set_(ctx: MsgContext, value: Value) -> None:
        if value is None:
            ctx.process.vars.pop(key, None)
        else:
            ctx.process.vars[key] = stored(value)

    return FuncPV(f"$var({key})", get, set_)


class AvpPV(PVAccessor):
    """`$avp(name)` with an optional index: None (newest), int, "*", "append" or a variable."""

    __slots__ = ("_index", "_key")

    def __init__(self, key: str, index: int | str | PVAccessor | None = None) -> None:
        label = f"$avp({key})" if index is None else f"$(avp({key})[{_index_label(index)}])"
        super().__init__(label, True)
        self._key = key
        self._index = index

    def indexed(self, index: int | str | PVAccessor) -> PVAccessor | None:
        return AvpPV(self._key, index)

    def _resolve_index(self, ctx: MsgContext) -> int | str | None:
        index = self._index
        if isinstance(index, PVAccessor):
            value = index.get(ctx)
            if not isinstance(value, int):
                log.error("index of %s is not an integer: %r", self.name, value)
                return None
            return value
        return index

    def get(self, ctx: MsgContext) -> Value:
        values = ctx.avps.get(self._key)
        if not values:
            return None
        index = self._index
        if index is None:
            return values[0]
        index = self._resolve_index(ctx)
        if isinstance(index, int):
            return values[index] if -len(values) <= index < len(values) else None
        if index == "*":
            return join_values(list(values))
        return None  # `[append]` reads as NULL

    def get_all(self, ctx: MsgContext) -> list[Value]:
        values = ctx.avps.get(self._key)
        if not values:
            return []
        if self._index is None or self._index == "*":
            return list(values)
        value = self.get(ctx)
        return [] if value is None else [value]

    def set(self, ctx: MsgContext, value: Value) -> None:
        if value is not None:
            value = stored(value)
        avps = ctx.avps
        key = self._key
        index = self._resolve_index(ctx) if self._index is not None else None
        if isinstance(self._index, PVAccessor) and index is None:
            return
        values = avps.get(key)
        if value is None:
            if index == "*":
                avps.pop(key, None)
            elif values:
                pos = index if isinstance(index, int) else 0
                if -len(values) <= pos < len(values):
                    del values[pos]
                if not values:
                    del avps[key]
            return
        if index == "*":
            avps[key] = [value]
        elif isinstance(index, int):
            if values and -len(values) <= index < len(values):
                values[index] = value
            else:
                log.error("cannot replace %s: no value at index %d", self.name, index)
        elif values is None:
            avps[key] = [value]
        elif index == APPEND:
            values.append(value)
        else:
            values.insert(0, value)

    def set_replace(self, ctx: MsgContext, value: Value) -> None:
        if value is None:
            ctx.avps.pop(self._key, None)
        else:
            ctx.avps[self._key] = [stored(value)]


def _index_label(index: int | str | PVAccessor) -> str:
    return index.name if isinstance(index, PVAccessor) else str(index)


def make_avp(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if not subname:
        raise PVError("$avp needs a name: $avp(name)", pos)
    return AvpPV(avp_key(subname))


def make_param(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    """`$param(2)`: the second argument of `route(name, a, b)`; `$param(name)`: a parameter of
    the event that started an event_route (`ctx.event_params`, a dict set by whoever raised it)."""
    text = (subname or "").strip()
    if not text:
        raise PVError("$param needs a position (from 1) or an event parameter name", pos)
    if not text.isdigit():
        key = text

        def get_named(ctx: MsgContext) -> Value:
            params = ctx.event_params
            return None if params is None else params.get(key)

        return FuncPV(f"$param({key})", get_named)
    position = int(text)
    if position < 1:
        raise PVError("$param positions start at 1", pos)
    slot = position - 1

    def get(ctx: MsgContext) -> Value:
        params = ctx.params
        return params[slot] if slot < len(params) else None

    return FuncPV(f"$param({position})", get)
