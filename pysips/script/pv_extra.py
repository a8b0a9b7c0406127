"""More core pseudo-variables of OpenSIPS 3.6: `$Au`, `$dir`/`$dip` (Diversion), `$pU $pd $pn`
(P-Preferred-Identity), `$ru_q`, `$msg.is_request`, `$msg.type`, `$msg.flag(NAME)`, `$ds`,
`$xlog_level`, `$log_level`, `$hdr_name` (names of the header lines: first, `[n]`, `[-n]`, `[*]`).

`$xlog_level` is the level up to which xlog() prints: the script's `xlog_level=` (default
L_NOTICE), overridden per process by assigning it; assigning NULL goes back to the default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pysips.script.ast import Pos
from pysips.script.context import RURI_Q_KEY
from pysips.script.oslog import py_level
from pysips.script.pv_base import FuncPV, Getter, ListPV, PVAccessor, PVError, log
from pysips.script.pv_branch import FALSE, TRUE, FlagNames
from pysips.script.pv_core import _credentials, first_nameaddr
from pysips.script.pv_sipparse import split_uri
from pysips.sip.qvalue import q_text

if TYPE_CHECKING:
    from pysips.script.context import MsgContext, Value

L_NOTICE = 2
SERVER_LOGGER = "pysips"  # the root of every pysips logger, whose level log_level= sets


class XlogLevel:
    """The script's default xlog level; a process's override lives in `ProcessState.xlog_level`."""

    __slots__ = ("default",)

    def __init__(self, default: int = L_NOTICE) -> None:
        self.default = default

    def current(self, ctx: MsgContext) -> int:
        local = ctx.process.xlog_level
        return self.default if local is None else local


def _diversion_param(name: str) -> Getter:
    """A parameter of the first Diversion header (`reason`, `privacy`), NULL when absent."""

    def get(ctx: MsgContext) -> Value:
        na = first_nameaddr(ctx, "diversion")
        if na is None:
            return None
        for pname, pvalue in na.param_list():
            if pname.lower() == name:
                if pvalue is None:
                    return ""
                if len(pvalue) >= 2 and pvalue[0] == pvalue[-1] == '"':
                    return str(pvalue[1:-1])
                return str(pvalue)
        return None

    return get


def _ppi(part: str) -> Getter:
    def get(ctx: MsgContext) -> Value:
        na = first_nameaddr(ctx, "p-preferred-identity")
        if na is None:
            return None
        if part == "n":
            return na.display or None
        parts = split_uri(na.uri)
        if parts is None:
            return None
        return (parts.user if part == "U" else parts.host) or None

    return get


def _acc_username(ctx: MsgContext) -> Value:
    """`$Au`: user@realm of the credentials, else user@host of the From URI (as acc logs it)."""
    msg = ctx.msg
    if msg is None:
        return None
    cred = _credentials(msg) if msg.is_request else None
    if cred is not None:
        user = cred.get("username") or ""
        if user:
            realm = cred.get("realm")
            return f"{user}@{realm}" if realm is not None else user
    from_ = getattr(msg, "from_", None)
    if from_ is None or not from_.uri:
        return ""
    parts = split_uri(from_.uri)
    if parts is None:
        log.error("bad From URI")
        return None
    return f"{parts.user}@{parts.host}"


def _get_ru_q(ctx: MsgContext) -> Value:
    """`$ru_q`: the R-URI branch's q as an integer in thousandths, -1 when unspecified."""
    if ctx.msg is None or not ctx.msg.is_request:
        return None
    q = ctx.extra.get(RURI_Q_KEY)
    return -1 if q is None else round(float(q) * 1000)


def _set_ru_q(ctx: MsgContext, value: Value) -> None:
    if not isinstance(value, int):
        log.error("int value required to set r-uri queue value")
        return
    if value > 1000:
        log.warning("queue value too big %d - setting queue to maximum value (1000)", value)
        value = 1000
    if value < 0:
        ctx.extra.pop(RURI_Q_KEY, None)
    else:
        ctx.extra[RURI_Q_KEY] = value / 1000


def _msg_is_request(ctx: MsgContext) -> Value:
    msg = ctx.msg
    return None if msg is None else (TRUE if msg.is_request else FALSE)


def _msg_type(ctx: MsgContext) -> Value:
    msg = ctx.msg
    return None if msg is None else ("request" if msg.is_request else "reply")


