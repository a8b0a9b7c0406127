"""signaling: send_reply() that is stateful when a transaction exists (OpenSIPS module `signaling`).

The one implementation of "answer through the transaction when tm holds one for the request, else
statelessly": the script's send_reply(code, reason) and every module that answers (registrar,
auth ...) use it, the modules through the REPLIES service (pysips.core.services.ReplyService).
tm and sl are both optional (OpenSIPS: DEP_SILENT): the stateless path goes through sl when it is
loaded (so its counters and ACK filter see the reply), else straight through the engine. OpenSIPS
refuses to start when neither is loaded; pysips answers statelessly then too.
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.services import REPLIES, STATELESS_REPLIES, TRANSACTIONS
from pysips.script.context import MsgContext, ProcessState, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
)

log = logging.getLogger("pysips.modules.signaling")


class Signaling:
    """The REPLIES service of one process."""

    __slots__ = ("process",)

    def __init__(self, process: ProcessState) -> None:
        self.process = process

    def send_reply(self, ctx: MsgContext, code: int, reason: str,
                   headers: tuple[str, ...] = (), body: bytes = b"") -> int:
        msg = ctx.msg
        if msg is None or not msg.is_request:
            log.error("send_reply: no request to reply to")
            return -1
        if msg.method == "ACK":
            return 1  # an ACK is never answered
        services = self.process.services
        tm = services.get(TRANSACTIONS)
        if tm is not None and tm.has_transaction(ctx):
            return int(tm.reply(ctx, code, reason, body, headers))
        sl = services.get(STATELESS_REPLIES)
        if sl is not None:
            return sl.send_stateless(ctx, code, reason, headers, body)
        return stateless_by_engine(ctx, code, reason, headers, body)


def stateless_by_engine(ctx: MsgContext, code: int, reason: str, headers: tuple[str, ...] = (),
                        body: bytes = b"") -> int:
    engine = ctx.process.core
    if engine is None:
        log.error("send_reply: no SIP engine in this process")
        return -1
    data = engine.build_reply(ctx, code, reason, extra_headers=headers, body=body)
    return 1 if engine.send_reply(ctx, data) else -1


def send_reply(ctx: MsgContext, code: int, reason: str) -> int:
    """The script function."""
    service = ctx.process.services.get(REPLIES)
    if service is None:  # a script checked but not started: answer without the module's state
        return Signaling(ctx.process).send_reply(ctx, code, reason)
    return service.send_reply(ctx, code, reason)


def _fix_code(value: object, fctx: FixupContext) -> int:
    try:
        code = int(str(value).strip())
    except ValueError:
        raise FixupError(f"bad reply code {value!r}", fctx.pos) from None
    if not 100 <= code <= 699:
        raise FixupError(f"reply code {code} is not within 100..699", fctx.pos)
    return code


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Signaling:
    signaling = Signaling(ictx.process)
    ictx.provide(REPLIES, signaling)
    return signaling


exports = ModuleExports(
    "signaling",
    functions=(
        FunctionExport(
            "send_reply", send_reply,
            (ArgSpec(ArgKind.INT, "code", fixup=_fix_code), ArgSpec(ArgKind.STR, "reason")),
            route_types=RouteType.REQUEST | RouteType.FAILURE | RouteType.ERROR,
            doc="reply statefully when a transaction exists (tm), else statelessly",
        ),
    ),
    provides=(REPLIES,),
    uses=(TRANSACTIONS, STATELESS_REPLIES),
    init=_init,
    doc="replies that follow the request's state",
)
