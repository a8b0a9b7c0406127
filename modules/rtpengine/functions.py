"""Script functions: rtpengine_offer/answer/delete/manage, recording, rtpengine_use_set.

Per-branch sessions: when no `via-branch=` flag is given and the message belongs to a tm branch
(a branch_route's copy of the request, or a reply in an onreply_route), the command carries that
branch's Via branch id as "via-branch". Forked branches thus get their own media session on the
daemon (a WebRTC branch and a plain-RTP branch of one call can be offered different SDPs), the
answer in a branch's reply meets the offer made for that branch, and a branch that fails (a reply
>= 300 passed to rtpengine_delete/rtpengine_manage in its onreply_route) tears down only its own
session. Outside branches (BYE, CANCEL, failure_route) a delete covers the whole call.
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.services import TRANSACTIONS, TransactionInfo
from pysips.script.context import MsgContext, RouteType
from pysips.script.pv_base import PVAccessor

from . import flags as fl
from .bencode import BValue
from .command import CommandError, MsgFacts, build_command, effective_op
from .runtime import SET_KEY, STATS_KEY, RtpEngine, stats_wanted

log = logging.getLogger("pysips.modules.rtpengine")

_EMPTY = fl.parse_flags("")


def runtime_of(ctx: MsgContext) -> RtpEngine | None:
    engine = ctx.process.modules.get("rtpengine")
    return engine if isinstance(engine, RtpEngine) else None


def _tm_branch_id(ctx: MsgContext) -> str | None:
    """The Via branch of the tm branch this message belongs to, if any (tm is optional)."""
    tm = ctx.process.services.get(TRANSACTIONS)
    branch = tm.current_branch(ctx) if tm is not None else None
    return branch.via_branch or None if branch is not None else None


def _via_of(msg: Any, which: int) -> str | None:
    vias = msg.vias
    if len(vias) < which:
        return None
    branch = vias[which - 1].branch
    return branch if isinstance(branch, str) else None


def _via_branch(ctx: MsgContext, engine: RtpEngine, parsed: fl.ParsedFlags) -> str | None:
    mode = parsed.via
    if mode == fl.VIA_NONE:
        if ctx.route_type == RouteType.FAILURE:
            return None
        return _tm_branch_id(ctx)
    if mode == fl.VIA_PARAM:
        return parsed.via_value
    if mode == fl.VIA_EXTRA:
        if engine.extra_id is None:
            raise CommandError("via-branch=extra needs the extra_id_pv parameter")
        return engine.extra_id(ctx)
    msg = ctx.msg
    if mode == fl.VIA_AUTO:
        mode = fl.VIA_FIRST if msg.is_request else fl.VIA_SECOND
    return _via_of(msg, mode) or ""


def _facts(ctx: MsgContext) -> MsgFacts:
    msg = ctx.msg
    rcv = ctx.rcv
    return MsgFacts(
        is_request=bool(msg.is_request),
        call_id=msg.call_id or "",
        from_tag=msg.from_.tag,
        to_tag=msg.to.tag,
        src_ip=rcv.src_ip if rcv is not None else None,
    )


FlagsArg = fl.ParsedFlags | str | None  # parsed at load by the fixup, or a string from Python


def _flags(value: FlagsArg) -> fl.ParsedFlags | None:
    if isinstance(value, fl.ParsedFlags):
        return value
    if not value:
        return _EMPTY
    try:
        return fl.parse_cached(value)
    except fl.FlagError as exc:
        log.error("error processing flags %r: %s", value, exc.message)
        return None


def _command(
    ctx: MsgContext, engine: RtpEngine, op: str, parsed: fl.ParsedFlags, sdp: str | None
) -> tuple[dict[str, BValue], str] | None:
    try:
        op = effective_op(op, parsed)
        facts = _facts(ctx)
        command = build_command(op, parsed, facts, sdp, _via_branch(ctx, engine, parsed))
    except CommandError as exc:
        log.error("%s", exc)
        return None
    call_id = command["call-id"]
    return command, call_id if isinstance(call_id, str) else ""


def _exchange(
    ctx: MsgContext, op: str, flags_text: FlagsArg, sock_var: PVAccessor | None, sdp: str | None
) -> dict[str, BValue] | None:
    """One command; the reply when its result is "ok", else None (logged)."""
    engine = runtime_of(ctx)
    if engine is None or ctx.msg is None:
        log.error("rtpengine: no message or module not initialised")
        return None
    parsed = _flags(flags_text)
    if parsed is None:
        return None
    built = _command(ctx, engine, op, parsed, sdp)
    if built is None:
        return None
    command, call_id = built
    reply = engine.call(ctx, command, call_id, sock_var)
    if reply is None:
        return None
    if reply.get("result") != "ok":
        if reply.get("result") != "error":
            log.error("proxy didn't return \"ok\" result")
        return None
    return reply


def _offer_answer(
    ctx: MsgContext,
    op: str,
    flags_text: FlagsArg,
    sock_var: PVAccessor | None,
    sdp_var: PVAccessor | None,
    body: str | None,
) -> int:
    msg = ctx.msg
    if msg is None:
        return -1
    if body is None:
        raw = msg.body
        if not raw:
            log.error("can't extract body from the message")
            return -1
        ctype = msg.content_type
        if ctype is not None and ctype.startswith("multipart/"):
            log.error("rtpengine: multipart bodies are not supported yet")
            return -1
        sdp = raw.decode("utf-8", "surrogateescape")
    else:
        sdp = body
    reply = _exchange(ctx, op, flags_text, sock_var, sdp)
    if reply is None:
        return -1
    new_sdp = reply.get("sdp")
    if not isinstance(new_sdp, str):
        log.error("failed to extract sdp body from proxy reply")
        return -1
    if sdp_var is not None:
        sdp_var.set(ctx, new_sdp)
    elif body is None or msg.body:
        msg.set_body(new_sdp.encode("utf-8", "surrogateescape"))
    else:
        log.error("cannot change old body!")
        return -1
    return 1


def rtpengine_offer(
    ctx: MsgContext,
    flags: FlagsArg = None,
    sock_var: PVAccessor | None = None,
    sdp_var: PVAccessor | None = None,
    body: str | None = None,
) -> int:
    return _offer_answer(ctx, fl.OFFER, flags, sock_var, sdp_var, body)


def rtpengine_answer(
    ctx: MsgContext,
    flags: FlagsArg = None,
    sock_var: PVAccessor | None = None,
    sdp_var: PVAccessor | None = None,
    body: str | None = None,
) -> int:
    msg = ctx.msg
    if msg is not None and msg.is_request and msg.method not in ("ACK", "PRACK"):
        return -1
    return _offer_answer(ctx, fl.ANSWER, flags, sock_var, sdp_var, body)


def _simple(ctx: MsgContext, op: str, flags: FlagsArg, sock_var: PVAccessor | None) -> int:
    reply = _exchange(ctx, op, flags, sock_var, None)
    if reply is None:
        return -1
    if op == fl.DELETE and stats_wanted():
        ctx.extra[STATS_KEY] = reply  # $rtpstat after a delete reads the final counters
    return 1


def rtpengine_delete(ctx: MsgContext, flags: FlagsArg = None, sock_var: PVAccessor | None = None) -> int:
    return _simple(ctx, fl.DELETE, flags, sock_var)


def rtpengine_start_recording(
    ctx: MsgContext, flags: FlagsArg = None, sock_var: PVAccessor | None = None
) -> int:
    return _simple(ctx, fl.START_RECORDING, flags, sock_var)


def rtpengine_stop_recording(
    ctx: MsgContext, flags: FlagsArg = None, sock_var: PVAccessor | None = None
) -> int:
    return _simple(ctx, fl.STOP_RECORDING, flags, sock_var)


def rtpengine_pause_recording(
    ctx: MsgContext, flags: FlagsArg = None, sock_var: PVAccessor | None = None
) -> int:
    return _simple(ctx, fl.PAUSE_RECORDING, flags, sock_var)


_MANAGED = ("INVITE", "ACK", "CANCEL", "BYE", "UPDATE", "PRACK")


def _request_had_sdp(ctx: MsgContext) -> bool:
    """Whether the transaction's request carried SDP (True without a transaction)."""
    tm = ctx.process.services.get(TRANSACTIONS)
    if tm is None or not tm.has_transaction(ctx):
        return True
    transaction: TransactionInfo = ctx.transaction
    return bool(transaction.request.body)