class LogLevel:
    """`$log_level`: the level of this process's log (pysips serves from one process); NULL
    goes back to the level the process started with."""

    __slots__ = ("default",)

    def __init__(self) -> None:
        self.default: int | None = None  # the level before the script first changed it

    def get(self, ctx: MsgContext) -> Value:
        return os_level(logging.getLogger(SERVER_LOGGER).getEffectiveLevel())

    def set(self, ctx: MsgContext, value: Value) -> None:
        logger = logging.getLogger(SERVER_LOGGER)
        if self.default is None:
            self.default = logger.level
        if value is None:
            logger.setLevel(self.default)
            return
        if not isinstance(value, int):
            log.error("input for $log_level found not to be an integer")
            return
        logger.setLevel(py_level(value))


def os_level(py: int) -> int:
    """The OpenSIPS level number of a Python logging level."""
    for level in (-3, -2, -1, 1, 2, 3):
        if py >= py_level(level):
            return level
    return 4


def _dset(ctx: MsgContext) -> Value:
    """`$ds`: the destination set as a Contact header body (the R-URI when the script changed it,
    then the appended branches), each `<uri>` with `;q=` when set; NULL when empty."""
    entries: list[str] = []
    if ctx.new_ruri:
        q = q_text(ctx.extra.get(RURI_Q_KEY))
        entries.append(f"<{ctx.new_ruri}>" + (f";q={q}" if q else ""))
    for branch in ctx.branches:
        q = q_text(branch.get("q"))
        entries.append(f"<{branch.get('uri')}>" + (f";q={q}" if q else ""))
    return "Contact: " + ", ".join(entries) if entries else None


def _make_msg_flag(flags: FlagNames) -> Any:
    def factory(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        from pysips.script.flags import FlagKind

        flag = (subname or "").strip()
        if not flag or flags.registry is None:
            raise PVError("$msg.flag needs a message flag name", pos)
        try:
            mask = flags.registry.mask(FlagKind.MESSAGE, flag)
        except Exception as exc:  # FixupError: too many flags
            raise PVError(f"$msg.flag({flag}): {exc}", pos) from None

        def get(ctx: MsgContext) -> Value:
            return TRUE if ctx.flags & mask else FALSE

        def set_(ctx: MsgContext, value: Value) -> None:
            if not isinstance(value, int):
                log.error("input for $msg.flag() found not to be an integer")
                return
            ctx.flags = ctx.flags | mask if value else ctx.flags & ~mask

        return FuncPV(f"$msg.flag({flag})", get, set_)

    return factory


def _header_names(ctx: MsgContext) -> list[Value]:
    msg = ctx.msg
    if msg is None:
        return []
    return list(msg.header_names())


def _names_factory(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    if subname is not None:
        raise PVError(f"${name} takes no name in parentheses", pos)
    return ListPV(f"${name}", _header_names)


def _plain(get: Getter, set_: Callable[[MsgContext, Value], None] | None = None) -> Any:
    def factory(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        if subname is not None:
            raise PVError(f"${name} takes no name in parentheses", pos)
        return FuncPV(f"${name}", get, set_)

    return factory


def extra_factories(xlog: XlogLevel, flags: FlagNames) -> dict[str, Any]:
    log_level = LogLevel()

    def get_xlog(ctx: MsgContext) -> Value:
        return xlog.current(ctx)

    def set_xlog(ctx: MsgContext, value: Value) -> None:
        if value is None:
            ctx.process.xlog_level = None
            return
        if not isinstance(value, int):
            log.error("input for $xlog_level found not to be an integer")
            return
        ctx.process.xlog_level = value

    return {
        "Au": _plain(_acc_username),
        "dir": _plain(_diversion_param("reason")),
        "dip": _plain(_diversion_param("privacy")),
        "pU": _plain(_ppi("U")),
        "pd": _plain(_ppi("d")),
        "pn": _plain(_ppi("n")),
        "ru_q": _plain(_get_ru_q, _set_ru_q),
        "msg.is_request": _plain(_msg_is_request),
        "msg.type": _plain(_msg_type),
        "msg.flag": _make_msg_flag(flags),
        "ds": _plain(_dset),
        "hdr_name": _names_factory,
        "xlog_level": _plain(get_xlog, set_xlog),
        "log_level": _plain(log_level.get, log_level.set),
    }
