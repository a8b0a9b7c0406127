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

import itertools
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pysips.script.context import MsgContext, RouteType
from pysips.sip.branch import make_branch, parse_branch, stateless_branch
from pysips.sip.message import SipMessage
from pysips.sip.transaction import (
    Actions,
    ClientTransaction,
    FinalResponseTimeout,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    PassResponse,
    SendMessage,
    ServerTransaction,
    Terminated,
    TimerQueue,
    Transaction,
    TransactionTable,
    TxState,
    is_reliable,
    request_key,
    status_of,
)

from .cell import CANCEL_NONE, CANCEL_PENDING, CANCEL_SENT, Branch, Cell
from .config import TmConfig
from .outgoing import (
    build_request,
    cancel_for,
    clone_request,
    local_reply,
    relayed_reply,
    reply_destination,
    socket_of,
)
from .picking import REASONS, pick

if TYPE_CHECKING:
    from pysips.core.api import Core, Destination, Socket, TimerHandle
    from pysips.script.exports import RouteRef
    from pysips.script.context import ProcessState
    from pysips.sip.receive import ReceiveInfo

log = logging.getLogger("pysips.tm")

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
_ABSORBING = (TxState.COMPLETED, TxState.CONFIRMED)
_REASON_ELSEWHERE = 'Reason: SIP;cause=200;text="Call completed elsewhere"'
_REASON_NO_ANSWER = 'Reason: SIP;cause=480;text="NO_ANSWER"'

BranchSendHook = Callable[[MsgContext, SipMessage, "Socket"], None]
Owner = tuple[int, Cell, Branch | None]


class Pending:
    """What the script armed before the transaction existed (t_on_* before t_relay)."""

    __slots__ = ("fr_inv_timeout", "fr_timeout", "on_branch", "on_failure", "on_reply")

    def __init__(self) -> None:
        self.on_reply: RouteRef | None = None
        self.on_failure: RouteRef | None = None
        self.on_branch: RouteRef | None = None
        self.fr_timeout: float | None = None
        self.fr_inv_timeout: float | None = None


