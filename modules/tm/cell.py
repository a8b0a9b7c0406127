"""A proxied transaction: the server side (one Cell) and its forks (Branches).

A Cell owns the RFC 3261 server transaction towards the caller and every client transaction it
forked; it also keeps what the script set for the transaction (message flags, AVPs, the routes
armed with t_on_*). Other modules reach branch details through `Branch` attributes: `index`,
`via_branch` (the branch parameter of our Via), `ruri`, `bflags`, `to_tag` (of the last reply).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pysips.core.api import Destination, Socket
    from pysips.script.exports import RouteRef
    from pysips.sip.message import SipMessage
    from pysips.sip.receive import ReceiveInfo
    from pysips.sip.transaction import ClientTransaction, ServerTransaction

# Cancel states of a branch.
CANCEL_NONE = 0
CANCEL_PENDING = 1  # to cancel as soon as a provisional arrives (RFC 3261 9.1: not before)
CANCEL_SENT = 2


class Branch:
    """One fork of a Cell: a client transaction towards one destination."""

    __slots__ = (
        "alternates",
        "avps",
        "bflags",
        "cancel_state",
        "cancel_tx",
        "dst",
        "dst_uri",
        "index",
        "last_code",
        "local_reply",
        "on_reply",
        "replied",
        "reply",
        "request",
        "ruri",
        "socket",
        "to_tag",
        "uac",
        "via_branch",
    )

    # No reference back to the Cell: a Cell <-> Branch cycle would leave every finished
    # transaction (messages, timers, buffers) to the cyclic garbage collector.
    def __init__(self, index: int, via_branch: str) -> None:
        self.index = index
        self.via_branch = via_branch
        self.ruri = ""
        self.dst_uri: str | None = None
        self.bflags = 0
        self.on_reply: RouteRef | None = None
        self.uac: ClientTransaction | None = None
        self.request = b""  # the bytes sent, for CANCEL and ACK
        self.dst: Destination | None = None
        self.socket: Socket | None = None
        self.last_code = 0
        self.reply: SipMessage | None = None  # the final reply kept for failure_route
        self.local_reply = False  # last_code was made up here (timeout, send failure)
        self.to_tag: str | None = None
        self.cancel_state = CANCEL_NONE
        self.cancel_tx: ClientTransaction | None = None
        self.avps: dict[str, list[str | int]] | None = None  # $bavp
        # the next DNS targets of this branch's destination (RFC 3263 failover on 503/timeout)
        self.alternates: tuple[Destination, ...] = ()
        self.replied = False  # a reply came in on this branch

    @property
    def pending(self) -> bool:
        return self.last_code < 200

    def __repr__(self) -> str:
        return f"<Branch {self.index} {self.ruri} last={self.last_code}>"


class Cell:
    """The server side of a stateful transaction and everything forked from it."""

    __slots__ = (
        "avps",
        "branches",
        "cancelled",
        "first_branch",
        "flags",
        "fr_inv_timeout",
        "fr_timeout",
        "id",
        "is_invite",
        "live",
        "method",
        "msg_flags",
        "no_dns_failover",
        "no_new_branches",
        "on_branch",
        "on_failure",
        "on_reply",
        "picked",
        "rcv",
        "received_any",
        "reply_dst",
        "reply_socket",
        "request",
        "status",
        "status_local",
        "to_tag",
        "uas",
        "wait_end",
    )

    def __init__(self, tx_id: str, request: SipMessage, rcv: ReceiveInfo, uas: ServerTransaction) -> None:
        self.id = tx_id
        self.request = request
        self.rcv = rcv
        self.uas = uas
        self.method = request.method
        self.is_invite = request.method == "INVITE"
        self.flags = 0
        self.msg_flags = 0  # force_rport and friends, for the replies we build later
        self.avps: dict[str, list[str | int]] = {}
        self.on_reply: RouteRef | None = None
        self.on_failure: RouteRef | None = None
        self.on_branch: RouteRef | None = None
        self.branches: list[Branch] = []
        self.first_branch = 0  # branches before it belong to an earlier serial-forking round
        self.status = 0  # last status sent upstream
        self.status_local = False  # ... and whether we made it up
        self.received_any = False  # a reply came from downstream on any branch
        self.cancelled = False
        self.no_new_branches = False
        self.no_dns_failover = False  # t_relay("no-dns-failover") / flag 0x04
        self.picked: Branch | None = None  # the winning branch while failure_route runs
        self.to_tag: str | None = None
        self.reply_dst: Destination | None = None
        self.reply_socket: Socket | None = None
        self.fr_timeout: float | None = None  # per-transaction overrides ($T_fr_timeout)
        self.fr_inv_timeout: float | None = None
        self.live = 1  # transactions (UAS, UACs, CANCELs) not yet terminated
        # when wt_timer drops the parts still absorbing 2xx (tm's WaitQueue), while it runs
        self.wait_end = float("inf")

    def current_branches(self) -> list[Branch]:
        return self.branches[self.first_branch :]

    def all_final(self) -> bool:
        return all(not b.pending for b in self.current_branches())

    def request_context(self, ctx: Any) -> Any:
        """For `$(<request>...)` and save() in onreply_route: the transaction's request, with where
        it came from, in a copy of `ctx`."""
        alt = copy.copy(ctx)
        alt.msg = self.request
        alt.rcv = self.rcv
        return alt

    def __repr__(self) -> str:
        return f"<Cell {self.id} {self.method} status={self.status} branches={len(self.branches)}>"
