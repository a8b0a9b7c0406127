"""Making transactions and forking them: t_newtran, t_relay (parallel and serial forking), the
branch_route, stateless forwarding of ACKs for 2xx, and the CANCEL a caller sends."""

from __future__ import annotations

from typing import Any

from pysips.core.advertise import advertised_socket
from pysips.core.api import Destination, Socket
from pysips.script.context import RURI_PATH_KEY, MsgContext, RouteType
from pysips.sip.branch import make_branch, stateless_branch
from pysips.sip.message import SipMessage
from pysips.sip.transaction import (
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    is_reliable,
)

from .base import (
    _ABSORBING,
    _REASON_ORIGINATOR,
    _UAC,
    _UAS,
    E_BAD_DESTINATION,
    E_BAD_MSG,
    E_GENERIC,
    E_NO_DESTINATION,
    E_SEND,
    RELAY_NO_AUTO_477,
    RELAY_NO_DNS_FAILOVER,
    RELAY_PASS_REASON,
    Pending,
    TmBase,
    log,
)
from .cell import Branch, Cell
from .outgoing import (
    build_request,
    clone_request,
    socket_of,
)
from .picking import REASONS


class Forking(TmBase):
    def new_tran(self, ctx: MsgContext) -> int:
        """t_newtran(): 1 created (or exists, or ACK), 0 retransmission absorbed, <0 error."""
        if isinstance(ctx.transaction, Cell):
            return 1
        msg = ctx.msg
        if not isinstance(msg, SipMessage) or not msg.is_request or ctx.rcv is None:
            return E_BAD_MSG
        tx = self.match_server(msg)
        if tx is not None:
            if msg.method != "ACK" or tx.state in _ABSORBING:
                self.absorb(tx, msg)
                return 0
            return 1
        if msg.method == "ACK":
            return 1  # ACKs never make a transaction
        key = self.server_key(msg)
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
        cell.msg_flags = ctx.msg_flags
        cell.reply_dst = core.reply_destination(ctx)
        cell.reply_socket = socket_of(core, ctx.rcv)
        # received/rport on the caller's Via, once: every branch (and failure_route copy) has it.
        core.prepare_relay(ctx)
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
        self.stats.UAS_transactions += 1
        for created_fn in self.created_callbacks:
            created_fn(ctx, cell)
        if isinstance(uas, InviteServerTransaction):
            uas.start(self._now(), None)  # our own 100 Trying below, with the engine's Via rules
            if self.config.auto_100trying:
                # OpenSIPS's wording for its automatic 100 (tm's relay_reason_100)
                self.reply_cell(cell, 100, "Giving it a try", local=True)
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
                tx = self.match_server(msg)
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
            # the R-URI branch's Path, when the script set one ($msg.branch.path, next_branches())
            first_path = ctx.extra.get(RURI_PATH_KEY)
            targets.append((first_uri, ctx.dst_uri, ctx.bflags, ctx.force_socket, first_path))
        for extra in ctx.branches:
            uri = extra.get("uri")
            if isinstance(uri, str) and uri:
                targets.append(
                    (uri, extra.get("dst_uri"), int(extra.get("bflags") or 0),
                     extra.get("force_socket") or ctx.force_socket, extra.get("path"))
                )
        if not targets:
            return E_NO_DESTINATION
        if flags & RELAY_NO_DNS_FAILOVER:
            cell.no_dns_failover = True
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
        branch = Branch(index, make_branch(cell.id, index))
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
            # insertions at one offset keep their order: the first Path hop is the first Route
            for hop in [p.strip() for p in path.split(",") if p.strip()]:
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
        if sock.proto != dst.proto:
            dst = Destination(sock.proto, dst.ip, dst.port, dst.conn_id)
        self._before_send(bctx, bctx.msg, sock)
        reliable = sock.reliable
        data = build_request(bctx.msg, branch.ruri, core.via_for(sock, branch.via_branch, bctx), reliable)
        if self.use_dns_failover and not cell.no_dns_failover:
            branch.alternates = tuple(destinations[1:])
        return self._send_branch(cell, branch, data, dst, sock)

    def _send_branch(self, cell: Cell, branch: Branch, data: bytes, dst: Destination, sock: Socket) -> int:
        """Starts the client transaction of a new branch and sends its request: 1, or E_SEND."""
        core = self._core()
        reliable = sock.reliable
        branch.request = data
        branch.dst = dst
        branch.socket = sock
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
        self.stats.UAC_transactions += 1
        if not core.send(data, dst, sock):
            log.error("t_relay: sending to %s:%s failed", dst.ip, dst.port)
            self._feed(uac, uac.transport_error(self._now()))
            branch.last_code = 477
            branch.local_reply = True
            return E_SEND
        uac.arm(self._now())  # the request is sent: only its timers start
        self._schedule(uac)
        return 1

    def dns_failover(self, cell: Cell, picked: Branch) -> bool:
        """RFC 3263 4.3 as OpenSIPS's tm: when the chosen branch failed with a 503 it received or
        a timeout with no reply at all, and its destination resolved to more targets, a new
        branch sends the same request to the next one. True when one was sent."""
        if not picked.alternates or cell.cancelled or cell.no_new_branches or cell.status >= 200:
            return False
        if picked.last_code == 503:
            if picked.local_reply or picked.reply is None:
                return False
        elif picked.last_code != 408 or not picked.local_reply or picked.replied:
            return False
        core = self._core()
        alternates = picked.alternates
        picked.alternates = ()
        while alternates:
            dst, alternates = alternates[0], alternates[1:]
            index = len(cell.branches)
            branch = Branch(index, make_branch(cell.id, index))
            branch.ruri, branch.dst_uri, branch.bflags = picked.ruri, picked.dst_uri, picked.bflags
            branch.on_reply, branch.avps = picked.on_reply, picked.avps
            old_sock = picked.socket
            sock = old_sock if old_sock is not None and old_sock.proto == dst.proto else core.socket_for(dst)
            if sock is None or old_sock is None:
                log.error("DNS failover: no socket to send to %s:%s over %s", dst.ip, dst.port, dst.proto)
                continue
            data = _with_new_via(picked.request, core.via_for(sock, branch.via_branch))
            if data is None:
                return False
            log.info("DNS failover: %s to %s:%d (%s) after %d", cell.method, dst.ip, dst.port, dst.proto,
                     picked.last_code)
            branch.alternates = alternates
            if self._send_branch(cell, branch, data, dst, sock) > 0:
                return True
        return False

    def _before_send(self, ctx: MsgContext, msg: SipMessage, sock: Socket) -> None:
        """Edits that depend on the outgoing socket: rr's Record-Route(s), then the modules'
        request-out callbacks (only for a fork of a transaction)."""
        routes = self.routes
        if routes is not None:
            # set_advertised_address()/_port() show in the Record-Route too
            routes.finalize_for_socket(msg, advertised_socket(ctx, sock))
        if self.request_out_callbacks:
            cell = ctx.transaction
            branch = self.current_branch(ctx)
            if isinstance(cell, Cell) and branch is not None:
                for fn in self.request_out_callbacks:
                    fn(ctx, cell, branch, msg, sock)

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
        if sock.proto != dst.proto:
            dst = Destination(sock.proto, dst.ip, dst.port, dst.conn_id)
        core.prepare_relay(ctx)
        clone = clone_request(msg)
        self._before_send(ctx, clone, sock)
        via = core.via_for(sock, stateless_branch(msg), ctx)
        data = build_request(clone, ctx.new_ruri, via, sock.reliable)
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
        return self.reply_cell(cell, code, reason, body, extra_headers, local=True, ctx=ctx)

    # ------------------------------------------------------------------ CANCEL

    def _cancel_invite(self, ctx: MsgContext, cancel_cell: Cell, invite: Cell, flags: int) -> int:
        self.reply_cell(cancel_cell, 200, "canceling")
        invite.cancelled = True
        reason = None
        if flags & RELAY_PASS_REASON and isinstance(ctx.msg, SipMessage):
            value = ctx.msg.header("Reason")
            reason = f"Reason: {value}" if value else None
        # without one to pass on, OpenSIPS says why in every CANCEL it relays
        self._cancel_pending(invite, reason or _REASON_ORIGINATOR)
        return 1


def _with_new_via(sent: bytes, via: str) -> bytes | None:
    """A request we sent, with its top Via (ours) replaced. It is the first Via header, not
    always the first header: what the script inserted at the top (Record-Route) comes before it."""
    head_end = sent.find(b"\r\n\r\n")
    start = sent.find(b"\r\n") + 2
    while 2 <= start < head_end + 2:
        end = sent.find(b"\r\n", start)
        name = sent[start : sent.find(b":", start, end) if end > start else start].strip().lower()
        if name in (b"via", b"v"):
            break
        start = end + 2
    else:
        log.error("DNS failover: the request sent has no Via of ours")
        return None
    old = sent[start:end]
    rport = b";rport" if old.endswith(b";rport") else b""
    if rport and via.endswith(";rport"):
        rport = b""
    return sent[:start] + b"Via: " + via.encode() + rport + sent[end:]
