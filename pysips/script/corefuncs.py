"""Core script functions (OpenSIPS core_cmds.c, plus xlog/xdbg/log which the grammar owns there).

Functions that need the network engine (forward, force_send_socket ...) are declared with
`missing=` so a script using them fails to load with the function's name and position.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pysips.script.context import MSGFL_ADD_LOCAL_RPORT, MSGFL_FORCE_RPORT, MsgContext, Value
from pysips.script.errors import FixupError
from pysips.script.exports import ArgKind, ArgSpec, FixupContext, FunctionExport, ModuleExports
from pysips.script.myself import MyselfChecker
from pysips.script.oslog import LEVEL_NAMES, SCRIPT_LOGGER, py_level
from pysips.script.pvbridge import PVAccessor
from pysips.script.uri_rewrite import (
    UriText,
    set_host,
    set_hostport,
    set_port,
    set_user,
    set_userpass,
    split_uri,
)

log = logging.getLogger("pysips.script.core")
xlog_logger = logging.getLogger(SCRIPT_LOGGER)

L_NOTICE = 2
L_DBG = 4


@dataclass(slots=True)
class CoreEnv:
    myself: MyselfChecker
    xlog_print_level: int = L_NOTICE  # level of the one-argument xlog()
    # xlog()/xdbg() print only up to this level, whatever log_level says (OpenSIPS `xlog_level`)
    xlog_level: int = L_NOTICE


def _a(kind: ArgKind, name: str = "", optional: bool = False, **kw: Any) -> ArgSpec:
    return ArgSpec(kind, name, optional, **kw)


# ---------------------------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------------------------


def fix_log_level(value: Any, fctx: FixupContext) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text in LEVEL_NAMES:
        return LEVEL_NAMES[text]
    try:
        return int(text)
    except ValueError:
        raise FixupError(f"unknown log level {text!r} (use L_ALERT .. L_DBG or a number)") from None


def _emit(os_level: int, text: str) -> int:
    level = py_level(os_level)
    if xlog_logger.isEnabledFor(level):
        xlog_logger.log(level, "%s", text[:-1] if text.endswith("\n") else text)
    return 1


def _xlog_level_fmt(ctx: MsgContext, level: int, text: str) -> int:
    return _emit(level, text)


# ---------------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------------


def _setflag(ctx: MsgContext, bit: int) -> int:
    ctx.flags |= 1 << bit
    return 1


def _resetflag(ctx: MsgContext, bit: int) -> int:
    ctx.flags &= ~(1 << bit)
    return 1


def _isflagset(ctx: MsgContext, bit: int) -> int:
    return 1 if ctx.flags & (1 << bit) else -1


def _branch_target(ctx: MsgContext, index: int | None) -> dict[str, Any] | None:
    if not index:
        return None
    if 0 < index <= len(ctx.branches):
        return ctx.branches[index - 1]
    raise IndexError(index)


def _setbflag(ctx: MsgContext, bit: int, index: int | None) -> int:
    try:
        branch = _branch_target(ctx, index)
    except IndexError:
        return -1
    if branch is None:
        ctx.bflags |= 1 << bit
    else:
        branch["bflags"] = int(branch.get("bflags", 0)) | (1 << bit)
    return 1


def _resetbflag(ctx: MsgContext, bit: int, index: int | None) -> int:
    try:
        branch = _branch_target(ctx, index)
    except IndexError:
        return -1
    if branch is None:
        ctx.bflags &= ~(1 << bit)
    else:
        branch["bflags"] = int(branch.get("bflags", 0)) & ~(1 << bit)
    return 1


def _isbflagset(ctx: MsgContext, bit: int, index: int | None) -> int:
    try:
        branch = _branch_target(ctx, index)
    except IndexError:
        return -1
    flags = ctx.bflags if branch is None else int(branch.get("bflags", 0))
    return 1 if flags & (1 << bit) else -1


# ---------------------------------------------------------------------------------------------
# R-URI and destination
# ---------------------------------------------------------------------------------------------

_Arg = TypeVar("_Arg")


def current_ruri(ctx: MsgContext) -> str | None:
    if ctx.new_ruri is not None:
        return ctx.new_ruri
    msg = ctx.msg
    if msg is None or not msg.is_request:
        return None
    ruri: str = msg.ruri
    return ruri


def _rewrite(change: Callable[[UriText, _Arg], UriText]) -> Callable[[MsgContext, _Arg], int]:
    def handler(ctx: MsgContext, arg: _Arg) -> int:
        current = current_ruri(ctx)
        parts = split_uri(current) if current else None
        if parts is None:
            log.error("cannot rewrite the R-URI %r: not a URI", current)
            return -1
        ctx.new_ruri = change(parts, arg).build()
        return 1

    return handler


def _user_edit(edit: Callable[[str, Any], str]) -> Callable[[MsgContext, Any], int]:
    return _rewrite(lambda parts, arg: set_user(parts, edit(parts.user or "", arg)))


def _strip(user: str, n: Any) -> str:
    return user[int(n) :] if int(n) > 0 else user


def _strip_tail(user: str, n: Any) -> str:
    return user[: -int(n)] if int(n) > 0 else user


def _prefix(user: str, text: Any) -> str:
    return str(text) + user


def _seturi(ctx: MsgContext, uri: str) -> int:
    if ctx.msg is not None and not ctx.msg.is_request:
        return -1
    ctx.new_ruri = uri
    return 1


def _revert_uri(ctx: MsgContext) -> int:
    ctx.new_ruri = None
    return 1


def _setdsturi(ctx: MsgContext, uri: str) -> int:
    ctx.dst_uri = uri or None
    return 1


def _resetdsturi(ctx: MsgContext) -> int:
    ctx.dst_uri = None
    return 1


def _isdsturiset(ctx: MsgContext) -> int:
    return 1 if ctx.dst_uri else -1


def _force_rport(ctx: MsgContext) -> int:
    ctx.msg_flags |= MSGFL_FORCE_RPORT
    return 1


def _add_local_rport(ctx: MsgContext) -> int:
    ctx.msg_flags |= MSGFL_ADD_LOCAL_RPORT
    return 1


# ---------------------------------------------------------------------------------------------
# Branches
# ---------------------------------------------------------------------------------------------


def fix_qvalue(value: Any, fctx: FixupContext) -> float | None:
    if value is None or value == "":
        return None
    try:
        q = float(value)
    except (TypeError, ValueError):
        raise FixupError(f"bad q value {value!r}") from None
    if not 0.0 <= q <= 1.0:
        raise FixupError(f"q value {value!r} out of range 0..1")
    return q


def new_branch(ctx: MsgContext, uri: str, q: float | None) -> dict[str, Any]:
    return {"uri": uri, "dst_uri": None, "q": q, "path": None, "bflags": 0, "force_socket": None}


def _append_msg_branch(ctx: MsgContext, uri: str, q: float | None, flags: str | None) -> int:
    branch = new_branch(ctx, uri, q)
    ctx.branches.append(branch)
    return 1


def _append_branch(ctx: MsgContext, uri: str | None, q: float | None) -> int:
    """2.x append_branch(): without a URI, the current R-URI, $du and branch flags are copied."""
    if uri:
        ctx.branches.append(new_branch(ctx, uri, q))
        return 1
    current = current_ruri(ctx)
    if current is None:
        return -1
    branch = new_branch(ctx, current, q)
    branch["dst_uri"] = ctx.dst_uri
    branch["bflags"] = ctx.bflags
    ctx.branches.append(branch)
    return 1


def _remove_msg_branch(ctx: MsgContext, index: int) -> int:
    if 0 <= index < len(ctx.branches):
        del ctx.branches[index]
        return 1
    return -1


# ---------------------------------------------------------------------------------------------
# Variables and misc
# ---------------------------------------------------------------------------------------------


def _pv_printf(ctx: MsgContext, var: PVAccessor, text: str) -> int:
    var.set(ctx, text)
    return 1


def _avp_print(ctx: MsgContext) -> int:
    for name, values in ctx.avps.items():
        log.info("avp %s = %r", name, values)
    return 1


def _get_timestamp(ctx: MsgContext, sec: PVAccessor, usec: PVAccessor) -> int:
    now = ctx.now or time.time()
    whole = int(now)
    sec.set(ctx, whole)
    usec.set(ctx, int((now - whole) * 1_000_000))
    return 1


def _make_is_myself(env: CoreEnv) -> Callable[[MsgContext, str, Value], int]:
    def is_myself(ctx: MsgContext, host: str, port: Value) -> int:
        p = port if isinstance(port, int) else None
        return 1 if env.myself.is_myself(host, p) else -1

    return is_myself


def _missing(reason: str) -> Callable[..., int]:
    def handler(ctx: MsgContext, *args: Any) -> int:
        raise RuntimeError(f"not implemented: {reason}")

    return handler


_ANY8 = tuple(_a(ArgKind.ANY, optional=True) for _ in range(8))

_NEEDS_ENGINE = {
    "forward": "needs the forwarding engine",
    "send": "needs the forwarding engine",
    "force_send_socket": "needs the transport layer",
    "force_tcp_alias": "needs the transport layer",
    "tcp_close_conn": "needs the transport layer",
    "set_advertised_address": "needs the transport layer",
    "set_advertised_port": "needs the transport layer",
    "socket_belongs_to_bond": "needs the transport layer",
    "set_via_handling": "needs the forwarding engine",
    "serialize_branches": "needs branch serialization",
    "next_branches": "needs branch serialization",
    "move_msg_branch": "needs the branch engine",
    "swap_msg_branches": "needs the branch engine",
    "use_blacklist": "needs blacklists",
    "unuse_blacklist": "needs blacklists",
    "check_blacklist_rule": "needs blacklists",
    "add_blacklist_rule": "needs blacklists",
    "del_blacklist_rule": "needs blacklists",
    "cache_store": "needs a cachedb backend",
    "cache_remove": "needs a cachedb backend",
    "cache_fetch": "needs a cachedb backend",
    "cache_counter_fetch": "needs a cachedb backend",
    "cache_add": "needs a cachedb backend",
    "cache_sub": "needs a cachedb backend",
    "cache_raw_query": "needs a cachedb backend",
    "raise_event": "needs the event interface",
    "subscribe_event": "needs the event interface",
    "construct_uri": "not written yet",
    "script_trace": "not written yet",
    "sr_check_status": "needs the status/report framework",
}


def core_exports(env: CoreEnv) -> ModuleExports:
    s, i, any_ = ArgKind.STR, ArgKind.INT, ArgKind.ANY
    level = _a(any_, "level", fixup=fix_log_level)

    def xlog1(ctx: MsgContext, text: str) -> int:
        if env.xlog_print_level > env.xlog_level:
            return 1
        return _emit(env.xlog_print_level, text)

    def xlog2(ctx: MsgContext, at: int, text: str) -> int:
        if at > env.xlog_level:
            return 1
        return _emit(at, text)

    def xdbg(ctx: MsgContext, text: str) -> int:
        if env.xlog_level < L_DBG:
            return 1
        return _emit(L_DBG, text)

    def log1(ctx: MsgContext, text: str) -> int:
        return _emit(L_DBG, text)

    bflag_args = (_a(ArgKind.BFLAG, "flag"), _a(i, "branch_idx", optional=True))
    rewrite_host = _rewrite(set_host)
    rewrite_hostport = _rewrite(set_hostport)
    rewrite_user = _rewrite(set_user)
    rewrite_userpass = _rewrite(set_userpass)
    rewrite_port = _rewrite(set_port)
    functions = [
        FunctionExport("xlog", xlog1, (_a(s, "format"),), doc="log a formatted line at xlog_print_level"),
        FunctionExport("xlog/2", xlog2, (level, _a(s, "format")), doc="log at a level (L_ERR ...)"),
        FunctionExport("xdbg", xdbg, (_a(s, "format"),), doc="log a formatted line at L_DBG"),
        FunctionExport("log", log1, (_a(s, "text"),), doc="log a line at L_DBG"),
        FunctionExport("log/2", _xlog_level_fmt, (level, _a(s, "text")), doc="log a line at a level"),
        FunctionExport("setflag", _setflag, (_a(ArgKind.MFLAG, "flag"),), doc="set a message flag"),
        FunctionExport("resetflag", _resetflag, (_a(ArgKind.MFLAG, "flag"),), doc="reset a message flag"),
        FunctionExport("isflagset", _isflagset, (_a(ArgKind.MFLAG, "flag"),), doc="test a message flag"),
        FunctionExport("setbflag", _setbflag, bflag_args, doc="set a branch flag (branch 0 = the R-URI)"),
        FunctionExport("resetbflag", _resetbflag, bflag_args, doc="reset a branch flag"),
        FunctionExport("isbflagset", _isbflagset, bflag_args, doc="test a branch flag"),
        FunctionExport(
            "is_myself",
            _make_is_myself(env),
            (_a(s, "host"), _a(i, "port", optional=True)),
            doc="is host[:port] one of our listeners or aliases",
        ),
        FunctionExport("seturi", _seturi, (_a(s, "uri"),), doc="replace the R-URI"),
        FunctionExport("sethost", rewrite_host, (_a(s, "host"),), doc="replace the R-URI host"),
        FunctionExport("sethostport", rewrite_hostport, (_a(s, "hostport"),), doc="replace R-URI host:port"),
        FunctionExport("setuser", rewrite_user, (_a(s, "user"),), doc="replace the R-URI user"),
        FunctionExport("setuserpass", rewrite_userpass, (_a(s, "userpass"),), doc="replace R-URI user:pass"),
        FunctionExport("setport", rewrite_port, (_a(s, "port"),), doc="replace the R-URI port"),
        FunctionExport("prefix", _user_edit(_prefix), (_a(s, "prefix"),), doc="prefix the R-URI user"),
        FunctionExport("strip", _user_edit(_strip), (_a(i, "n"),), doc="strip n leading chars of R-URI user"),
        FunctionExport("strip_tail", _user_edit(_strip_tail), (_a(i, "n"),), doc="strip n trailing chars"),
        FunctionExport("revert_uri", _revert_uri, doc="undo R-URI changes"),
        FunctionExport("setdsturi", _setdsturi, (_a(s, "uri"),), doc="set the destination URI ($du)"),
        FunctionExport("resetdsturi", _resetdsturi, doc="clear the destination URI"),
        FunctionExport("isdsturiset", _isdsturiset, doc="is a destination URI set"),
        FunctionExport(
            "force_rport", _force_rport, doc="reply to the source port (RFC 3581) for this message"
        ),
        FunctionExport("add_local_rport", _add_local_rport, doc="add rport to our own Via"),
        FunctionExport(
            "append_msg_branch",
            _append_msg_branch,
            (_a(s, "uri"), _a(s, "q", optional=True, fixup=fix_qvalue), _a(s, "flags", optional=True)),
            doc="add a branch",
        ),
        FunctionExport(
            "append_branch",
            _append_branch,
            (_a(s, "uri", optional=True), _a(s, "q", optional=True, fixup=fix_qvalue)),
            doc="2.x: add a branch (the current R-URI when no URI is given)",
        ),
        FunctionExport(
            "append_branch_old",
            _append_branch,
            (_a(s, "uri", optional=True), _a(s, "q", optional=True, fixup=fix_qvalue)),
            doc="3.6 name of append_branch(): the current R-URI when no URI is given",
        ),
        FunctionExport("remove_msg_branch", _remove_msg_branch, (_a(i, "index"),), doc="remove a branch"),
        FunctionExport(
            "pv_printf",
            _pv_printf,
            (_a(ArgKind.VAR, "var"), _a(s, "format")),
            doc="assign a formatted string to a variable",
        ),
        FunctionExport("avp_print", _avp_print, doc="log every AVP"),
        FunctionExport(
            "get_timestamp",
            _get_timestamp,
            (_a(ArgKind.VAR, "sec"), _a(ArgKind.VAR, "usec")),
            doc="current time as seconds and microseconds",
        ),
    ]
    # 1.x/2.x names of the R-URI rewriters
    aliases = {
        "rewriteuri": "seturi",
        "rewritehost": "sethost",
        "rewritehostport": "sethostport",
        "rewriteuser": "setuser",
        "rewriteuserpass": "setuserpass",
        "rewriteport": "setport",
    }
    by_name = {f.name: f for f in functions}
    for old, new in aliases.items():
        f = by_name[new]
        functions.append(FunctionExport(old, f.handler, f.args, f.route_types, doc=f"2.x name of {new}()"))
    for name, reason in _NEEDS_ENGINE.items():
        functions.append(FunctionExport(name, _missing(reason), _ANY8, missing=reason))
    return ModuleExports("core", functions=tuple(functions), doc="OpenSIPS core functions")
