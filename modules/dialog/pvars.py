"""$DLG_* and $dlg_val(name): the dialog of the message, as OpenSIPS shows it (NULL without one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pysips.script.ast import Pos
from pysips.script.context import MsgContext, Value
from pysips.script.exports import PVarExport
from pysips.script.pv_base import FuncPV, PVAccessor, PVError

from .model import DELETED, DIR_DOWNSTREAM, DIR_UPSTREAM

if TYPE_CHECKING:
    from .model import Dialog
    from .runtime import Dialogs


def _dialogs(ctx: MsgContext) -> Dialogs | None:
    from .runtime import Dialogs

    found = ctx.process.modules.get("dialog")
    return found if isinstance(found, Dialogs) else None


def _current(ctx: MsgContext) -> tuple[Dialogs | None, Dialog | None]:
    """The dialog module (None when not loaded) and the dialog of the message (None without one)."""
    dialogs = _dialogs(ctx)
    return dialogs, dialogs.current(ctx) if dialogs else None


def _status(ctx: MsgContext) -> Value:
    _, dlg = _current(ctx)
    return None if dlg is None else dlg.state


def _lifetime(ctx: MsgContext) -> Value:
    dialogs, dlg = _current(ctx)
    if dlg is None or dialogs is None:
        return None
    return int(dialogs._wall()) - dlg.start_ts if dlg.state > 2 and dlg.start_ts else 0


def _count(ctx: MsgContext) -> Value:
    dialogs = _dialogs(ctx)
    return dialogs.count() if dialogs else 0


def _dir(ctx: MsgContext) -> Value:
    dialogs = _dialogs(ctx)
    if dialogs is None or dialogs.current(ctx) is None:
        return None
    direction = dialogs.direction(ctx)
    return {DIR_UPSTREAM: "upstream", DIR_DOWNSTREAM: "downstream"}.get(direction)


def _did(ctx: MsgContext) -> Value:
    _, dlg = _current(ctx)
    return None if dlg is None else dlg.did


def _end_reason(ctx: MsgContext) -> Value:
    _, dlg = _current(ctx)
    return None if dlg is None else dlg.end_reason


def _get_flags(ctx: MsgContext) -> Value:
    """3.x: the names of the set dialog flags, space-separated ("" when none); NULL without a
    dialog (a value set before create_dialog() reads as that number)."""
    from .mi import flag_list
    from .runtime import PENDING_FLAGS

    dialogs, dlg = _current(ctx)
    if dlg is None:
        pending = ctx.extra.get(PENDING_FLAGS)
        return None if pending is None else int(pending)
    return flag_list(dialogs, dlg.user_flags)


def _flags_of(dialogs: Dialogs | None, value: Value) -> int:
    """An integer bit mask (2.x), or a list of dialog flag names known to the script (3.x)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    from pysips.script.flags import FlagKind

    known = dialogs.flag_names.names(FlagKind.DIALOG) if dialogs is not None and dialogs.flag_names else {}
    mask = 0
    for name in text.split(" "):
        if name in known:
            mask |= 1 << known[name]
    return mask


def _set_flags(ctx: MsgContext, value: Value) -> None:
    from .runtime import PENDING_FLAGS

    dialogs, dlg = _current(ctx)
    number = _flags_of(dialogs, value)
    if dlg is None:
        ctx.extra[PENDING_FLAGS] = number
    else:
        dlg.user_flags = number
        dlg.db_dirty = True


def _get_timeout(ctx: MsgContext) -> Value:
    from .runtime import PENDING_TIMEOUT

    dialogs, dlg = _current(ctx)
    if dlg is None or dialogs is None:
        pending = ctx.extra.get(PENDING_TIMEOUT)
        return None if pending is None else int(pending)
    if dlg.state == DELETED:
        return 0
    if not dlg.confirmed:
        return dlg.timeout
    return dialogs.remaining(dlg)


def _set_timeout(ctx: MsgContext, value: Value) -> None:
    from .runtime import PENDING_TIMEOUT

    dialogs, dlg = _current(ctx)
    seconds = int(value) if value is not None else 0
    if dlg is None or dialogs is None:
        ctx.extra[PENDING_TIMEOUT] = seconds  # applied by the next create_dialog()
    else:
        dialogs.set_timeout(dlg, seconds)


def _json(with_context: bool) -> Any:
    def get(ctx: MsgContext) -> Value:
        from .dlgjson import dialog_json

        dialogs, dlg = _current(ctx)
        return None if dlg is None else dialog_json(dialogs, dlg, with_context)

    return get


def _get_del_delay(ctx: MsgContext) -> Value:
    from .runtime import PENDING_DEL_DELAY

    dialogs, dlg = _current(ctx)
    if dlg is None or dialogs is None:
        pending = ctx.extra.get(PENDING_DEL_DELAY)
        return None if pending is None else int(pending)
    return dlg.del_delay or dialogs.config.delete_delay


def _set_del_delay(ctx: MsgContext, value: Value) -> None:
    from .runtime import PENDING_DEL_DELAY

    seconds = int(value) if value is not None else 0
    if seconds < 0:
        return  # OpenSIPS refuses a negative delay
    _, dlg = _current(ctx)
    if dlg is None:
        ctx.extra[PENDING_DEL_DELAY] = seconds
    else:
        dlg.del_delay = seconds


def _simple(get: Any, set: Any = None) -> Any:
    def factory(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        if subname is not None:
            raise PVError(f"${name} takes no name", pos)
        return FuncPV(name, get, set)

    return factory


def _dlg_val(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if not subname:
        raise PVError("$dlg_val needs a name: $dlg_val(name)", pos)
    key = subname

    def get(ctx: MsgContext) -> Value:
        _, dlg = _current(ctx)
        return None if dlg is None else dlg.vals.get(key)

    def set(ctx: MsgContext, value: Value) -> None:
        _, dlg = _current(ctx)
        if dlg is None:
            return  # OpenSIPS: "no dialog found", the assignment fails
        if value is None:
            dlg.vals.pop(key, None)
        else:
            dlg.vals[key] = value if isinstance(value, int) else str(value)
        dlg.db_dirty = True

    return FuncPV(name, get, set)


PVARS = (
    PVarExport("DLG_count", _simple(_count), doc="dialogs in progress (early and confirmed)"),
    PVarExport("DLG_lifetime", _simple(_lifetime), doc="seconds since the dialog was confirmed"),
    PVarExport("DLG_status", _simple(_status), doc="the dialog's state (1..5)"),
    PVarExport("DLG_dir", _simple(_dir), doc="'downstream' or 'upstream' for a sequential request"),
    PVarExport("DLG_flags", _simple(_get_flags, _set_flags), doc="the dialog's script flags"),
    PVarExport("dlg_val", _dlg_val, doc="a named value kept in the dialog"),
    PVarExport("DLG_did", _simple(_did), doc="the dialog id (as in the did Route parameter)"),
    PVarExport("DLG_end_reason", _simple(_end_reason), doc="why the dialog ended"),
    PVarExport("DLG_del_delay", _simple(_get_del_delay, _set_del_delay),
               doc="seconds the dialog stays listed once deleted (delete_delay by default)"),
    PVarExport("DLG_json", _simple(_json(False)), doc="the dialog as JSON"),
    PVarExport("DLG_ctx_json", _simple(_json(True)), doc="the dialog as JSON, with its values and profiles"),
    PVarExport("DLG_timeout", _simple(_get_timeout, _set_timeout),
               doc="seconds left (set before create_dialog(): the lifetime)"),
)