def rtpengine_manage(
    ctx: MsgContext,
    flags: FlagsArg = None,
    sock_var: PVAccessor | None = None,
    sdp_var: PVAccessor | None = None,
    body: str | None = None,
) -> int:
    """offer, answer or delete, chosen from the message as OpenSIPS does."""
    msg = ctx.msg
    if msg is None:
        return -1
    method = msg.method if msg.is_request else msg.cseq.method
    if method not in _MANAGED:
        return -1
    if method in ("CANCEL", "BYE"):
        return rtpengine_delete(ctx, flags, sock_var)
    has_sdp = bool(body) if body is not None else bool(msg.body)
    if msg.is_request:
        if not has_sdp:
            return -1
        if method in ("ACK", "PRACK"):
            return _offer_answer(ctx, fl.ANSWER, flags, sock_var, sdp_var, body)
        if method == "INVITE" and ctx.route_type == RouteType.FAILURE:
            return rtpengine_delete(ctx, flags, sock_var)
        if method in ("INVITE", "UPDATE"):
            return _offer_answer(ctx, fl.OFFER, flags, sock_var, sdp_var, body)
        return -1
    if msg.status >= 300:
        return rtpengine_delete(ctx, flags, sock_var)
    if not has_sdp:
        return -1
    op = fl.ANSWER
    if method != "UPDATE" and not _request_had_sdp(ctx):
        op = fl.OFFER
    return _offer_answer(ctx, op, flags, sock_var, sdp_var, body)


def rtpengine_use_set(ctx: MsgContext, set_id: int) -> int:
    engine = runtime_of(ctx)
    nodeset = engine.set_by_id(set_id) if engine is not None else None
    if nodeset is None:
        log.error("could not locate rtpengine set %d", set_id)
        return -1
    ctx.extra[SET_KEY] = nodeset
    return 1


def query(ctx: MsgContext) -> dict[str, BValue] | None:
    """The daemon's view of the current call (for $rtpstat / $rtpquery)."""
    return _exchange(ctx, fl.QUERY, None, None, None)
