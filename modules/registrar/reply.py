"""Replies to REGISTER: the Contact list of the 200 OK, sent through signaling's REPLIES service
(statefully when tm holds a transaction, else statelessly)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pysips.core.replies import add_reply_headers
from pysips.core.services import REPLIES
from pysips.script.context import MsgContext
from pysips.sip.qvalue import q_text

from .errors import RegError

if TYPE_CHECKING:
    from pysips.core.services import LocationContact

log = logging.getLogger("pysips.registrar")


def contact_header(bindings: Sequence[LocationContact], now: float, received_param: str) -> str | None:
    """One Contact header listing usrloc bindings (OpenSIPS build_contact): URI, q when set,
    seconds left, received, +sip.instance, reg-id. Written straight from the bindings, no tuples
    in between: the 200 of every REGISTER carries it."""
    if not bindings:
        return None
    parts = []
    for c in bindings:
        q = c.q
        left = c.remaining(now)
        text = f"<{c.uri}>;q={q_text(q)};expires={left}" if q >= 0 else f"<{c.uri}>;expires={left}"
        if c.received:
            text += f';{received_param}="{c.received}"'
        if c.instance:
            text += f';+sip.instance="{c.instance}"'
        if c.reg_id:
            text += f";reg-id={c.reg_id}"
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

