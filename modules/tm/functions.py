"""tm's script functions: t_relay, t_reply, t_newtran, t_check_trans, t_on_* and friends.

Return values follow OpenSIPS: >0 true, <0 false, 0 ends the script.
"""

from __future__ import annotations

import re
from typing import Any

from pysips.script.ast import RouteKind
from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import ArgKind, ArgSpec, FixupContext, FunctionExport, RouteRef
from pysips.sip.message import SipMessage

from .cell import Cell
from .runtime import (
    RELAY_ALLOW_NO_CANCEL,
    RELAY_NO_AUTO_477,
    RELAY_NO_DNS_FAILOVER,
    RELAY_PASS_REASON,
    Tm,
)

_RELAY_FLAG_NAMES = {
    "no-auto-477": RELAY_NO_AUTO_477,
    "no-dns-failover": RELAY_NO_DNS_FAILOVER,
    "pass-reason-hdr": RELAY_PASS_REASON,
    "allow-no-cancel": RELAY_ALLOW_NO_CANCEL,
}

R = RouteType
_TRANSACTION_ROUTES = R.REQUEST | R.BRANCH | R.ONREPLY | R.FAILURE
_ARMING_ROUTES = _TRANSACTION_ROUTES | R.LOCAL


def tm_of(ctx: MsgContext) -> Tm:
    tm = ctx.process.modules.get("tm")
    if not isinstance(tm, Tm):
        raise RuntimeError("the tm module is not initialised")
    return tm


def _cell(ctx: MsgContext) -> Cell | None:
    cell = ctx.transaction
    return cell if isinstance(cell, Cell) else None


# ---------------------------------------------------------------------------------------------
# Fixups
# ---------------------------------------------------------------------------------------------


def relay_flags(value: Any, fctx: FixupContext) -> int | str:
    """`"no-auto-477,no-dns-failover"` (3.x) or a number such as `0x02` (2.x). A proxy
    (`"udp:10.0.0.1:5060"`) is the 2.x t_relay(proxy[, flags]): its URI is returned (a str), and
    `pysips -c` warns (OpenSIPS 3.x refuses it as an unknown flag)."""
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text, 0)
    except ValueError:
        pass
    flags = 0
    for name in text.split(","):
        name = name.strip().lower()
        if not name:
            continue
        bit = _RELAY_FLAG_NAMES.get(name)
        if bit is None:
            if (":" in text or "." in text) and _PROXY.match(text):
                fctx.warnings.append(f'{text!r} is the 2.x t_relay(proxy) form; OpenSIPS 3.x takes the '
                                     f'proxy second: t_relay(, "{text}")')
                return outbound_proxy(text, fctx)
            raise FixupError(f"unknown t_relay flag {name!r} (known: {', '.join(_RELAY_FLAG_NAMES)})")
        flags |= bit
    return flags


_PROXY = re.compile(r"^(?:(udp|tcp|tls|ws|wss|sctp):)?(\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::(\d{1,5}))?$", re.I)


def relay_proxy(value: Any, fctx: FixupContext) -> str | int:
    """t_relay's second argument: the 3.x outbound proxy, or a number (the flags of the 2.x
    t_relay(proxy, flags))."""
    if isinstance(value, int):
        return value
    text = str(value or "").strip()
    if text.isdigit() or text[:2].lower() == "0x":
        try:
            return int(text, 0)
        except ValueError:
            pass
    return outbound_proxy(text, fctx)


def outbound_proxy(value: Any, fctx: FixupContext) -> str:
    """`[proto:]host[:port]` to a SIP URI usable as $du."""
    text = str(value or "").strip()
    match = _PROXY.match(text)
    if match is None:
        raise FixupError(f"bad outbound proxy {text!r} (want [proto:]host[:port])")
    proto, host, port = match.groups()
    uri = f"sip:{host}" + (f":{port}" if port else "")
    if proto and proto.lower() != "udp":
        uri += f";transport={proto.lower()}"
    return uri


