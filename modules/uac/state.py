"""What uac remembers per transaction to put replies back the way the caller expects: its own
CSeq (uac_auth() sent the request one higher) and its own From/To (uac_replace_*)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage

PENDING = "uac.pending"  # ctx.extra: the TxRestore of a request that has no transaction yet


@dataclass(slots=True)
class TxRestore:
    cseq: bool = False  # replies get the CSeq of the request as received
    # header name ("From"/"To") -> the name-addr part the caller wrote, put back into replies
    headers: dict[str, str] = field(default_factory=dict)


def restore_of(ctx: MsgContext, table: dict[str, TxRestore]) -> TxRestore:
    """The record of the request of `ctx`: its transaction's, or one waiting for t_relay()."""
    t = ctx.transaction
    if t is not None:
        tid: str = t.id
        found = table.get(tid)
        if found is None:
            found = table[tid] = TxRestore()
        return found
    pending = ctx.extra.get(PENDING)
    if not isinstance(pending, TxRestore):
        pending = ctx.extra[PENDING] = TxRestore()
    return pending


def split_name_addr(value: str) -> tuple[str, str]:
    """"Alice" <sip:a@x>;tag=1 -> ('"Alice" <sip:a@x>', ';tag=1'); sip:a@x;tag=1 -> ('sip:a@x', ';tag=1')."""
    close = -1
    if "<" in value:
        close = value.find(">", value.find("<"))
    if close >= 0:
        return value[: close + 1], value[close + 1 :]
    semi = value.find(";")
    return (value, "") if semi < 0 else (value[:semi], value[semi:])


def effective_cseq(msg: SipMessage) -> int:
    """The CSeq number the request leaves with (a shift made by dialog or an earlier call)."""
    current = msg.current_header("CSeq")
    if current:
        try:
            return int(current.split()[0])
        except (ValueError, IndexError):
            pass
    return int(msg.cseq.number)


def set_cseq(msg: SipMessage, number: int) -> None:
    msg.replace_header(f"CSeq: {number} {msg.cseq.method}")


def restore_reply(restore: TxRestore, request: Any, reply: SipMessage) -> None:
    """Put the caller's CSeq and From/To back into a reply relayed upstream."""
    if restore.cseq and isinstance(request, SipMessage) and reply.cseq.number != request.cseq.number:
        reply.replace_header(f"CSeq: {request.cseq.number} {reply.cseq.method}")
    for name, original in restore.headers.items():
        value = reply.header(name)
        if value is None:
            continue
        _, params = split_name_addr(value)
        reply.replace_header(f"{name}: {original}{params}")
