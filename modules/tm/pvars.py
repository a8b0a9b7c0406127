"""tm's pseudo-variables: $T_reply_code, $T_branch_idx, $T_ruri, $T_id, $T_fr_timeout,
$T_fr_inv_timeout, $T_branch_last_reply_code and the per-branch AVPs $bavp(name)."""

from __future__ import annotations

from pysips.script.ast import Pos
from pysips.script.context import MsgContext, RouteType, Value
from pysips.script.exports import PVarExport
from pysips.script.pv_base import FuncPV, Getter, PVAccessor, PVError, PVFactory
from pysips.script.values import as_int

from .cell import Branch, Cell
from .functions import reply_code_of, tm_of
from .runtime import Tm


def _cell(ctx: MsgContext) -> Cell | None:
    cell = ctx.transaction
    return cell if isinstance(cell, Cell) else None


def _branch(ctx: MsgContext) -> Branch | None:
    branch = Tm.current_branch(ctx)
    if branch is not None:
        return branch
    cell = _cell(ctx)
    if cell is not None and ctx.route_type == RouteType.FAILURE:
        return cell.picked
    return None


def _no_subname(name: str, subname: str | None, pos: Pos) -> None:
    if subname is not None:
        raise PVError(f"${name} takes no name in parentheses", pos)


def _reply_code(ctx: MsgContext) -> Value:
    return reply_code_of(ctx)


def _branch_idx(ctx: MsgContext) -> Value:
    branch = _branch(ctx)
    return None if branch is None else branch.index


def _branch_last_code(ctx: MsgContext) -> Value:
    branch = _branch(ctx)
    return None if branch is None else branch.last_code


def _t_ruri(ctx: MsgContext) -> Value:
    branch = _branch(ctx)
    return None if branch is None else branch.ruri


def _t_id(ctx: MsgContext) -> Value:
    cell = _cell(ctx)
    return None if cell is None else cell.id


def _timeout_pv(attr: str) -> FuncPV:
    def get(ctx: MsgContext) -> Value:
        cell = _cell(ctx)
        value = getattr(cell, attr) if cell is not None else getattr(Tm.pending(ctx), attr)
        if value is None:
            value = getattr(tm_of(ctx).config, attr)
        return int(value)

    def set_(ctx: MsgContext, value: Value) -> None:
        seconds = None if value is None else as_int(value)
        cell = _cell(ctx)
        target: object = cell if cell is not None else Tm.pending(ctx)
        setattr(target, attr, None if seconds is None or seconds <= 0 else float(seconds))

    return FuncPV(f"$T_{attr}", get, set_)


def _factory(name: str, get: Getter) -> PVFactory:
    def factory(pvname: str, subname: str | None, pos: Pos) -> PVAccessor:
        _no_subname(pvname, subname, pos)
        return FuncPV(f"${pvname}", get)

    return factory


def _timeout_factory(attr: str) -> PVFactory:
    def factory(pvname: str, subname: str | None, pos: Pos) -> PVAccessor:
        _no_subname(pvname, subname, pos)
        return _timeout_pv(attr)

    return factory


class BranchAvpPV(PVAccessor):
    """$bavp(name): AVPs of the current branch (branch_route, onreply_route, failure_route)."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        super().__init__(f"$bavp({key})", True)
        self._key = key

    @staticmethod
    def _store(ctx: MsgContext, create: bool) -> dict[str, list[str | int]] | None:
        branch = _branch(ctx)
        if branch is None:
            return None
        if branch.avps is None and create:
            branch.avps = {}
        return branch.avps

    def get(self, ctx: MsgContext) -> Value:
        store = self._store(ctx, False)
        values = store.get(self._key) if store is not None else None
        return values[0] if values else None

    def get_all(self, ctx: MsgContext) -> list[Value]:
        store = self._store(ctx, False)
        return list(store.get(self._key, ())) if store is not None else []

    def set(self, ctx: MsgContext, value: Value) -> None:
        store = self._store(ctx, True)
        if store is None:
            return
        if value is None:
            store.pop(self._key, None)
        else:
            store.setdefault(self._key, []).insert(0, value)

    def set_replace(self, ctx: MsgContext, value: Value) -> None:
        store = self._store(ctx, True)
        if store is None:
            return
        if value is None:
            store.pop(self._key, None)
        else:
            store[self._key] = [value]


def _bavp_factory(pvname: str, subname: str | None, pos: Pos) -> PVAccessor:
    if not subname:
        raise PVError("$bavp needs a name: $bavp(name)", pos)
    return BranchAvpPV(subname)


PVARS: tuple[PVarExport, ...] = (
    PVarExport("T_reply_code", _factory("T_reply_code", _reply_code),
               "the reply code: current reply (onreply), winning reply (failure), last sent (request)"),
    PVarExport("T_branch_idx", _factory("T_branch_idx", _branch_idx), "index of the current branch"),
    PVarExport("T_branch_last_reply_code", _factory("T_branch_last_reply_code", _branch_last_code),
               "last reply code received on the current branch"),
    PVarExport("T_ruri", _factory("T_ruri", _t_ruri), "the R-URI of the current branch"),
    PVarExport("T_id", _factory("T_id", _t_id), "the transaction id"),
    PVarExport("T_fr_timeout", _timeout_factory("fr_timeout"), "fr_timeout of this transaction (writable)"),
    PVarExport("T_fr_inv_timeout", _timeout_factory("fr_inv_timeout"),
               "fr_inv_timeout of this transaction (writable)"),
    PVarExport("bavp", _bavp_factory, "per-branch AVPs"),
)
