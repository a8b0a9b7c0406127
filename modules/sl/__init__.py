"""sl: stateless replies (OpenSIPS module `sl`).

sl_send_reply(code, reason) answers the current request without keeping state: the To tag (added
from 180 up when the request has none) is derived from the request, so a retransmission gets the
same reply and the ACK to a local reply is recognised and dropped before the script sees it.
sl_reply_error() answers from the last error recorded while processing (500 when none). An ACK is
never answered (returns 1, as OpenSIPS does).
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.replies import is_stateless_tag, last_error
from pysips.core.services import STATELESS_REPLIES
from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
    StatExport,
)
from pysips.sip.message import SipMessage
from pysips.sip.receive import ReceiveInfo

log = logging.getLogger("pysips.modules.sl")


class SlStats:
    """The module's counters (OpenSIPS sl statistics)."""

    __slots__ = ("by_class", "enabled", "received_acks", "sent_err_replies", "sent_replies")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.by_class = [0] * 7  # index 1..6: 1xx..6xx
        self.sent_replies = 0
        self.sent_err_replies = 0
        self.received_acks = 0


def fix_code(value: Any, fctx: FixupContext) -> int:
    try:
        code = int(str(value).strip())
    except ValueError:
        raise FixupError(f"bad reply code {value!r}", fctx.pos) from None
    if not 100 <= code <= 699:
        raise FixupError(f"reply code {code} is not within 100..699", fctx.pos)
    return code


def send_stateless_reply(ctx: MsgContext, code: int, reason: str, headers: tuple[str, ...] = (),
                         body: bytes = b"") -> int:
    """The sl reply path (sl_send_reply, and signaling's send_reply() when there is no transaction)."""
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request:
        log.error("sl_send_reply: no request to reply to")
        return -1
    if msg.method == "ACK":
        return 1
    engine = ctx.process.core
    if engine is None:
        log.error("sl_send_reply: no SIP engine in this process")
        return -1
    if not engine.send_reply(ctx, engine.build_reply(ctx, code, reason, extra_headers=headers, body=body)):
        return -1
    stats = ctx.process.modules.get("sl")
    if isinstance(stats, SlStats) and stats.enabled:
        stats.sent_replies += 1
        stats.by_class[code // 100] += 1
    return 1


class StatelessReplies:
    """The STATELESS_REPLIES service (pysips.core.services.StatelessReplyService)."""

    __slots__ = ()

    def send_stateless(self, ctx: MsgContext, code: int, reason: str, headers: tuple[str, ...] = (),
                       body: bytes = b"") -> int:
        return send_stateless_reply(ctx, code, reason, headers, body)


def sl_send_reply(ctx: MsgContext, code: int, reason: str) -> int:
    return send_stateless_reply(ctx, code, reason)


def sl_reply_error(ctx: MsgContext) -> int:
    code, reason = last_error(ctx)
    ret = send_stateless_reply(ctx, code, reason)
    stats = ctx.process.modules.get("sl")
    if ret > 0 and isinstance(stats, SlStats) and stats.enabled:
        stats.sent_err_replies += 1
    return ret


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> SlStats:
    stats = SlStats(bool(params.get("enable_stats", 1)))
    core = mctx.process.core
    if core is not None:
        core.hooks.request.append(_make_ack_filter(stats))
    mctx.provide(STATELESS_REPLIES, StatelessReplies())
    return stats


def _make_ack_filter(stats: SlStats) -> Any:
    def ack_filter(msg: SipMessage, rcv: ReceiveInfo) -> bool:
        """An ACK for a reply we sent statelessly ends here (OpenSIPS sl_filter_ACK)."""
        if msg.method != "ACK" or not is_stateless_tag(msg.to.tag):
            return False
        stats.received_acks += 1
        return True

    return ack_filter


_CODE = ArgSpec(ArgKind.INT, "code", fixup=fix_code)
_REASON = ArgSpec(ArgKind.STR, "reason")

exports = ModuleExports(
    "sl",
    functions=(
        FunctionExport("sl_send_reply", sl_send_reply, (_CODE, _REASON),
                       route_types=RouteType.REQUEST | RouteType.ERROR,
                       doc="send a reply statelessly (To tag added from 180 up)"),
        FunctionExport("sl_reply_error", sl_reply_error, route_types=RouteType.REQUEST,
                       doc="reply with the code and reason of the last processing error (500 by default)"),
    ),
    params=(ParamExport("enable_stats", ParamType.INT, 1, doc="keep reply counters"),),
    provides=(STATELESS_REPLIES,),
    init=_init,
    stats=(
        *(StatExport(f"{cls}xx_replies", lambda sl, cls=cls: sl.by_class[cls],
                     lambda sl, cls=cls: sl.by_class.__setitem__(cls, 0)) for cls in range(1, 7)),
        StatExport("sent_replies", lambda sl: sl.sent_replies, lambda sl: setattr(sl, "sent_replies", 0)),
        StatExport("sent_err_replies", lambda sl: sl.sent_err_replies,
                   lambda sl: setattr(sl, "sent_err_replies", 0)),
        StatExport("received_ACKs", lambda sl: sl.received_acks, lambda sl: setattr(sl, "received_acks", 0)),
    ),
    doc="stateless replies",
)
