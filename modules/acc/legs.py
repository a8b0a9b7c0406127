"""Multi-leg accounting: $acc_leg(tag) (the last leg, or `[index]`, negative from the end),
$acc_current_leg and acc_new_leg(). The legs live in the accounting state (record.AccState.legs):
one from the start when leg_fields declares tags, one more per acc_new_leg()."""

from __future__ import annotations

import logging

from pysips.script.ast import Pos
from pysips.script.context import MsgContext, Value
from pysips.script.pv_base import FuncPV, PVAccessor, PVError

from .runtime import acc_of

log = logging.getLogger("pysips.modules.acc")

Index = int | str | PVAccessor | None


def _leg_index(ctx: MsgContext, index: Index, legs: int) -> int | None:
    """The list position of `index` (None: the last leg), or None when out of range."""
    if index is None:
        return legs - 1 if legs else None
    raw: object = index.get(ctx) if isinstance(index, PVAccessor) else index
    try:
        idx = int(str(raw))
    except ValueError:
        log.error("cannot fetch leg index value!")
        return None
    if idx < 0:
        idx += legs
    if not 0 <= idx < legs:
        log.error("bad $acc_leg index: %s", raw)
        return None
    return idx


class AccLegPV(PVAccessor):
    __slots__ = ("_index", "_tag")

    def __init__(self, tag: str, index: Index) -> None:
        super().__init__(f"$acc_leg({tag})", True)
        self._tag = tag
        self._index = index

    def indexed(self, index: int | str | PVAccessor) -> PVAccessor | None:
        return AccLegPV(self._tag, index)

    def get(self, ctx: MsgContext) -> Value:
        state = acc_of(ctx).state(ctx, create=True)
        if state is None or not state.legs:
            log.error("no legs defined!")
            return None
        idx = _leg_index(ctx, self._index, len(state.legs))
        return None if idx is None else state.legs[idx].get(self._tag)

    def set(self, ctx: MsgContext, value: Value) -> None:
        state = acc_of(ctx).state(ctx, create=True)
        if state is None or not state.legs:
            log.error("no legs defined!")
            return
        idx = _leg_index(ctx, self._index, len(state.legs))
        if idx is not None:
            state.legs[idx][self._tag] = None if value is None else str(value)


def make_acc_leg(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if not subname or not subname.strip():
        raise PVError(f"${name} needs a tag: $acc_leg(tag)", pos)
    return AccLegPV(subname.strip(), None)


def make_acc_current_leg(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    def get(ctx: MsgContext) -> Value:
        state = acc_of(ctx).state(ctx, create=True)
        if state is None or not state.legs:
            log.error("no legs defined!")
            return None
        return len(state.legs) - 1

    return FuncPV("$acc_current_leg", get)


def w_acc_new_leg(ctx: MsgContext) -> int:
    acc = acc_of(ctx)
    state = acc.state(ctx, create=True)
    if state is None:
        return -1
    state.legs.append({})
    return 1
