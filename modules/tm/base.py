"""The state and plumbing every part of tm shares: tables, the engine, actions, timers, replies
upstream and CANCELs downstream. Forking lives in forking.py, reply processing in replies.py."""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pysips.core.suspend import spawn
from pysips.script.context import MsgContext
from pysips.sip.branch import parse_branch
from pysips.sip.message import SipMessage
from pysips.sip.transaction import (
    Actions,
    ClientTransaction,
    FinalResponseTimeout,
    NonInviteClientTransaction,
    PassResponse,
    SendMessage,
    ServerKey,
    ServerTransaction,
    Terminated,
    Transaction,
    TransactionTable,
    TxState,
    request_key,
    status_of,
)

from .cell import CANCEL_PENDING, CANCEL_SENT, Branch, Cell
from .config import TmConfig
from .outgoing import cancel_for
from .stats import TmStats
from .timers import TxTimers, WaitQueue

if TYPE_CHECKING:
    from pysips.core.api import Core, Socket, TimerHandle
    from pysips.core.services import RouteService
    from pysips.script.context import ProcessState
    from pysips.script.exports import RouteRef
    from pysips.sip.receive import ReceiveInfo

log = logging.getLogger("pysips.tm")
# where spawn() logs an error in the code it runs (pysips.core.suspend)
_suspend_log = logging.getLogger("pysips.core")

# t_relay flags (3.x names, 2.x bits)
RELAY_NO_AUTO_477 = 0x02
RELAY_NO_DNS_FAILOVER = 0x04
RELAY_PASS_REASON = 0x08
RELAY_ALLOW_NO_CANCEL = 0x10

# t_relay error codes
E_GENERIC = -1
E_BAD_MSG = -2
E_NO_DESTINATION = -3
E_BAD_DESTINATION = -4
E_SEND = -6

_UAS, _UAC, _CANCEL = 0, 1, 2
TIMER_TICK = 0.05  # seconds
_ABSORBING = (TxState.COMPLETED, TxState.CONFIRMED)
_TERMINATED = TxState.TERMINATED
_ACCEPTED = TxState.ACCEPTED
_NEVER = float("inf")
# OpenSIPS's exact bytes (RFC 3326), spaces included
_REASON_ELSEWHERE = 'Reason: SIP ;cause=200 ;text="Call completed elsewhere"'
_REASON_ORIGINATOR = 'Reason: SIP;cause=487;text="ORIGINATOR_CANCEL"'
_REASON_NO_ANSWER = 'Reason: SIP;cause=480;text="NO_ANSWER"'

Owner = tuple[int, Cell, Branch | None]
# The callback types of the TransactionService (pysips.core.services), with our own Cell/Branch.
CreatedCallback = Callable[[MsgContext, Cell], None]
RequestOutCallback = Callable[[MsgContext, Cell, Branch, SipMessage, "Socket"], None]
ReplyInCallback = Callable[[Cell, Branch, SipMessage], None]
# (cell, code, reason, the relayed reply or None for one tm made itself)
ReplyCallback = Callable[[Cell, int, str, SipMessage | None], None]
CompletedCallback = Callable[[Cell, int], None]
DeletedCallback = Callable[[Cell], None]


class Pending:
    """What the script armed before the transaction existed (t_on_* before t_relay)."""

    __slots__ = ("fr_inv_timeout", "fr_timeout", "on_branch", "on_failure", "on_reply")

    def __init__(self) -> None:
        self.on_reply: RouteRef | None = None
        self.on_failure: RouteRef | None = None
        self.on_branch: RouteRef | None = None
        self.fr_timeout: float | None = None
        self.fr_inv_timeout: float | None = None


