"""The tm runtime of one process: transaction tables, hooks into the engine, timers.

`Tm` is what `process.modules["tm"]` holds. The engine calls its hooks (`on_request` before the
script, `on_reply` for every reply); script functions call `new_tran`, `relay`, `reply`. The
RFC 3261 state machines (pysips.sip.transaction) do the retransmitting and the timing; this layer
is the proxy core above them (RFC 3261 section 16): forking, choosing the reply, cancelling.

For other modules:
- `has_transaction(ctx)`, `reply(ctx, code, reason, body, extra_headers)`;
- `current_branch(ctx)` gives the `Branch` of a branch_route, onreply_route or failure_route
  (index, via_branch, ruri, bflags, to_tag, last_code);
- `branch_send_hooks`: callables (branch ctx, message, socket) run just before a branch's request
  is serialized, with the socket it leaves on (e.g. to write a second Record-Route).
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
    BranchSendHook,
    Pending,
)
from .forking import Forking
from .replies import Replies


class Tm(Forking, Replies):
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
    "BranchSendHook",
    "Pending",
    "Tm",
]
