"""Replies of the auth modules, through signaling's REPLIES service (statefully when tm holds a
transaction for the request, else statelessly), as OpenSIPS's auth does."""

from __future__ import annotations

import logging

from pysips.core.services import REPLIES
from pysips.script.context import MsgContext

log = logging.getLogger("pysips.modules.auth")


def send_reply(ctx: MsgContext, code: int, reason: str, headers: tuple[str, ...] = ()) -> bool:
    msg = ctx.msg
    if msg is None or not msg.is_request or msg.method == "ACK":
        return False
    replies = ctx.process.services.get(REPLIES)
    if replies is None:
        log.error("auth: no signaling module to send the %d reply with", code)
        return False
    return replies.send_reply(ctx, code, reason, headers) > 0