class TmBase:
    def __init__(self, process: ProcessState, config: TmConfig) -> None:
        self.process = process
        self.config = config
        self.table = TransactionTable()
        self.cells: dict[str, Cell] = {}
        self.timers = TxTimers()
        self.waiting: WaitQueue[Cell] = WaitQueue()  # answered INVITEs on wt_timer (timers.py)
        self.core: Core | None = None
        # Callbacks of other modules (TransactionService); empty lists cost one test per event.
        self.created_callbacks: list[CreatedCallback] = []
        self.request_out_callbacks: list[RequestOutCallback] = []
        self.reply_in_callbacks: list[ReplyInCallback] = []
        self.reply_out_callbacks: list[ReplyCallback] = []
        self.failure_callbacks: list[ReplyCallback] = []
        self.completed_callbacks: list[CompletedCallback] = []
        self.deleted_callbacks: list[DeletedCallback] = []
        # rr, when loaded: its Record-Route edits for the outgoing socket (RouteService)
        self.routes: RouteService | None = None
        # the script's local_route (run on the requests we originate, uac.py), if it has one
        self.local_route: Callable[[MsgContext], int] | None = None
        self.stats = TmStats()
        self._owners: dict[Transaction, Owner] = {}
        self._locals: dict[Transaction, Any] = {}  # requests we originate: uac.LocalRequest
        self._retransmitted: dict[Transaction, int] = {}  # timer retransmissions so far
        self._timer: TimerHandle | None = None
        self._timer_at = float("inf")
        self._prefix = os.urandom(3).hex()
        self._ids = itertools.count(1)
        self._reply_rcv: ReceiveInfo | None = None
        # core param disable_dns_failover=yes turns it off (set by the module's init)
        self.use_dns_failover = True
        # The server key of the request being handled: the request hook, t_check_trans() and
        # t_relay() all look the same request up, and the key parses its top Via.
        self._keyed: SipMessage | None = None
        self._key: ServerKey | None = None

    # ------------------------------------------------------------------ engine wiring

    def attach(self, core: Core) -> None:
        """Register the hooks with the engine (idempotent)."""
        if self.core is core:
            return
        self.core = core
        core.hooks.request.append(self.on_request)
        core.hooks.reply.append(self.on_reply)

    def _core(self) -> Core:
        core = self.core
        if core is None:
            core = self.process.core
            if core is None:
                raise RuntimeError("tm: no engine to send with")
            self.attach(core)
        return core

    def _now(self) -> float:
        return self._core().now()

    def server_key(self, msg: SipMessage) -> ServerKey | None:
        if msg is not self._keyed:
            self._keyed = msg
            self._key = request_key(msg)
        return self._key

    def match_server(self, msg: SipMessage) -> ServerTransaction | None:
        key = self.server_key(msg)
        return None if key is None else self.table.match_request(msg, key)

    def on_request(self, msg: SipMessage, rcv: ReceiveInfo) -> bool:
        """Before the script: absorb retransmissions and the ACK of a non-2xx final."""
        tx = self.match_server(msg)
        if tx is None:
            return False
        if msg.method == "ACK" and tx.state not in _ABSORBING:
            return False  # an ACK for a 2xx is end to end: the script routes it
        self._feed(tx, tx.receive_request(msg, self._now()))
        return True

    def on_reply(self, reply: SipMessage, rcv: ReceiveInfo) -> bool:
        top = reply.top_via  # parsed with the message: no need to parse the lower Vias
        if top is None or not top.branch:
            return False
        tx = self.table.match_response(reply, (top.branch, reply.cseq.method))
        if tx is None:
            return False
        saved = self._reply_rcv
        self._reply_rcv = rcv
        try:
            self._feed(tx, tx.receive_response(reply, self._now()))
        finally:
            self._reply_rcv = saved
        return True

    # ------------------------------------------------------------------ queries for modules

    def has_transaction(self, ctx: MsgContext) -> bool:
        return isinstance(ctx.transaction, Cell)

    def unanswered_count(self) -> int:
        """Cells that sent no final reply yet, and our own requests still waiting for theirs."""
        cells = sum(1 for cell in self.cells.values() if cell.status < 200)
        return cells + sum(1 for local in self._locals.values() if not local.final)

    def on_created(self, fn: CreatedCallback) -> None:
        """fn(ctx, cell) when t_newtran/t_relay/t_reply makes a transaction for ctx's request."""
        self.created_callbacks.append(fn)

    def on_request_out(self, fn: RequestOutCallback) -> None:
        """fn(branch ctx, cell, branch, request, socket) before each fork's request is serialized."""
        self.request_out_callbacks.append(fn)

    def on_reply_in(self, fn: ReplyInCallback) -> None:
        """fn(cell, branch, reply) for every reply received on a fork, before onreply_route."""
        self.reply_in_callbacks.append(fn)

    def on_reply_out(self, fn: ReplyCallback) -> None:
        """fn(cell, code, reason, reply) for every reply sent upstream (reply None when ours)."""
        self.reply_out_callbacks.append(fn)

    def on_failure(self, fn: ReplyCallback) -> None:
        """fn(cell, code, reason, reply) when a negative final is picked, before failure_route."""
        self.failure_callbacks.append(fn)

    def on_completed(self, fn: CompletedCallback) -> None:
        """fn(cell, code) once the final reply went upstream."""
        self.completed_callbacks.append(fn)

    def on_deleted(self, fn: DeletedCallback) -> None:
        """fn(cell) when the transaction is forgotten (its last client/server part ended)."""
        self.deleted_callbacks.append(fn)

    @staticmethod
    def current_branch(ctx: MsgContext) -> Branch | None:
        branch = ctx.extra.get("tm.branch")
        return branch if isinstance(branch, Branch) else None

    @staticmethod
    def pending(ctx: MsgContext) -> Pending:
        pending = ctx.extra.get("tm.pending")
        if not isinstance(pending, Pending):
            pending = ctx.extra["tm.pending"] = Pending()
        return pending

    # ------------------------------------------------------------------ transactions

    def lookup(self, msg: SipMessage) -> ServerTransaction | None:
        return self.match_server(msg)

    def cancel_target(self, msg: SipMessage) -> Cell | None:
        """The INVITE transaction a CANCEL refers to."""
        tx = self.table.find_cancel_target(msg)
        owner = self._owners.get(tx) if tx is not None else None
        return owner[1] if owner is not None else None

    def absorb(self, tx: ServerTransaction, msg: SipMessage) -> None:
        """A retransmission or hop-by-hop ACK the script led to (t_check_trans, t_newtran)."""
        self._feed(tx, tx.receive_request(msg, self._now()))

    # ------------------------------------------------------------------ replies we send

    def reply_cell(
        self,
        cell: Cell,
        code: int,
        reason: str,
        body: bytes = b"",
        extra_headers: tuple[str, ...] = (),
        local: bool = True,
        ctx: MsgContext | None = None,
    ) -> int:
        """A reply of ours on `cell`; `ctx` (the script's, for its reply lumps) or a fresh one."""
        if not 100 <= code <= 699:
            return E_GENERIC
        if code >= 180 and cell.to_tag is None and cell.request.to.tag is None:
            cell.to_tag = os.urandom(8).hex()  # one tag for every reply of ours on this transaction
        if ctx is None:
            ctx = MsgContext(self.process, cell.request, cell.rcv)
            ctx.msg_flags = cell.msg_flags
        data = self._core().build_reply(ctx, code, reason, cell.to_tag, extra_headers, body)
        return 1 if self._send_upstream(cell, data, local, reason) else E_GENERIC

    def reply_transaction(self, t: Any, code: int, reason: str) -> int:
        """TransactionService.reply_transaction: a reply of ours on a transaction another module
        holds (dialog's auto-PRACK failing its INVITE with 502). E_GENERIC when `t` is not one of
        our live transactions or already has its final reply."""
        if not isinstance(t, Cell) or t.status >= 200:
            return E_GENERIC
        return self.reply_cell(t, code, reason)

    def _send_upstream(self, cell: Cell, data: bytes, local: bool, reason: str = "",
                       reply: SipMessage | None = None) -> bool:
        code = status_of(data)
        now = self._now()
        actions = cell.uas.send_response(data, now, code)
        if not actions:
            if cell.is_invite and 200 <= code < 300 and cell.status >= 300:
                # A 2xx after a negative final still goes up (RFC 3261 16.7 step 5, RFC 6026).
                self._send(_UAS, cell, None, data)
                self._sent_upstream(cell, code, reason, reply, local)
                return True
            return False
        if cell.is_invite and 200 <= code < 300 and cell.status < 200:
            at = now + self.config.wt_timer
            self.waiting.add(at, cell)
            cell.wait_end = at
            if at < self._timer_at:
                self._arm_timer()
        completed = code >= 200 and cell.status < 200
        if completed:
            self.stats.completed(code)
        cell.status = code
        cell.status_local = local
        self._feed(cell.uas, actions)
        self._sent_upstream(cell, code, reason, reply, local)
        if completed:
            for done_fn in self.completed_callbacks:
                done_fn(cell, code)
        if code >= 200 and cell.is_invite:
            # OpenSIPS names the reason only when the call was answered with exactly 200
            self._cancel_pending(cell, _REASON_ELSEWHERE if code == 200 else None)
        return True

    def _sent_upstream(self, cell: Cell, code: int, reason: str, reply: SipMessage | None,
                       local: bool) -> None:
        if local:
            self.stats.local_replies += 1
        else:
            self.stats.relayed_replies += 1
        if self.reply_out_callbacks:
            if reply is not None and not reason:
                reason = reply.reason
            for fn in self.reply_out_callbacks:
                fn(cell, code, reason, None if local else reply)

    # ------------------------------------------------------------------ CANCEL

    def _cancel_pending(self, cell: Cell, reason: str | None) -> None:
        for branch in cell.current_branches():
            if branch.pending:
                self.cancel_branch(cell, branch, reason)

    def cancel_branch(self, cell: Cell, branch: Branch, reason: str | None = None) -> None:
        """CANCEL one pending INVITE branch; before any provisional only mark it (RFC 3261 9.1)."""
        if not cell.is_invite or not branch.pending or branch.cancel_state == CANCEL_SENT:
            return
        if branch.last_code == 0 or branch.dst is None or branch.socket is None:
            branch.cancel_state = CANCEL_PENDING
            return
        data = cancel_for(branch.request, reason)
        if data is None:
            return
        tx = NonInviteClientTransaction(
            data, reliable=branch.dst.proto != "udp", timers=self.config.timers,
            fr_timeout=self.config.fr_timeout,
        )
        branch.cancel_tx = tx
        branch.cancel_state = CANCEL_SENT
        self.table.add_client(branch.via_branch, "CANCEL", tx)
        self._owners[tx] = (_CANCEL, cell, branch)
        cell.live += 1
        self._feed(tx, tx.start(self._now()))

    # ------------------------------------------------------------------ actions and timers

    def _feed(self, tx: Transaction, actions: Actions) -> None:
        owner = self._owners.get(tx)
        if owner is None:
            local = self._locals.get(tx)
            if local is not None:
                self._feed_local(tx, local, actions)  # a request of ours (uac.py)
            return
        kind, cell, branch = owner
        for action in actions:
            if isinstance(action, SendMessage):
                self._send(kind, cell, branch, action.data)
            elif isinstance(action, PassResponse):
                if kind == _UAC and branch is not None:
                    self._branch_reply(cell, branch, action.response)
            elif isinstance(action, FinalResponseTimeout):
                if branch is not None:
                    self._fr_expired(cell, branch, action)
            elif isinstance(action, Terminated):
                self._forget(tx, cell)
        if tx.state is not _TERMINATED:
            if self._ends_with_wait(tx, cell):
                self.timers.forget(tx)  # an entry queued before is dropped when it surfaces
            else:
                self._schedule(tx)

    @staticmethod
    def _ends_with_wait(tx: Transaction, cell: Cell) -> bool:
        """An answered INVITE's part in Accepted that the running wait (wt_timer) forgets before
        its own deadline (timer L or M, 64*T1): queueing that deadline would only leave a heap
        entry that outlives the transaction by tens of seconds."""
        if tx.state is not _ACCEPTED:
            return False
        at = tx.next_timer_at()
        return at is None or cell.wait_end <= at

    def _schedule(self, tx: Transaction) -> None:
        """After an event given to `tx`: its deadline queued, the tick timer moved if earlier."""
        at = self.timers.schedule(tx)
        if at is not None and at < self._timer_at:
            self._arm_timer()

    def _count_timer_actions(self, tx: Transaction, actions: Actions) -> None:
        """OpenSIPS's timer statistics: retransmissions by interval, final-response timeouts."""
        owner = self._owners.get(tx)
        if owner is None:
            return
        stats = self.stats
        for action in actions:
            if isinstance(action, SendMessage) and action.retransmission:
                if owner[0] == _UAS:
                    stats.retransmission_rpl_T2 += 1
                else:
                    nth = self._retransmitted.get(tx, 0) + 1
                    self._retransmitted[tx] = nth
                    stats.request_retransmitted(nth)
            elif isinstance(action, FinalResponseTimeout):
                if action.timer == "fr_inv":
                    stats.timeout_finalresponse_inv += 1
                else:
                    stats.timeout_finalresponse += 1

    def _send(self, kind: int, cell: Cell, branch: Branch | None, data: bytes) -> None:
        core = self._core()
        if kind == _UAS:
            if cell.reply_dst is not None and cell.reply_socket is not None:
                core.send(data, cell.reply_dst, cell.reply_socket)
        elif branch is not None and branch.dst is not None and branch.socket is not None:
            core.send(data, branch.dst, branch.socket)

    def _forget(self, tx: Transaction, cell: Cell) -> None:
        if self._owners.pop(tx, None) is None:
            return
        self._retransmitted.pop(tx, None)
        self.timers.forget(tx)
        if isinstance(tx, ClientTransaction | ServerTransaction):
            self.table.remove(tx)
        cell.live -= 1
        if cell.live <= 0 and self.cells.pop(cell.id, None) is not None:
            for deleted_fn in self.deleted_callbacks:
                deleted_fn(cell)

    def _end_wait(self, cell: Cell) -> None:
        """wt_timer after the 2xx: drop the transactions still absorbing (RFC 6026 Accepted);
        branches still being cancelled finish on their own."""
        cell.wait_end = _NEVER  # a part accepting a 2xx from now on runs its own timers
        txs: list[Transaction | None] = [cell.uas, *(branch.uac for branch in cell.branches)]
        for tx in txs:
            if tx is not None and tx.state is TxState.ACCEPTED:
                self._forget(tx, cell)

    def _arm_timer(self) -> None:
        """Move the tick timer to the earliest deadline queued. Called when a deadline earlier
        than the armed one is queued, and after each tick: the timer may fire before a deadline
        (stale entries), never after, so a later deadline needs no call."""
        at = self.timers.next_deadline()
        waiting = self.waiting.next_deadline()
        if waiting is not None and (at is None or waiting < at):
            at = waiting
        if at is None:
            return
        # Deadlines are served in ticks, as OpenSIPS's timer processes do: one loop callback per
        # tick for every transaction due in it, instead of one per transaction.
        at = math.ceil(at / TIMER_TICK) * TIMER_TICK
        if at >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._core().call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        now = self._now()
        for tx, actions in self.timers.expire(now):
            self._count_timer_actions(tx, actions)
            if self._reaches_script(tx, actions):
                # each such expiry in its own script greenlet: a failure_route waiting on the
                # network (pysips.core.suspend) holds back its own transaction, not the whole tick
                spawn(self._feed, tx, actions)
            else:
                self._feed_inline(tx, actions)
        for cell in self.waiting.expire(now):
            self._end_wait(cell)
        self._arm_timer()

    def _reaches_script(self, tx: Transaction, actions: Actions) -> bool:
        """Whether feeding a timer's actions may run script code or another module's callback
        (which may wait on the network): a final-response timeout (failure_route, the failure
        and reply callbacks), the end of a request of ours (its local routes), or the end of a
        transaction when a module listens for deleted ones. Retransmissions and a plain end
        only send and forget."""
        if tx not in self._owners:
            return True
        for action in actions:
            if isinstance(action, FinalResponseTimeout):
                return True
            if isinstance(action, Terminated) and self.deleted_callbacks:
                return True
        return False

    def _feed_inline(self, tx: Transaction, actions: Actions) -> None:
        """_feed outside a script greenlet; an error is logged as spawn() logs it, and the rest
        of the tick still runs."""
        try:
            self._feed(tx, actions)
        except Exception:
            _suspend_log.exception("error in script code run by %r", self._feed)

    # ------------------------------------------------------------------ lookups by branch id

    def branch_of_via(self, via_branch: str) -> Branch | None:
        parsed = parse_branch(via_branch)
        if parsed is None:
            return None
        cell = self.cells.get(parsed[0])
        if cell is None or parsed[1] >= len(cell.branches):
            return None
        return cell.branches[parsed[1]]


    # ------------------------------------------------------------------ provided by Replies

    def _branch_reply(self, cell: Cell, branch: Branch, reply: SipMessage) -> None:
        raise NotImplementedError

    def _fr_expired(self, cell: Cell, branch: Branch, timeout: FinalResponseTimeout) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ provided by Uac

    def _feed_local(self, tx: Transaction, local: Any, actions: Actions) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ provided by Forking

    def dns_failover(self, cell: Cell, picked: Branch) -> bool:
        raise NotImplementedError