class Tm:
    def __init__(self, process: ProcessState, config: TmConfig) -> None:
        self.process = process
        self.config = config
        self.table = TransactionTable()
        self.cells: dict[str, Cell] = {}
        self.timers = TimerQueue()
        self.core: Core | None = None
        # The unnamed onreply_route{}: run for replies matched to a transaction, before the
        # transaction's own onreply route. The engine runs it for the replies tm does not take.
        self.global_onreply: Callable[[MsgContext], int] | None = None
        self.branch_send_hooks: list[BranchSendHook] = []
        self._owners: dict[Transaction, Owner] = {}
        self._timer: TimerHandle | None = None
        self._timer_at = float("inf")
        self._prefix = os.urandom(3).hex()
        self._ids = itertools.count(1)
        self._reply_rcv: ReceiveInfo | None = None

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

    def on_request(self, msg: SipMessage, rcv: ReceiveInfo) -> bool:
        """Before the script: absorb retransmissions and the ACK of a non-2xx final."""
        tx = self.table.match_request(msg)
        if tx is None:
            return False
        if msg.method == "ACK" and tx.state not in _ABSORBING:
            return False  # an ACK for a 2xx is end to end: the script routes it
        self._feed(tx, tx.receive_request(msg, self._now()))
        return True

    def on_reply(self, reply: SipMessage, rcv: ReceiveInfo) -> bool:
        tx = self.table.match_response(reply)
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
        return self.table.match_request(msg)

    def cancel_target(self, msg: SipMessage) -> Cell | None:
        """The INVITE transaction a CANCEL refers to."""
        tx = self.table.find_cancel_target(msg)
        owner = self._owners.get(tx) if tx is not None else None
        return owner[1] if owner is not None else None

    def absorb(self, tx: ServerTransaction, msg: SipMessage) -> None:
        """A retransmission or hop-by-hop ACK the script led to (t_check_trans, t_newtran)."""
        self._feed(tx, tx.receive_request(msg, self._now()))

    def new_tran(self, ctx: MsgContext) -> int:
        """t_newtran(): 1 created (or exists, or ACK), 0 retransmission absorbed, <0 error."""
        if isinstance(ctx.transaction, Cell):
            return 1
        msg = ctx.msg
        if not isinstance(msg, SipMessage) or not msg.is_request or ctx.rcv is None:
            return E_BAD_MSG
        tx = self.table.match_request(msg)
        if tx is not None:
            if msg.method != "ACK" or tx.state in _ABSORBING:
                self.absorb(tx, msg)
                return 0
            return 1
        if msg.method == "ACK":
            return 1  # ACKs never make a transaction
        key = request_key(msg)
        if key is None:
            return E_BAD_MSG
        core = self._core()
        reliable = is_reliable(ctx.rcv.proto)
        timers = self.config.timers
        uas: ServerTransaction
        if msg.method == "INVITE":
            uas = InviteServerTransaction(msg, reliable=reliable, timers=timers)
        else:
            uas = NonInviteServerTransaction(msg, reliable=reliable, timers=timers)
        cell = Cell(f"{self._prefix}{next(self._ids):x}", msg, ctx.rcv, uas)
        cell.flags = ctx.flags
        cell.avps = ctx.avps
        cell.reply_dst = reply_destination(msg, ctx.rcv, ctx.msg_flags)
        cell.reply_socket = socket_of(core, ctx.rcv)
        pending = ctx.extra.pop("tm.pending", None)
        if isinstance(pending, Pending):
            cell.on_reply = pending.on_reply
            cell.on_failure = pending.on_failure
            cell.on_branch = pending.on_branch
            cell.fr_timeout = pending.fr_timeout
            cell.fr_inv_timeout = pending.fr_inv_timeout
        self.table.add_server(key, uas)
        self._owners[uas] = (_UAS, cell, None)
        self.cells[cell.id] = cell
        ctx.transaction = cell
        if isinstance(uas, InviteServerTransaction):
            self._feed(uas, uas.start(self._now(), 0.0 if self.config.auto_100trying else None))
        return 1

    # ------------------------------------------------------------------ t_relay

    def relay(self, ctx: MsgContext, flags: int = 0) -> int:
        msg = ctx.msg
        if not isinstance(msg, SipMessage) or not msg.is_request:
            return E_BAD_MSG
        cell = ctx.transaction
        if ctx.route_type == RouteType.FAILURE:
            if not isinstance(cell, Cell):
                log.error("t_relay: no transaction in failure_route")
                return E_GENERIC
            return self._forward_round(ctx, cell, flags)
        if not isinstance(cell, Cell):
            if msg.method == "ACK":
                tx = self.table.match_request(msg)
                if tx is not None and tx.state in _ABSORBING:
                    self.absorb(tx, msg)
                    return 1
                return self.forward_stateless(ctx)
            created = self.new_tran(ctx)
            if created <= 0:
                return 1 if created == 0 else created
            cell = ctx.transaction
            assert isinstance(cell, Cell)
            fresh = True
        else:
            if msg.method == "ACK":
                return 1  # a hop-by-hop ACK t_check_trans() matched: absorbed
            cell.flags = ctx.flags
            fresh = False
        if cell.method == "CANCEL":
            target = self.cancel_target(msg)
            if target is not None:
                return self._cancel_invite(ctx, cell, target, flags)
        ret = self._forward_round(ctx, cell, flags)
        if ret > 0 or not fresh or flags & RELAY_NO_AUTO_477:
            return ret
        # Nothing could be sent: answer the caller ourselves (OpenSIPS kill_transaction).
        code = 478 if ret == E_BAD_DESTINATION else 477 if ret == E_SEND else 500
        if self.reply_cell(cell, code, REASONS[code], local=True) > 0:
            return 1
        return ret

    def _forward_round(self, ctx: MsgContext, cell: Cell, flags: int) -> int:
        """Fork to the R-URI/$du and every appended branch; in failure_route, a new round."""
        if cell.cancelled or cell.no_new_branches or cell.status >= 200:
            return E_NO_DESTINATION
        msg = ctx.msg
        assert isinstance(msg, SipMessage)
        targets: list[tuple[str, str | None, int, Any, str | None]] = []
        first_uri = ctx.new_ruri or msg.ruri
        include_first = True
        if ctx.route_type == RouteType.FAILURE:
            original = ctx.extra.get("tm.failure_target")
            include_first = not ctx.branches or (first_uri, ctx.dst_uri) != original
        if include_first:
            targets.append((first_uri, ctx.dst_uri, ctx.bflags, ctx.force_socket, None))
        for extra in ctx.branches:
            uri = extra.get("uri")
            if isinstance(uri, str) and uri:
                targets.append(
                    (uri, extra.get("dst_uri"), int(extra.get("bflags") or 0),
                     extra.get("force_socket") or ctx.force_socket, extra.get("path"))
                )
        if not targets:
            return E_NO_DESTINATION
        ctx.branches = []
        previous_first = cell.first_branch
        cell.first_branch = len(cell.branches)
        error = E_NO_DESTINATION
        sent = 0
        for uri, dst_uri, bflags, force_socket, path in targets:
            result = self._fork(ctx, cell, uri, dst_uri, bflags, force_socket, path)
            if result > 0:
                sent += 1
            elif result < 0:
                error = result
        if sent == 0:
            del cell.branches[cell.first_branch :]
            cell.first_branch = previous_first
            return error
        return 1

    def _fork(
        self,
        ctx: MsgContext,
        cell: Cell,
        uri: str,
        dst_uri: str | None,
        bflags: int,
        force_socket: Any,
        path: str | None,
    ) -> int:
        """One branch: 1 sent, 0 dropped by branch_route, <0 error."""
        core = self._core()
        msg = ctx.msg
        assert isinstance(msg, SipMessage)
        index = len(cell.branches)
        branch = Branch(cell, index, make_branch(cell.id, index))
        bctx = MsgContext(self.process, clone_request(msg), ctx.rcv, RouteType.BRANCH, ctx.now)
        bctx.flags = ctx.flags
        bctx.bflags = bflags
        bctx.avps = cell.avps
        bctx.new_ruri = uri
        bctx.dst_uri = dst_uri
        bctx.force_socket = force_socket
        bctx.msg_flags = ctx.msg_flags
        bctx.transaction = cell
        bctx.extra = dict(ctx.extra)
        bctx.extra["tm.branch"] = branch
        if path:
            for hop in reversed([p.strip() for p in path.split(",") if p.strip()]):
                bctx.msg.insert_header(f"Route: {hop}")
            if bctx.dst_uri is None:
                first = path.split(",")[0].strip()
                bctx.dst_uri = first[1:-1] if first.startswith("<") and first.endswith(">") else first
        if cell.on_branch is not None and cell.on_branch.run is not None:
            core.run_route(bctx, cell.on_branch.run)
            if bctx.dropped:
                return 0
        branch.ruri = bctx.new_ruri or msg.ruri
        branch.dst_uri = bctx.dst_uri
        branch.bflags = bctx.bflags
        destinations = core.resolve(branch.dst_uri or branch.ruri)
        if not destinations:
            log.error("t_relay: cannot resolve %s", branch.dst_uri or branch.ruri)
            return E_BAD_DESTINATION
        dst = destinations[0]
        sock = core.socket_for(dst, bctx)
        if sock is None:
            log.error("t_relay: no socket to send to %s:%s over %s", dst.ip, dst.port, dst.proto)
            return E_SEND
        for hook in self.branch_send_hooks:
            hook(bctx, bctx.msg, sock)
        data = build_request(bctx.msg, branch.ruri, sock, branch.via_branch, ctx.rcv, ctx.msg_flags)
        branch.request = data
        branch.dst = dst
        branch.socket = sock
        branch.avps = bctx.extra.get("tm.bavps")
        reliable = dst.proto != "udp"
        config = self.config
        fr = cell.fr_timeout if cell.fr_timeout is not None else config.fr_timeout
        uac: ClientTransaction
        if cell.is_invite:
            fr_inv = cell.fr_inv_timeout if cell.fr_inv_timeout is not None else config.fr_inv_timeout
            uac = InviteClientTransaction(
                data, reliable=reliable, timers=config.timers, fr_timeout=fr, fr_inv_timeout=fr_inv,
                restart_fr_on_each_reply=config.restart_fr_on_each_reply,
            )
        else:
            uac = NonInviteClientTransaction(data, reliable=reliable, timers=config.timers, fr_timeout=fr)
        branch.uac = uac
        cell.branches.append(branch)
        self.table.add_client(branch.via_branch, cell.method, uac)
        self._owners[uac] = (_UAC, cell, branch)
        cell.live += 1
        if not core.send(data, dst, sock):
            log.error("t_relay: sending to %s:%s failed", dst.ip, dst.port)
            self._feed(uac, uac.transport_error(self._now()))
            branch.last_code = 477
            branch.local_reply = True
            return E_SEND
        actions = uac.start(self._now())
        # start() asks to send the request we just sent; keep only its timers.
        self._feed(uac, tuple(a for a in actions if not isinstance(a, SendMessage)))
        return 1

    def forward_stateless(self, ctx: MsgContext) -> int:
        """A request that makes no transaction (an ACK for a 2xx) forwarded on its own."""
        core = self._core()
        msg = ctx.msg
        assert isinstance(msg, SipMessage)
        destinations = core.resolve(ctx.dst_uri or ctx.new_ruri or msg.ruri)
        if not destinations:
            return E_BAD_DESTINATION
        dst = destinations[0]
        sock = core.socket_for(dst, ctx)
        if sock is None:
            return E_SEND
        clone = clone_request(msg)
        for hook in self.branch_send_hooks:
            hook(ctx, clone, sock)
        data = build_request(clone, ctx.new_ruri, sock, stateless_branch(msg), ctx.rcv, ctx.msg_flags)
        return 1 if core.send(data, dst, sock) else E_SEND

    # ------------------------------------------------------------------ replies we send

    def reply(
        self, ctx: MsgContext, code: int, reason: str, body: bytes = b"", extra_headers: tuple[str, ...] = ()
    ) -> int:
        """t_reply(): creates the transaction when needed; 0 when the request was a retransmission."""
        cell = ctx.transaction
        if not isinstance(cell, Cell):
            created = self.new_tran(ctx)
            if created <= 0:
                return created
            cell = ctx.transaction
            if not isinstance(cell, Cell):
                log.error("t_reply: cannot reply to an ACK")
                return E_GENERIC
            cell.flags = ctx.flags
        pending_headers = ctx.extra.get("append_to_reply")
        if isinstance(pending_headers, (list, tuple)):
            extra_headers = (*(str(h) for h in pending_headers), *extra_headers)
        return self.reply_cell(cell, code, reason, body, extra_headers, local=True)

    def reply_cell(
        self,
        cell: Cell,
        code: int,
        reason: str,
        body: bytes = b"",
        extra_headers: tuple[str, ...] = (),
        local: bool = True,
    ) -> int:
        if not 100 <= code <= 699:
            return E_GENERIC
        if code >= 180 and cell.to_tag is None and cell.request.to.tag is None:
            cell.to_tag = os.urandom(8).hex()
        data = local_reply(cell.request, code, reason, cell.to_tag, extra_headers, body)
        return 1 if self._send_upstream(cell, data, local) else E_GENERIC

    def _send_upstream(self, cell: Cell, data: bytes, local: bool) -> bool:
        actions = cell.uas.send_response(data, self._now())
        code = status_of(data)
        if not actions:
            if cell.is_invite and 200 <= code < 300 and cell.status >= 300:
                # A 2xx after a negative final still goes up (RFC 3261 16.7 step 5, RFC 6026).
                self._send(_UAS, cell, None, data)
                return True
            return False
        cell.status = code
        cell.status_local = local
        self._feed(cell.uas, actions)
        if code >= 200 and cell.is_invite:
            self._cancel_pending(cell, _REASON_ELSEWHERE if code < 300 else None)
        return True

    # ------------------------------------------------------------------ CANCEL

    def _cancel_invite(self, ctx: MsgContext, cancel_cell: Cell, invite: Cell, flags: int) -> int:
        self.reply_cell(cancel_cell, 200, "canceling")
        invite.cancelled = True
        reason = None
        if flags & RELAY_PASS_REASON and isinstance(ctx.msg, SipMessage):
            value = ctx.msg.header("Reason")
            reason = f"Reason: {value}" if value else None
        self._cancel_pending(invite, reason)
        return 1

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
        if not tx.terminated:
            self.timers.schedule(tx)
        self._arm_timer()

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
        if isinstance(tx, ClientTransaction | ServerTransaction):
            self.table.remove(tx)
        cell.live -= 1
        if cell.live <= 0:
            self.cells.pop(cell.id, None)

    def _arm_timer(self) -> None:
        at = self.timers.next_deadline()
        if at is None or at >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._core().call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        for tx, actions in self.timers.expire(self._now()):
            self._feed(tx, actions)
        self._arm_timer()

    # ------------------------------------------------------------------ replies from downstream

    def _branch_reply(self, cell: Cell, branch: Branch, reply: SipMessage) -> None:
        code = reply.status
        cell.received_any = True
        if reply.to.tag:
            branch.to_tag = reply.to.tag
        dropped = self._run_onreply(cell, branch, reply)
        if code < 200:
            if branch.pending:
                branch.last_code = code
                if branch.cancel_state == CANCEL_PENDING:
                    self.cancel_branch(cell, branch, None)
            if dropped or code == 100 or cell.status >= 200 or not branch.pending:
                return
            self._send_upstream(cell, relayed_reply(reply, False), local=False)
            return
        if code < 300 and cell.is_invite:
            if branch.pending or branch.last_code < 300 or cell.status >= 200:
                branch.last_code = code
                branch.local_reply = False
                self._send_upstream(cell, relayed_reply(reply, False), local=False)
            return
        if cell.status >= 200 or not branch.pending:
            if branch.pending:
                branch.last_code = code
            return  # too late: a final reply already went upstream
        branch.last_code = code
        branch.reply = reply
        branch.local_reply = False
        if code < 300:  # non-INVITE 2xx
            self._send_upstream(cell, relayed_reply(reply, False), local=False)
            return
        self._negative(cell, branch)

    def _run_onreply(self, cell: Cell, branch: Branch, reply: SipMessage) -> bool:
        """The onreply routes; True when a route dropped the reply."""
        per_tx = branch.on_reply or cell.on_reply
        if self.global_onreply is None and (per_tx is None or per_tx.run is None):
            return False
        core = self._core()
        ctx = MsgContext(self.process, reply, self._reply_rcv, RouteType.ONREPLY, core.wall_time())
        ctx.flags = cell.flags
        ctx.bflags = branch.bflags
        if self.config.onreply_avp_mode:
            ctx.avps = cell.avps
        ctx.transaction = cell
        ctx.extra["tm.branch"] = branch
        if self.global_onreply is not None:
            core.run_route(ctx, self.global_onreply)
        if not ctx.dropped and per_tx is not None and per_tx.run is not None:
            ctx.action_flags = 0
            core.run_route(ctx, per_tx.run)
        cell.flags = ctx.flags
        return ctx.dropped

    def _fr_expired(self, cell: Cell, branch: Branch, timeout: FinalResponseTimeout) -> None:
        if not branch.pending:
            return
        if cell.is_invite:
            self.cancel_branch(cell, branch, _REASON_NO_ANSWER)
        branch.last_code = 487 if cell.cancelled else 408
        branch.local_reply = True
        branch.reply = None
        if cell.status >= 200:
            return
        self._negative(cell, branch)

    def _negative(self, cell: Cell, branch: Branch) -> None:
        """A branch ended with a negative final: decide, maybe run failure_route, reply upstream."""
        if branch.last_code >= 600 and not self.config.disable_6xx_block and cell.is_invite:
            cell.no_new_branches = True
            self._cancel_pending(cell, None)
            picked = branch
        else:
            current = cell.current_branches()
            if any(b.pending for b in current):
                return
            index = pick(current, cell.cancelled)
            if index < 0:
                return
            picked = current[index]
        route = cell.on_failure
        if route is not None and route.run is not None and cell.method != "CANCEL":
            cell.on_failure = None  # failure_route must re-arm itself to run again
            before = len(cell.branches)
            self._run_failure(cell, picked, route.run)
            if cell.status >= 200:
                return
            if any(b.pending for b in cell.branches[before:]):
                return  # serial forking: wait for the new branches
        self._relay_final(cell, picked)

    def _run_failure(self, cell: Cell, picked: Branch, route: Callable[[MsgContext], int]) -> None:
        core = self._core()
        ctx = MsgContext(self.process, clone_request(cell.request), cell.rcv, RouteType.FAILURE, core.wall_time())
        ctx.flags = cell.flags
        ctx.bflags = picked.bflags
        ctx.avps = cell.avps
        ctx.new_ruri = picked.ruri
        ctx.transaction = cell
        ctx.reply = picked.reply
        ctx.extra["tm.branch"] = picked
        ctx.extra["tm.failure_target"] = (picked.ruri, None)
        cell.picked = picked
        try:
            core.run_route(ctx, route)
        finally:
            cell.picked = None
        cell.flags = ctx.flags

    def _relay_final(self, cell: Cell, picked: Branch) -> None:
        if picked.reply is not None and not picked.local_reply:
            self._send_upstream(cell, relayed_reply(picked.reply, True), local=False)
            return
        code = picked.last_code
        self.reply_cell(cell, code, REASONS.get(code, "Server Internal Error"), local=True)

    # ------------------------------------------------------------------ lookups by branch id

    def branch_of_via(self, via_branch: str) -> Branch | None:
        parsed = parse_branch(via_branch)
        if parsed is None:
            return None
        cell = self.cells.get(parsed[0])
        if cell is None or parsed[1] >= len(cell.branches):
            return None
        return cell.branches[parsed[1]]


def destination_text(dst: Destination) -> str:
    return f"{dst.proto}:{dst.ip}:{dst.port}"


__all__ = ["CANCEL_NONE", "Pending", "Tm", "destination_text"]