def local_replied_kind(value: Any, fctx: FixupContext) -> str:
    kind = str(value).strip().lower()
    if kind not in ("all", "last"):
        raise FixupError(f"t_local_replied() takes \"all\" or \"last\", not {value!r}")
    return kind


def reply_code(value: Any, fctx: FixupContext) -> int:
    if not isinstance(value, int) or not 100 <= value <= 699:
        raise FixupError(f"reply code must be 100..699 (got {value!r})")
    return value


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------


def t_relay(ctx: MsgContext, flags: int | str | None = None, proxy: str | int | None = None) -> int:
    if isinstance(flags, str):  # the 2.x t_relay(proxy[, flags])
        flags, proxy = (proxy if isinstance(proxy, int) else 0), flags
    if isinstance(proxy, str) and proxy and ctx.dst_uri is None:
        ctx.dst_uri = proxy
    return tm_of(ctx).relay(ctx, flags or 0)


def t_newtran(ctx: MsgContext) -> int:
    return tm_of(ctx).new_tran(ctx)


def t_reply(ctx: MsgContext, code: int, reason: str) -> int:
    return tm_of(ctx).reply(ctx, code, reason)


def t_reply_with_body(ctx: MsgContext, code: int, reason: str, body: str) -> int:
    return tm_of(ctx).reply(ctx, code, reason, body.encode("utf-8", "surrogateescape"))


def t_check_trans(ctx: MsgContext) -> int:
    """CANCEL: its INVITE exists; ACK: a hop-by-hop ACK (-2 for an end-to-end one); anything else:
    a retransmission, which is answered here and ends the script."""
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request:
        return -1
    tm = tm_of(ctx)
    if msg.method == "CANCEL":
        return 1 if tm.cancel_target(msg) is not None else -1
    if _cell(ctx) is not None:
        return 1
    tx = tm.lookup(msg)
    if msg.method == "ACK":
        if tx is None:
            return -1
        if tx.is_invite and tx.last_status >= 300:
            return 1
        return -2
    if tx is None:
        return -1
    tm.absorb(tx, msg)
    return 0


def _arm(ctx: MsgContext, attr: str, ref: RouteRef) -> int:
    cell = _cell(ctx)
    target: Any = cell if cell is not None else Tm.pending(ctx)
    setattr(target, attr, ref)
    return 1


def t_on_branch(ctx: MsgContext, ref: RouteRef) -> int:
    return _arm(ctx, "on_branch", ref)


def t_on_failure(ctx: MsgContext, ref: RouteRef) -> int:
    return _arm(ctx, "on_failure", ref)


def t_on_reply(ctx: MsgContext, ref: RouteRef) -> int:
    if ctx.route_type == RouteType.BRANCH:
        branch = Tm.current_branch(ctx)
        if branch is not None:
            branch.on_reply = ref
            return 1
    return _arm(ctx, "on_reply", ref)


def t_was_cancelled(ctx: MsgContext) -> int:
    cell = _cell(ctx)
    return 1 if cell is not None and cell.cancelled else -1


def reply_code_of(ctx: MsgContext) -> int | None:
    """The code t_check_status and $T_reply_code look at in each kind of route."""
    if ctx.route_type == RouteType.ONREPLY:
        msg = ctx.msg
        return msg.status if isinstance(msg, SipMessage) else None
    cell = _cell(ctx)
    if cell is None:
        local_code = ctx.extra.get("tm.local_code")  # a failure_route of a request of ours (uac.py)
        return int(local_code) if local_code is not None else None
    if ctx.route_type == RouteType.FAILURE and cell.picked is not None:
        return cell.picked.last_code
    return cell.status


def t_check_status(ctx: MsgContext, pattern: re.Pattern[str]) -> int:
    code = reply_code_of(ctx)
    if code is None:
        return -1
    return 1 if pattern.search(str(code)) else -1


