"""Topology hiding at run time: what topology_hiding() and topology_hiding_match() do to a request,
and what the transaction's replies get on their way back (process.modules["topology_hiding"]).

A hidden request leaves with no Via but ours, no Record-Route, and a Contact of ours: in dialog
mode it carries the dialog's did (the dialog module keeps the routing state); without a dialog it
carries everything needed to route the other side's sequential requests back (encoding.py). Its
replies get the request's Vias (and, for the initial request, its Record-Routes) back and a
Contact of ours in place of the other party's. The Contact's address is the socket the message
leaves from: known per branch for a request tm forwards (tm's request-out callback), forced to the
dialog's / the encoded socket for a sequential request, the receiving socket for a reply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pysips.core.advertise import advertised_socket
from pysips.core.api import Socket
from pysips.core.services import BranchInfo, DialogService, RouteService, TransactionInfo, TransactionService
from pysips.script.context import MSGFL_FORCE_RPORT, MsgContext
from pysips.sip.message import SipMessage
from pysips.sip.nameaddr import NameAddr, parse_name_addr
from pysips.sip.receive import ReceiveInfo
from pysips.sip.uri import SipUri, parse_uri

from .callid import CallidMasker
from .encoding import DecodeError, decode_info
from .headers import (
    DID_IN_USER,
    HIDE_CALLID,
    KEEP_ADV_A,
    KEEP_ADV_B,
    KEEP_USER,
    ONGOING,
    delete_all,
    dialog_contact,
    hidden_contact,
    replace_contact,
    restored_vias,
    route_entries,
)

log = logging.getLogger("pysips.topology_hiding")

PLAN = "topology_hiding.plan"  # ctx.extra: the Plan of the request being routed
DIR_DOWNSTREAM, DIR_UPSTREAM = 1, 2
CALLID_LINGER = 32.0  # seconds a masked Call-ID is still applied after its dialog ended (tm's Timer J)


@dataclass(frozen=True, slots=True)
class THConfig:
    force_dialog: bool = False
    uri_params: tuple[str, ...] = ()  # th_passed_contact_uri_params
    hdr_params: tuple[str, ...] = ()  # th_passed_contact_params
    callid_passwd: str = "OpenSIPS"
    callid_prefix: str = "DLGCH_"
    ct_passwd: str = "ToPoCtPaSS"
    ct_param: str = "thinfo"
    ct_scheme: str = "base64"
    caller_var: str = "_th_contact_caller_username_var_"
    callee_var: str = "_th_contact_callee_username_var_"


@dataclass(slots=True)
class Plan:
    """What a hidden request's transaction still needs: its Contact per branch, its replies."""

    initial: bool
    flags: int
    force_rport: bool
    dialog: Any = None  # DialogInfo in dialog mode
    to_caller: bool = False  # dialog mode: the request goes to the caller
    request_user: str | None = None  # username advertised in the request's Contact
    reply_user: str | None = None  # username advertised in the replies' Contact
    routes: str | None = None  # dialog-less sequential: the route set it was sent with
    out_sockets: dict[int, str] = field(default_factory=dict)  # branch -> our socket name


def _socket_name(sock: Socket) -> str:
    return f"{sock.proto}:{sock.ip}:{sock.port}"


