"""Replies of the auth modules: statefully when tm holds a transaction for the request, else
statelessly (OpenSIPS's signaling module does the same for them)."""

from __future__ import annotations

import logging

from pysips.script.context import MsgContext

log = logging.getLogger("pysips.modules.auth")


def send_reply(ctx: MsgContext, code: int, reason: str, headers: tuple[str, ...] = ()) -> bool:
    msg = ctx.msg
    if msg is None or not msg.is_request or msg.method == "ACK":
        return False
    tm = ctx.process.modules.get("tm")
    if tm is not None and hasattr(tm, "has_transaction") and tm.has_transaction(ctx):
        return int(tm.reply(ctx, code, reason, b"", headers)) > 0
    engine = ctx.process.core
    if engine is None:
        log.error("auth: no SIP engine to send the %d reply with", code)
        return False
    return bool(engine.send_reply(ctx, engine.build_reply(ctx, code, reason, extra_headers=headers)))
