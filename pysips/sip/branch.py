"""Via branch ids: the RFC 3261 magic cookie plus what tm needs to find a transaction again.

A stateful branch reads `z9hG4bK<tx>.<n>`: `tx` names the transaction (tm's hash of its key) and
`n` the fork, so a reply's top Via leads straight to its client transaction. A stateless branch is
a hash of the received transaction key, so a CANCEL (or a non-2xx ACK) forwarded statelessly gets
the branch its INVITE got (RFC 3261 section 16.11).
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from pysips.sip.via import MAGIC_COOKIE

if TYPE_CHECKING:
    from pysips.sip.message import SipMessage

_SECRET = os.urandom(16)
_counter = 0
# This process's mark at the start of the branches it makes (after the cookie); empty in a single
# process. With worker processes the main process reads it on a reply's top Via and hands the
# reply to the process that sent the request (pysips.core.workers).
_mark = ""


def set_branch_mark(mark: str) -> None:
    global _mark
    _mark = mark


def new_branch() -> str:
    """A fresh, unique branch (a UAC starting a transaction)."""
    global _counter
    _counter += 1
    digest = hashlib.blake2b(_counter.to_bytes(8, "big"), key=_SECRET, digest_size=10).hexdigest()
    return MAGIC_COOKIE + _mark + digest


def make_branch(tx_id: str, branch_no: int) -> str:
    """The branch of fork `branch_no` of the transaction `tx_id` (no '.' in tx_id)."""
    return f"{MAGIC_COOKIE}{_mark}{tx_id}.{branch_no}"


def parse_branch(branch: str | None) -> tuple[str, int] | None:
    """(tx_id, branch_no) from a branch made by make_branch, else None."""
    if not branch or not branch.startswith(MAGIC_COOKIE):
        return None
    rest = branch[len(MAGIC_COOKIE) :]
    if _mark and rest.startswith(_mark):
        rest = rest[len(_mark) :]
    tx_id, dot, number = rest.rpartition(".")
    if not dot or not tx_id or not number.isdigit() or len(number) > 6:
        return None
    return tx_id, int(number)


def transaction_key(msg: SipMessage) -> tuple[str, ...]:
    """The server-transaction key of a received request (RFC 3261 section 17.2.3).

    ACK and CANCEL map onto their INVITE's key when the branch is RFC 3261 style; an RFC 2543
    request falls back to the Request-URI, tags, Call-ID, CSeq number and top Via.
    """
    via = msg.vias[0] if msg.vias else None
    method = msg.method
    if via is not None and via.rfc3261_branch and len(via.branch or "") > len(MAGIC_COOKIE):
        if method == "ACK" or method == "CANCEL":
            method = "INVITE"
        return (via.branch or "", via.sent_by, method)
    top = via.text if via is not None else ""
    cseq_method = "INVITE" if method in ("ACK", "CANCEL") else method
    number = str(msg.cseq.number)
    return (msg.ruri, msg.to.tag or "", msg.from_.tag or "", msg.call_id, number, cseq_method, top)


def stateless_branch(msg: SipMessage) -> str:
    """The branch a stateless proxy puts on the request it forwards: same key, same branch."""
    material = "\x00".join(transaction_key(msg)).encode("utf-8", "surrogateescape")
    return MAGIC_COOKIE + hashlib.blake2b(material, key=_SECRET, digest_size=10).hexdigest()
