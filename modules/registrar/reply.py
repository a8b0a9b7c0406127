"""Replies to REGISTER: the Contact list of the 200 OK, sent through signaling's REPLIES service
(statefully when tm holds a transaction, else statelessly)."""

from __future__ import annotations

import logging

from pysips.core.replies import add_reply_headers
from pysips.core.services import REPLIES
from pysips.script.context import MsgContext
from pysips.sip.qvalue import q_text

from .errors import RegError

log = logging.getLogger("pysips.registrar")


def contact_header(bindings: list[tuple[str, float, int, str | None, str | None, int]],
                   received_param: str) -> str | None:
    """One Contact header listing (uri, q, seconds left, received, instance, reg-id) bindings."""
    if not bindings:
        return None
    parts = []
    for uri, q, left, received, instance, reg_id in bindings:
        text = f"<{uri}>"
        if q >= 0:
            text += f";q={q_text(q)}"
        text += f";expires={left}"
        if received:
            text += f';{received_param}="{received}"'
        if instance:
            text += f';+sip.instance="{instance}"'
        if reg_id:
            text += f";reg-id={reg_id}"
        parts.append(text)
    return "Contact: " + ", ".join(parts)




def send(ctx: MsgContext, code: int, reason: str, headers: tuple[str, ...]) -> bool:
    """Through signaling (registrar requires it, as in OpenSIPS).

    The headers are reply lumps, as in OpenSIPS: a later local reply to the same request (the
    script's sl_reply_error() after a failed save()) carries them too."""
    replies = ctx.process.services.get(REPLIES)
    if replies is None:
        log.error("registrar: no signaling module in this process to send %d %s", code, reason)
        return False
    add_reply_headers(ctx, list(headers))
    return replies.send_reply(ctx, code, reason, ()) > 0


def send_error(ctx: MsgContext, error: RegError, retry_after: int, no_reply: bool) -> None:
    # the registrar keeps its own error code: it does not become the core's last error, so the
    # script's sl_reply_error() answers 500 as in OpenSIPS
    if no_reply:
        return
    headers = [f"P-Registrar-Error: {error.info}", *error.headers]
    if 500 <= error.code < 600 and retry_after:
        headers.append(f"Retry-After: {retry_after}")
    send(ctx, error.code, error.reason, tuple(headers))

