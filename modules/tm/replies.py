"""Replies from downstream: onreply routes, relaying provisionals and 2xx, choosing the final
reply among the branches, failure_route (serial forking) and the final-response timeout."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pysips.script.context import MsgContext, RouteType
from pysips.sip.message import SipMessage
from pysips.sip.transaction import (
    FinalResponseTimeout,
)

from .cell import CANCEL_PENDING, Branch, Cell
from .outgoing import (
    clone_request,
    relayed_reply,
)
from .picking import REASONS, pick

if TYPE_CHECKING:
    pass

from .base import _REASON_NO_ANSWER, TmBase


class Replies(TmBase):
    # ------------------------------------------------------------------ replies from downstream

    def _relayed(self, reply: SipMessage) -> bytes:
        return relayed_reply(reply, self._core().translate_503)

    def _branch_reply(self, cell: Cell, branch: Branch, reply: SipMessage) -> None:
        code = reply.status
        self.stats.received_replies += 1
        cell.received_any = True
        branch.replied = True
        if reply.to.tag:
            branch.to_tag = reply.to.tag
        for in_fn in self.reply_in_callbacks:
            in_fn(cell, branch, reply)
        dropped = self._run_onreply(cell, branch, reply)
        if code < 200:
            if branch.pending:
                branch.last_code = code
                if branch.cancel_state == CANCEL_PENDING:
                    self.cancel_branch(cell, branch, None)
            if dropped or code == 100 or cell.status >= 200 or not branch.pending:
                return
            self._send_upstream(cell, self._relayed(reply), local=False, reply=reply)
            return
        if code < 300 and cell.is_invite:
            if branch.pending or branch.last_code < 300 or cell.status >= 200:
                branch.last_code = code
                branch.local_reply = False
                self._send_upstream(cell, self._relayed(reply), local=False, reply=reply)
            return
        if cell.status >= 200 or not branch.pending:
            if branch.pending:
                branch.last_code = code
            return  # too late: a final reply already went upstream
        branch.last_code = code
        branch.reply = reply
        branch.local_reply = False
        if code < 300:  # non-INVITE 2xx
            self._send_upstream(cell, self._relayed(reply), local=False, reply=reply)
            return
        self._negative(cell, branch)

    def _run_onreply(self, cell: Cell, branch: Branch, reply: SipMessage) -> bool:
        """The unnamed onreply_route{} (the engine's, run here for the replies tm takes, so it sees
        the transaction's flags), then the transaction's onreply route (the branch's own if
        t_on_reply ran in its branch_route). True when a route dropped the reply."""
        core = self._core()
        main = core.onreply_route
        route = branch.on_reply or cell.on_reply
        if main is None and (route is None or route.run is None):
            return False
        ctx = MsgContext(self.process, reply, self._reply_rcv, RouteType.ONREPLY, core.wall_time())
        ctx.flags = cell.flags
        ctx.bflags = branch.bflags
        if self.config.onreply_avp_mode:
            ctx.avps = cell.avps
        ctx.transaction = cell
        ctx.extra["tm.branch"] = branch
        if main is not None:
            core.run_route(ctx, main)
        if not ctx.dropped and route is not None and route.run is not None:
            ctx.action_flags = 0
            core.run_route(ctx, route.run)
        cell.flags = ctx.flags
        return ctx.dropped

    def _fr_expired(self, cell: Cell, branch: Branch, timeout: FinalResponseTimeout) -> None:
        if not branch.pending:
            return
        if cell.is_invite:
            self.cancel_branch(cell, branch, _REASON_NO_ANSWER)
        # OpenSIPS fakes a 408 for a timed-out branch even after the caller's CANCEL (timer.c)
        branch.last_code = 408
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
            if self.dns_failover(cell, picked):
                return  # the next DNS target has a new branch; wait for it
        if self.failure_callbacks:
            reply = None if picked.local_reply else picked.reply
            code = picked.last_code
            reason = reply.reason if reply is not None else REASONS.get(code, "Server Internal Error")
            for fn in self.failure_callbacks:
                fn(cell, code, reason, reply)
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
        msg = clone_request(cell.request)
        ctx = MsgContext(self.process, msg, cell.rcv, RouteType.FAILURE, core.wall_time())
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
            self._send_upstream(cell, self._relayed(picked.reply), local=False, reply=picked.reply)
            return
        code = picked.last_code
        self.reply_cell(cell, code, REASONS.get(code, "Server Internal Error"), local=True)