class TopologyHiding:
    def __init__(self, process: Any, tm: TransactionService, rr: RouteService | None,
                 dialogs: DialogService | None, config: THConfig, rr_param: str = "did") -> None:
        self.process = process
        self.tm = tm
        self.rr = rr
        self.dialogs = dialogs
        self.config = config
        self.rr_param = rr_param
        self.by_transaction: dict[str, Plan] = {}
        self.advertised: dict[tuple[str, bool], str] = {}  # (did, to caller) -> Contact ("a"/"A")
        self.callids = CallidMasker(config.callid_passwd, config.callid_prefix)

    # ------------------------------------------------------------------ sockets

    def _sockets(self) -> list[Socket]:
        core = self.process.core
        return list(core.sockets) if core is not None else []

    def socket_named(self, name: str) -> Socket | None:
        for sock in self._sockets():
            if _socket_name(sock) == name or sock.name == name:
                return sock
        return None

    def receiving_socket(self, rcv: ReceiveInfo | None) -> Socket | None:
        if rcv is None:
            return None
        for sock in self._sockets():
            if sock.proto == rcv.proto and sock.ip == rcv.local_ip and sock.port == rcv.local_port:
                return sock
        return Socket(rcv.proto, rcv.local_ip, rcv.local_port)

    # ------------------------------------------------------------------ topology_hiding()

    def hide(self, ctx: MsgContext, flags: int, caller_user: str | None, callee_user: str | None) -> int:
        msg = ctx.msg
        if not isinstance(msg, SipMessage) or not msg.is_request:
            return -1
        if msg.to_tag:
            log.warning("SCRIPT ERROR - trying to initialize topology hiding for sequential request")
            return -1
        dlg = self.dialogs.current(ctx) if self.dialogs is not None else None
        if dlg is None and self.config.force_dialog and self.dialogs is not None:
            if self.dialogs.create(ctx, 0) < 0:
                log.error("Failed to create dialog")
                return -1
            dlg = self.dialogs.current(ctx)
        force_rport = bool(ctx.msg_flags & MSGFL_FORCE_RPORT)
        if dlg is not None:
            already = bool(dlg.module_flags & ONGOING)
            dlg.module_flags |= ONGOING | flags
            if already:
                return 1
            if dlg.module_flags & HIDE_CALLID:
                self.callids.register(dlg.callid, msg.from_tag or "")
            if caller_user:
                dlg.vals[self.config.caller_var] = caller_user
            if callee_user:
                dlg.vals[self.config.callee_var] = callee_user
            plan = Plan(True, dlg.module_flags, force_rport, dialog=dlg, request_user=callee_user,
                        reply_user=caller_user)
        else:
            if flags & HIDE_CALLID:
                log.warning("Cannot hide callid when dialog support is not engaged!")
            if flags & DID_IN_USER:
                log.warning("Cannot store DID in user when dialog support is not engaged!")
            # as OpenSIPS: the request shows the first username, its replies the second
            plan = Plan(True, flags, force_rport, request_user=caller_user, reply_user=callee_user)
        self._strip(ctx, msg)
        self._attach(ctx, plan)
        return 1

    def _strip(self, ctx: MsgContext, msg: SipMessage) -> None:
        """No Via but the one we add, no Record-Route (theirs nor ours)."""
        delete_all(msg, "via")
        delete_all(msg, "record-route")
        if self.rr is not None:
            self.rr.remove_record_route(ctx)

    def _attach(self, ctx: MsgContext, plan: Plan) -> None:
        ctx.extra[PLAN] = plan
        t = ctx.transaction
        if t is not None:
            self.by_transaction[t.id] = plan

    # ------------------------------------------------------------------ tm callbacks

    def transaction_created(self, ctx: MsgContext, t: TransactionInfo) -> None:
        plan = ctx.extra.get(PLAN)
        if isinstance(plan, Plan):
            self.by_transaction[t.id] = plan

    def transaction_deleted(self, t: TransactionInfo) -> None:
        self.by_transaction.pop(t.id, None)

    def request_out(self, ctx: MsgContext, t: TransactionInfo, branch: BranchInfo, msg: SipMessage,
                    sock: Socket) -> None:
        plan = self.by_transaction.get(t.id)
        if plan is None:
            return
        plan.out_sockets[branch.index] = _socket_name(sock)
        if plan.initial:
            out = advertised_socket(ctx, sock)
            bind = _socket_name(self.receiving_socket(ctx.rcv) or sock)
            self._set_contact(msg, plan, out, bind, plan.request_user, to_caller=False)

    def _set_contact(self, msg: SipMessage, plan: Plan, out: Socket, bind: str, user: str | None,
                     to_caller: bool, routes: str | None = None, flags: int | None = None) -> None:
        cfg = self.config
        dlg = plan.dialog
        value: str | None
        if dlg is not None:
            # "a"/"A": the Contact advertised at setup (the INVITE's to the callee, the 2xx's to the
            # caller, as OpenSIPS records them) is shown again on the later messages
            adv_flag = KEEP_ADV_A if to_caller else KEEP_ADV_B
            key = (dlg.did, to_caller)
            kept = self.advertised.get(key) if dlg.module_flags & adv_flag and not plan.initial else None
            value = kept or dialog_contact(msg, did=dlg.did, flags=dlg.module_flags, user=user, out=out,
                                           rr_param=self.rr_param, uri_params=cfg.uri_params,
                                           hdr_params=cfg.hdr_params)
            setup = msg.is_request or 200 <= msg.status < 300
            if value is not None and plan.initial and setup:
                self.advertised[key] = value
        else:
            value = hidden_contact(msg, flags=plan.flags if flags is None else flags, routes=routes,
                                   user=user, out=out, bind=bind,
                                   param=cfg.ct_param, password=cfg.ct_passwd, scheme=cfg.ct_scheme,
                                   uri_params=cfg.uri_params, hdr_params=cfg.hdr_params)
        if value is not None:
            replace_contact(msg, value)

    def reply_in(self, t: TransactionInfo, branch: BranchInfo, reply: SipMessage) -> None:
        plan = self.by_transaction.get(t.id)
        if plan is None or reply.status == 100:
            return
        request = t.request
        out = self.receiving_socket(t.rcv)
        if out is None:
            return
        redirect = 300 <= reply.status < 400
        reply_to_caller = not plan.to_caller
        dlg = plan.dialog
        if dlg is not None:
            if not (plan.initial and redirect):
                var = self.config.caller_var if reply_to_caller else self.config.callee_var
                user = dlg.vals.get(var)
                self._set_contact(reply, plan, out, "", str(user) if user else None, reply_to_caller)
            delete_all(reply, "record-route")
        else:
            delete_all(reply, "record-route")
            delete_all(reply, "via")
            if not redirect:
                bind = plan.out_sockets.get(branch.index) or _socket_name(out)
                # as OpenSIPS: a reply's Contact carries only the U flag
                self._set_contact(reply, plan, out, bind, plan.reply_user, reply_to_caller,
                                  routes=plan.routes, flags=plan.flags & KEEP_USER)
        vias = restored_vias(request, t.rcv, plan.force_rport)
        reply.insert_header(vias.decode("utf-8", "surrogateescape"))
        if plan.initial:
            entries = route_entries(request)
            if entries:
                reply.insert_header("Record-Route: " + ",".join(entries))

    # ------------------------------------------------------------------ sequential requests

    def match(self, ctx: MsgContext, mode: int | None) -> int:
        """topology_hiding_match(): dialog first (its within callback fixes the request), then the
        dialog-less parameter in the R-URI."""
        if self.dialogs is not None and self.dialogs.match(ctx, mode) > 0:
            return 1
        msg = ctx.msg
        if not isinstance(msg, SipMessage) or not msg.is_request or msg.routes():
            return -1
        uri = parse_uri(ctx.new_ruri) if ctx.new_ruri else msg.uri()
        if not isinstance(uri, SipUri):
            log.error("Failed to parse request URI")
            return -1
        core = self.process.core
        port = uri.port if uri.port is not None else 5060
        if core is not None and not core.myself.is_myself(uri.host, port):
            return -1
        for name, value in uri.params.items():
            if name.lower() == self.config.ct_param.lower() and value:
                return self._sequential_no_dialog(ctx, msg, value)
        return -1

    def _sequential_no_dialog(self, ctx: MsgContext, msg: SipMessage, value: str) -> int:
        cfg = self.config
        try:
            info = decode_info(value, cfg.ct_passwd, cfg.ct_scheme)
        except DecodeError as err:
            log.error("bad topology hiding parameter in the R-URI: %s", err)
            return -1
        route_list = [e for e in (_split_routes(info.routes)) if e]
        first_uri: str | None = None
        strict = False
        if route_list:
            na = parse_name_addr(route_list[0])
            first_uri = na.uri if isinstance(na, NameAddr) else route_list[0].strip("<>")
            parsed = parse_uri(first_uri)
            strict = isinstance(parsed, SipUri) and "lr" not in {k.lower() for k in parsed.params}
        delete_all(msg, "via")
        delete_all(msg, "record-route")
        delete_all(msg, "route")
        ctx.dst_uri = None
        sent_routes: str | None = None
        if not strict:
            if info.contact:
                ctx.new_ruri = info.contact
            if route_list:
                msg.insert_header("Route: " + info.routes)
                ctx.dst_uri = first_uri
                sent_routes = info.routes
        else:
            # the next hop is a strict router: it goes in the R-URI, the party's Contact last
            ctx.new_ruri = first_uri
            rest = ",".join(route_list[1:])
            if rest:
                msg.insert_header("Route: " + rest)
                sent_routes = rest
            if info.contact:
                msg.insert_header(f"Route: <{info.contact}>")
        sock = self.socket_named(info.socket) if info.socket else None
        if info.socket and sock is None:
            log.warning("non-local socket <%s>...ignoring", info.socket)
        if sock is not None:
            ctx.force_socket = sock
        out = sock or self.receiving_socket(ctx.rcv)
        plan = Plan(False, info.flags, bool(ctx.msg_flags & MSGFL_FORCE_RPORT), routes=sent_routes)
        if out is not None:
            bind = _socket_name(self.receiving_socket(ctx.rcv) or out)
            self._set_contact(msg, plan, advertised_socket(ctx, out), bind, None, to_caller=False)
        self._attach(ctx, plan)
        return 1

    def within(self, ctx: MsgContext, dlg: Any, direction: int) -> None:
        """The dialog module matched a sequential request: hide it if its dialog is hidden."""
        msg = ctx.msg
        if not (dlg.module_flags & ONGOING) or not isinstance(msg, SipMessage) or ctx.rcv is None:
            return
        assert self.dialogs is not None
        to_caller = direction == DIR_UPSTREAM
        if dlg.module_flags & HIDE_CALLID:
            self.callids.register(dlg.callid, (msg.to_tag if to_caller else msg.from_tag) or "")
        self._strip(ctx, msg)
        delete_all(msg, "route")
        ctx.dst_uri = None
        if self.dialogs.fix_route(ctx) < 0:
            log.error("Failed to fix the SIP request according to dialog info")
            return
        sock = self.socket_named(self.dialogs.leg_socket(dlg, to_caller))
        if sock is not None:
            ctx.force_socket = sock
        out = sock or self.receiving_socket(ctx.rcv)
        plan = Plan(False, dlg.module_flags, bool(ctx.msg_flags & MSGFL_FORCE_RPORT), dialog=dlg,
                    to_caller=to_caller)
        if out is not None:
            # as OpenSIPS: a sequential request shows the caller's username whichever way it goes
            user = dlg.vals.get(self.config.caller_var)
            self._set_contact(msg, plan, advertised_socket(ctx, out), "", str(user) if user else None,
                              to_caller)
        self._attach(ctx, plan)

    def dialog_ended(self, dlg: Any) -> None:
        self.advertised.pop((dlg.did, True), None)
        self.advertised.pop((dlg.did, False), None)
        if dlg.callid in self.callids.calls:
            # the last replies (the 200 to the BYE) still go out masked
            core = self.process.core
            callid = dlg.callid
            if core is not None:
                core.call_at(core.now() + CALLID_LINGER, lambda: self.callids.forget(callid))
            else:
                self.callids.forget(callid)

    # ------------------------------------------------------------------ $TH_callee_callid

    def callee_callid(self, ctx: MsgContext) -> str | None:
        from .encoding import encode_callid

        dlg = self.dialogs.current(ctx) if self.dialogs is not None else None
        if dlg is None or not dlg.module_flags & HIDE_CALLID:
            return None
        return encode_callid(dlg.callid, self.config.callid_passwd, self.config.callid_prefix)


def _split_routes(text: str) -> list[str]:
    from pysips.sip.headers import split_commas

    return [e.strip() for e in split_commas(text)] if text else []
