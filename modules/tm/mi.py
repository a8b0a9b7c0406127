"""tm's MI commands: `t_reply` (OpenSIPS 3.6's shape), a reply of ours on a transaction named by
its `$T_id`, from outside its routes (a failure route of another transaction, a timer route)."""

from __future__ import annotations

from typing import Any

from pysips.mi import MICall, MIError, command

from .cell import Cell


def _reply(call: MICall) -> Any:
    from .runtime import Tm

    tm = call.process.modules.get("tm")
    if not isinstance(tm, Tm):
        raise MIError(500, "tm is not initialised")
    code = call.get_int("code")
    if not 100 <= code < 700:
        raise MIError(400, "Invalid reply code")
    reason = call.get_str("reason")
    cell = tm.cells.get(call.get_str("trans_id").strip())
    if not isinstance(cell, Cell) or cell.status >= 200:
        raise MIError(404, "Transaction not found")
    to_tag = call.get_str("to_tag").strip()
    headers: tuple[str, ...] = ()
    if call.has("new_headers"):
        text = call.get_str("new_headers").replace("\r\n", "\n")
        headers = tuple(line for line in text.split("\n") if line.strip() and line.strip() != ".")
    body = call.get_str("body").encode() if call.has("body") else b""
    if to_tag and cell.request.to.tag is None and cell.to_tag is None:
        cell.to_tag = to_tag  # the tag the reply carries (a callee's early tag, as OpenSIPS takes it)
    if tm.reply_cell(cell, code, reason, body, headers) < 0:
        raise MIError(500, "Reply failed")
    return "OK"


_BASE = ("code", "reason", "trans_id", "to_tag")
COMMANDS = (
    command("t_reply", "sends a reply on a transaction (by $T_id)", {
        _BASE: _reply,
        (*_BASE, "new_headers"): _reply,
        (*_BASE, "body"): _reply,
        (*_BASE, "new_headers", "body"): _reply,
    }, module="tm"),
)
