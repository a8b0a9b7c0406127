"""signaling: send_reply() that is stateful when a transaction exists (OpenSIPS module `signaling`).

send_reply(code, reason) answers through tm when the request has a transaction (tm registers an
object with `has_transaction(ctx)` and `reply(ctx, code, reason)` as its runtime state in
`process.modules["tm"]`, see pysips.core.api.TransactionReplier), else statelessly like
sl_send_reply(). tm and sl are both optional (OpenSIPS: DEP_SILENT): without a transaction the
reply goes out statelessly through the engine, whichever of them is loaded. OpenSIPS refuses to
start when neither is loaded; pysips answers statelessly then too.
"""

from __future__ import annotations

import logging

from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import ArgKind, ArgSpec, FixupContext, FunctionExport, ModuleExports

log = logging.getLogger("pysips.modules.signaling")


def _send_stateless(ctx: MsgContext, code: int, reason: str) -> int:
    """As sl_send_reply() (the engine builds and routes the reply; sl's ACK filter sees the tag)."""
    msg = ctx.msg
    if msg is None or not msg.is_request:
        log.error("send_reply: no request to reply to")
        return -1
    if msg.method == "ACK":
        return 1
    engine = ctx.process.core
    if engine is None:
        log.error("send_reply: no SIP engine in this process")
        return -1
    return 1 if engine.send_reply(ctx, engine.build_reply(ctx, code, reason)) else -1


def send_reply(ctx: MsgContext, code: int, reason: str) -> int:
    tm = ctx.process.modules.get("tm")
    if tm is not None and hasattr(tm, "has_transaction") and tm.has_transaction(ctx):
        return int(tm.reply(ctx, code, reason))
    return _send_stateless(ctx, code, reason)


def _fix_code(value: object, fctx: FixupContext) -> int:
    try:
        code = int(str(value).strip())
    except ValueError:
        raise FixupError(f"bad reply code {value!r}", fctx.pos) from None
    if not 100 <= code <= 699:
        raise FixupError(f"reply code {code} is not within 100..699", fctx.pos)
    return code


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
    doc="replies that follow the request's state",
)
