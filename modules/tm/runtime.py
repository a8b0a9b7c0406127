"""The tm runtime of one process: transaction tables, hooks into the engine, timers.

`Tm` is what `process.modules["tm"]` holds. The engine calls its hooks (`on_request` before the
script, `on_reply` for every reply); script functions call `new_tran`, `relay`, `reply`. The
RFC 3261 state machines (pysips.sip.transaction) do the retransmitting and the timing; this layer
is the proxy core above them (RFC 3261 section 16): forking, choosing the reply, cancelling.

Other modules reach it only as the TRANSACTIONS service (pysips.core.services.TransactionService):
replies, the current branch, the transaction callbacks, and requests of our own (uac.py).
"""

from __future__ import annotations

from .base import (
    E_BAD_DESTINATION,
    E_BAD_MSG,
    E_GENERIC,
    E_NO_DESTINATION,
    E_SEND,
    RELAY_ALLOW_NO_CANCEL,
    RELAY_NO_AUTO_477,
    RELAY_NO_DNS_FAILOVER,
    RELAY_PASS_REASON,
    Pending,
)
from .forking import Forking
from .replies import Replies
from .uac import Uac


class Tm(Uac, Forking, Replies):
    """The tm runtime object of one process (process.modules["tm"])."""


__all__ = [
    "E_BAD_DESTINATION",
    "E_BAD_MSG",
    "E_GENERIC",
    "E_NO_DESTINATION",
    "E_SEND",
    "RELAY_ALLOW_NO_CANCEL",
    "RELAY_NO_AUTO_477",
    "RELAY_NO_DNS_FAILOVER",
    "RELAY_PASS_REASON",
    "Pending",
    "Tm",
]