def t_local_replied(ctx: MsgContext, kind: str) -> int:
    cell = _cell(ctx)
    if cell is None:
        return -1
    if kind == "all":
        return -1 if cell.received_any else 1
    if ctx.route_type == RouteType.FAILURE and cell.picked is not None:
        return 1 if cell.picked.local_reply else -1
    return 1 if cell.status_local else -1


def t_flush_flags(ctx: MsgContext) -> int:
    cell = _cell(ctx)
    if cell is None:
        return -1
    cell.flags = ctx.flags
    return 1


def _missing(ctx: MsgContext, *args: Any) -> int:
    return -1


def _route_arg(kind: RouteKind) -> ArgSpec:
    return ArgSpec(ArgKind.ROUTE, "route", route_kind=kind)


_NOT_YET = "not implemented in pysips's tm yet"

FUNCTIONS: tuple[FunctionExport, ...] = (
    FunctionExport(
        "t_relay", t_relay,
        # neither need be constant: OpenSIPS 3.x fixes a string holding variables up per call
        # (t_relay(, "tls:$rd:5061"))
        (ArgSpec(ArgKind.STR, "flags", optional=True, fixup=relay_flags),
         ArgSpec(ArgKind.STR, "outbound_proxy", optional=True, fixup=relay_proxy)),
        R.REQUEST | R.FAILURE, "relay statefully to $du / $ru and every appended branch",
    ),
    FunctionExport("t_newtran", t_newtran, (), R.REQUEST, "create the transaction now"),
    FunctionExport(
        "t_reply", t_reply,
        (ArgSpec(ArgKind.INT, "code", fixup=reply_code), ArgSpec(ArgKind.STR, "reason")),
        R.REQUEST | R.FAILURE, "reply statefully",
    ),
    FunctionExport(
        "t_reply_with_body", t_reply_with_body,
        (ArgSpec(ArgKind.INT, "code", fixup=reply_code), ArgSpec(ArgKind.STR, "reason"),
         ArgSpec(ArgKind.STR, "body")),
        R.REQUEST | R.FAILURE, "reply statefully with a body",
    ),
    FunctionExport("t_check_trans", t_check_trans, (), R.REQUEST | R.BRANCH,
                   "the request belongs to a transaction (retransmissions are absorbed)"),
    FunctionExport("t_on_branch", t_on_branch, (_route_arg(RouteKind.BRANCH),), _TRANSACTION_ROUTES),
    FunctionExport("t_on_failure", t_on_failure, (_route_arg(RouteKind.FAILURE),), _ARMING_ROUTES),
    FunctionExport("t_on_reply", t_on_reply, (_route_arg(RouteKind.ONREPLY),), _ARMING_ROUTES),
    FunctionExport("t_was_cancelled", t_was_cancelled, (), _TRANSACTION_ROUTES),
    FunctionExport("t_check_status", t_check_status, (ArgSpec(ArgKind.REGEX, "re"),),
                   R.REQUEST | R.ONREPLY | R.FAILURE | R.BRANCH),
    FunctionExport("t_local_replied", t_local_replied,
                   (ArgSpec(ArgKind.STR, "reply", static=True, fixup=local_replied_kind),),
                   _TRANSACTION_ROUTES),
    FunctionExport("t_flush_flags", t_flush_flags, (), R.REQUEST | R.BRANCH),
    *(
        FunctionExport(name, _missing, tuple(ArgSpec(ArgKind.ANY, optional=True) for _ in range(6)),
                       missing=_NOT_YET)
        for name in (
            "t_cancel_branch", "t_new_request", "t_inject_branches", "t_wait_for_new_branches",
            "t_wait_no_more_branches", "t_add_hdrs", "t_add_cancel_reason", "t_replicate",
            "t_write_req", "t_write_unix", "t_anycast_replicate", "t_reply_by_callid",
            "t_get_branch_idx_by_attr",
        )
    ),
)
