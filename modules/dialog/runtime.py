"""The dialog table of one process (process.modules["dialog"]) and the DIALOGS service.

Dialogs are made by create_dialog() on an initial INVITE and follow their transaction through
tm's callbacks (provisional -> early, 2xx -> confirmed, negative final -> failed). Sequential
requests are matched by the `did` parameter of our Route (rr's loose_route hook) or by Call-ID
and tags (match_dialog()); an ACK confirms, a BYE ends. Timers end confirmed dialogs after their
lifetime (with BYE both ways for the "bye-on-timeout" flag) and send the in-dialog pings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pysips.core.services import (
    BranchInfo,
    LooseRouteMatch,
    RouteService,
    TransactionInfo,
    TransactionService,
    UacReply,
    UacRequest,
)
from pysips.script.context import MsgContext, RouteType
from pysips.script.events import events_of
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri

from .events import DialogEvents
from .model import (
    CONFIRMED,
    CONFIRMED_NA,
    DELETED,
    DIR_DOWNSTREAM,
    DIR_NONE,
    DIR_UPSTREAM,
    EARLY,
    FLAG_AUTO_PRACK,
    FLAG_BYEONTIMEOUT,
    FLAG_PING_CALLEE,
    FLAG_PING_CALLER,
    FLAG_REINVITE_PING_CALLEE,
    FLAG_REINVITE_PING_CALLER,
    MODULE_FLAG_TOPOH,
    UNCONFIRMED,
    Dialog,
    Leg,
    parse_did,
    reverse_hex,
)
from .prack import Reliable, rack_header, reliable_of
from .profiles import Changed, Profile

log = logging.getLogger("pysips.dialog")

CURRENT = "dialog"  # ctx.extra: (Dialog, direction) of the message being routed
PENDING_TIMEOUT = "dialog.timeout"  # ctx.extra: $DLG_timeout set before create_dialog()
PENDING_DEL_DELAY = "dialog.del_delay"  # ctx.extra: $DLG_del_delay set before create_dialog()
PENDING_FLAGS = "dialog.flags"  # ctx.extra: $DLG_flags set before create_dialog()
PREV_CSEQ = "dialog.prev_cseq"  # ctx.extra: the sending leg's CSeq before this request
ENDING = "dialog.ending"  # ctx.extra: the dialog this BYE ended (kept listed while its transaction lives)
# dlg_match_mode / match_dialog()'s mode: "did_only", "did_fallback", "did_none"
MATCH_STRICT_ID, MATCH_FALLBACK, MATCH_NO_ID = 0, 1, 2
LINGER_MAX = 40.0  # seconds an ended dialog stays listed at most (tm's longest transaction life)
UNBOUND = "dialog.unbound"  # ctx.extra: the dialog create_dialog() made before any transaction
CSEQ_SHIFT = "dialog.cseq_shift"  # ctx.extra: (CSeq, method) as received, when relayed shifted


@dataclass(frozen=True, slots=True)
class DialogConfig:
    rr_param: str = "did"
    default_timeout: int = 43200
    options_ping_interval: int = 30
    reinvite_ping_interval: int = 300
    hash_size: int = 4096
    dlg_match_mode: int = 1  # MATCH_FALLBACK, OpenSIPS's default
    extra_headers: tuple[str, ...] = ()
    delete_delay: int = 0
    auto_prack_fr_timeout: int = 3  # seconds an auto-PRACK waits for its final reply
    auto_prack_hangup_on_failure: bool = False  # a failed auto-PRACK fails the INVITE with 502


def _bind_addr(ctx: MsgContext) -> str:
    rcv = ctx.rcv
    if rcv is None:
        return ""
    return f"{rcv.proto}:{rcv.local_ip}:{rcv.local_port}"


def _contact_uri(msg: SipMessage) -> str:
    """The first Contact's URI. The usual `<uri>` form is cut out of the header text (a full
    parse costs more than the rest of create_dialog()); anything else goes to the parser."""
    raw = msg.header("Contact")
    if raw is None:
        return ""
    start = raw.find("<")
    if start >= 0 and '"' not in raw[:start]:
        end = raw.find(">", start)
        if end > start:
            return raw[start + 1 : end].strip()
    contacts = msg.contacts()
    if isinstance(contacts, list) and contacts:
        return str(contacts[0].uri)
    return ""


def _sdp_of(msg: SipMessage) -> bytes:
    """The SDP body, kept as bytes (decoded only when the MI prints it)."""
    if not msg.body:
        return b""
    ctype = msg.header("Content-Type") or msg.header("c") or ""
    return msg.body if ctype.strip().lower().startswith("application/sdp") else b""


# What a dialog route runs on (OpenSIPS's dummy request): the dialog is the context's, the
# message only satisfies functions that need one.
_DUMMY_REQUEST = (
    b"DUMMY sip:user@dummy.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKdummy\r\n"
    b"To: <sip:to@dummy.com>\r\n"
    b"From: <sip:from@dummy.com>;tag=1\r\n"
    b"Call-ID: dummy-1\r\n"
    b"CSeq: 1 DUMMY\r\n\r\n"
)


def _route_texts(msg: SipMessage) -> list[str]:
    return [f"<{na.uri}>" for na in msg.record_routes()]


class Dialogs:
    """DialogService (pysips.core.services): the table, the statistics and the timers."""

    def __init__(self, process: Any, tm: TransactionService, rr: RouteService | None,
                 config: DialogConfig, profiles: list[Profile]) -> None:
        self.process = process
        self.tm = tm
        self.rr = rr
        self.config = config
        self.profiles: dict[str, Profile] = {p.name: p for p in profiles}
        self.profile_changed: Changed | None = None
        self.table: dict[str, Dialog] = {}  # by did (what a Route carries: no parsing to find it)
        self.by_callid: dict[str, list[Dialog]] = {}
        self.by_transaction: dict[str, Dialog] = {}  # the initial INVITE's transaction -> dialog
        self.shifted: dict[str, tuple[int, str]] = {}  # transaction -> the CSeq its caller sent
        # a sequential request's transaction -> (dialog, direction): the onreply/failure routes of
        # a PRACK, UPDATE, re-INVITE or BYE see the dialog, as in OpenSIPS
        self.within: dict[str, tuple[Dialog, int]] = {}
        self.ending: dict[str, Dialog] = {}  # a BYE's transaction -> the dialog it ended
        self._next_id = int.from_bytes(os.urandom(2), "big")
        self.ended_callbacks: list[Callable[[Dialog], None]] = []
        self.events = DialogEvents(events_of(process))
        self.changed_callbacks: list[Callable[[Dialog], None]] = []
        # fn(ctx, dialog, direction) for each sequential request matched (OpenSIPS DLGCB_REQ_WITHIN)
        self.within_callbacks: list[Callable[[MsgContext, Dialog, int], None]] = []
        self.db: Any = None  # db.DialogDb when db_mode > 0
        self.flag_names: Any = None  # the script's FlagRegistry: dialog flag names for the MI
        self._ping_timer: Any = None
        self._reinvite_timer: Any = None
        # statistics (OpenSIPS names)
        self.active = 0
        self.early = 0
        self.processed = 0
        self.expired = 0
        self.failed = 0

    # ------------------------------------------------------------------ clock

    def _core(self) -> Any:
        return self.process.core

    def _now(self) -> float:
        core = self._core()
        return float(core.now()) if core is not None else 0.0

    def _wall(self) -> float:
        core = self._core()
        return float(core.wall_time()) if core is not None else 0.0

    # ------------------------------------------------------------------ lookup

    def all(self) -> Iterator[Dialog]:
        return iter(list(self.table.values()))

    def by_did(self, did: str) -> Dialog | None:
        found = self.table.get(did)
        if found is None and parse_did(did) is not None:
            key = parse_did(did)  # a did written another way ("0A.1" for "a0.1")
            assert key is not None
            found = self.table.get(f"{reverse_hex(key[0])}.{reverse_hex(key[1])}")
        return found

    def by_db_id(self, db_id: int) -> Dialog | None:
        return self.table.get(f"{reverse_hex(db_id >> 32)}.{reverse_hex(db_id & 0xFFFFFFFF)}")

    def current(self, ctx: MsgContext) -> Dialog | None:
        """The dialog of the message being routed (created or matched), or of the transaction
        an onreply/failure route runs for."""
        found = ctx.extra.get(CURRENT)
        if found is not None:
            dlg: Dialog = found[0]
            return dlg
        t = ctx.transaction
        if t is not None:
            tid: str = t.id
            within = self.within.get(tid)
            if within is not None:
                return within[0]
            initial = self.by_transaction.get(tid)
            if initial is not None:
                return initial
        msg = ctx.msg
        if ctx.route_type == RouteType.LOCAL and isinstance(msg, SipMessage):
            # local_route on a request we send inside a dialog (dlg_send_sequential, pings, BYEs):
            # that dialog is the current one, as in OpenSIPS
            for dlg in self.by_callid.get(msg.call_id, ()):
                if dlg.direction_of(msg.from_tag, msg.to_tag) != DIR_NONE:
                    return dlg
        return None

    def direction(self, ctx: MsgContext) -> int:
        found = ctx.extra.get(CURRENT)
        if found is None and ctx.transaction is not None:
            found = self.within.get(str(ctx.transaction.id))
        return int(found[1]) if found is not None else DIR_NONE

    def count(self) -> int:
        return self.active + self.early

    # ------------------------------------------------------------------ creation

    def create(self, ctx: MsgContext, flags: int) -> int:
        """create_dialog(): 1 made (or already there), -1 when the request cannot have one."""
        msg = ctx.msg
        if not isinstance(msg, SipMessage) or not msg.is_request or msg.method != "INVITE":
            log.error("create_dialog: only an initial INVITE starts a dialog")
            return -1
        if msg.to_tag:
            log.error("create_dialog: the INVITE has a To tag: not an initial request")
            return -1
        existing = self.current(ctx)
        if existing is not None:
            if flags:  # made already (by acc's CDRs, say): the flags given now replace its own
                kept = existing.flags & ~(FLAG_PING_CALLER | FLAG_PING_CALLEE | FLAG_BYEONTIMEOUT
                                          | FLAG_REINVITE_PING_CALLER | FLAG_REINVITE_PING_CALLEE)
                existing.flags = kept | flags
            return 1
        from_tag = msg.from_tag or ""
        if not from_tag:
            log.error("create_dialog: the INVITE has no From tag")
            return -1
        h_entry = (hash(msg.call_id) & 0x7FFFFFFF) % max(self.config.hash_size, 1)
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        caller = Leg(tag=from_tag, contact=_contact_uri(msg), route_set=list(reversed(_route_texts(msg))),
                     cseq=msg.cseq.number, bind_addr=_bind_addr(ctx),
                     invite_shift=(msg.cseq.number, 0))
        dlg = Dialog(h_entry, self._next_id, msg.call_id, msg.from_.uri, msg.to.uri, caller,
                     flags=flags, created_ts=self._now())
        pending = ctx.extra.pop(PENDING_TIMEOUT, None)
        dlg.timeout = int(pending) if pending is not None else self.config.default_timeout
        dlg.user_flags = int(ctx.extra.pop(PENDING_FLAGS, 0))
        dlg.del_delay = int(ctx.extra.pop(PENDING_DEL_DELAY, 0))
        dlg.caller_sdp = _sdp_of(msg)
        self.table[dlg.did] = dlg
        self.by_callid.setdefault(dlg.callid, []).append(dlg)
        self.processed += 1  # OpenSIPS counts a dialog processed when it is made
        ctx.extra[CURRENT] = (dlg, DIR_DOWNSTREAM)
        if self.rr is not None:
            self.rr.add_rr_param(ctx, f";{self.config.rr_param}={dlg.did}")
        t = ctx.transaction
        if t is not None:
            self.by_transaction[str(t.id)] = dlg
        else:
            # no transaction yet: t_relay() will make one, or request_done() drops the dialog
            ctx.extra[UNBOUND] = dlg
        return 1

    def request_done(self, ctx: MsgContext) -> None:
        """The core's end-of-request hook: a dialog whose INVITE got no transaction (the script
        answered statelessly, or dropped it) is gone, counted as failed and out of its profiles
        at once, as OpenSIPS's transaction-less dialog is when its request's processing ends."""
        dlg = ctx.extra.pop(UNBOUND, None)
        if isinstance(dlg, Dialog) and dlg.state == UNCONFIRMED:
            log.debug("dialog %s: no transaction was made for its INVITE, dropped", dlg.did)
            self.failed += 1
            self._end(dlg)

    def transaction_created(self, ctx: MsgContext, t: TransactionInfo) -> None:
        """tm made the INVITE's transaction after create_dialog(): follow its replies."""
        found = ctx.extra.get(CURRENT)
        if found is None:
            return
        ctx.extra.pop(UNBOUND, None)
        shifted = ctx.extra.get(CSEQ_SHIFT)
        if shifted is not None:
            self.shifted[t.id] = shifted
        ending = ctx.extra.get(ENDING)
        if ending is not None:
            self.ending[t.id] = ending
        dlg: Dialog = found[0]
        if t.is_invite and dlg.state == UNCONFIRMED and not dlg.callee.tag:
            self.by_transaction[t.id] = dlg
        elif isinstance(ctx.msg, SipMessage) and ctx.msg.to_tag:
            self.within[t.id] = (dlg, int(found[1]))

    # ------------------------------------------------------------------ the initial transaction

    def reply_in(self, t: TransactionInfo, branch: BranchInfo, reply: SipMessage) -> None:
        shifted = self.shifted.get(t.id)
        if shifted is not None:  # the caller of a shifted request sees its own CSeq again
            reply.replace_header(f"CSeq: {shifted[0]} {shifted[1]}")
            return
        dlg = self.by_transaction.get(t.id)
        if dlg is None or dlg.ended or reply.cseq.method != "INVITE":
            return
        if 100 < reply.status < 200 and dlg.state in (UNCONFIRMED, EARLY):
            # the early dialog is known at once (a PRACK from the onreply_route needs it); the
            # state changes only when the reply goes upstream (reply_out), as in OpenSIPS
            leg = self._early_leg(dlg, reply)
            if leg is not None and leg.reliable is not None and dlg.flags & FLAG_AUTO_PRACK:
                self._auto_prack(dlg, t, leg)

    def reply_out(self, t: TransactionInfo, code: int, reason: str, reply: SipMessage | None) -> None:
        """A reply to the initial INVITE went upstream: the dialog's state follows it. After the
        onreply route, as in OpenSIPS (TMCB_RESPONSE_FWDED): that route still sees the state
        before the reply ($DLG_status 1 for the 180, 2 for the 200 after a 180)."""
        dlg = self.by_transaction.get(t.id)
        if dlg is None or dlg.ended or not t.is_invite:
            return
        to_tag = (reply.to_tag or "") if reply is not None else ""
        if (100 < code < 200 and reply is not None and dlg.module_flags & MODULE_FLAG_TOPOH
                and not dlg.confirmed):
            # topology hiding: early in-dialog requests (PRACK, UPDATE) are routed by the dialog
            dlg.callee.contact = _contact_uri(reply) or dlg.callee.contact
            dlg.callee.route_set = _route_texts(reply)
            dlg.callee.bind_addr = dlg.caller.bind_addr
        if 100 < code < 200 and dlg.state == UNCONFIRMED:
            dlg.state = EARLY
            self.events.state_changed(dlg, UNCONFIRMED, to_tag)
            self.early += 1
            self._changed(dlg)
        elif 200 <= code < 300 and dlg.state in (UNCONFIRMED, EARLY) and reply is not None:
            self._confirm(dlg, reply)

    def _callee_routes(self, dlg: Dialog, reply: SipMessage) -> list[str]:
        """The route set towards the callee: the reply's Record-Route entries below ours."""
        routes = _route_texts(reply)
        marker = f";{self.config.rr_param}={dlg.did}"
        ours = next((i for i, r in enumerate(routes) if marker in r), None)
        if dlg.module_flags & MODULE_FLAG_TOPOH:
            ours = len(routes)  # topology hiding took the caller's entries and ours away
        elif ours is None:  # no record_route(): the upstream entries are the caller's
            ours = max(len(routes) - len(dlg.caller.route_set), 0)
        return routes[:ours]

    def _early_leg(self, dlg: Dialog, reply: SipMessage) -> Leg | None:
        """A provisional reply with a To tag makes (or refreshes) that early dialog's leg: the
        target and route set a PRACK or an early UPDATE needs (RFC 3261 12.1.2), and its last
        reliable provisional (RFC 3262). Each To tag is an early dialog of its own (forking)."""
        tag = reply.to_tag
        if not tag:
            return None
        leg = dlg.early_legs.get(tag)
        if leg is None:
            leg = dlg.early_legs[tag] = Leg(tag=tag, bind_addr=dlg.caller.bind_addr)
        leg.learnt_from = reply  # its Contact and Record-Route are read when a request needs them
        reliable = reliable_of(reply)
        if reliable is not None and (leg.reliable is None or reliable[0] > leg.reliable[0]):
            leg.reliable = reliable
        dlg.last_early_tag = tag
        return leg

    def _auto_prack(self, dlg: Dialog, t: TransactionInfo, leg: Leg) -> None:
        """create_dialog("auto-prack"): PRACK each new reliable provisional of the callee
        ourselves (a retransmission, same RSeq, gets none: our PRACK's own transaction
        retransmits). A PRACK that fails (negative final, no answer within
        auto_prack_fr_timeout) is logged; with auto_prack_hangup_on_failure the INVITE is
        answered 502 upstream, which cancels its branches."""
        reliable = leg.reliable
        if reliable is None or reliable[0] <= leg.rseq_pracked:
            return
        leg.rseq_pracked = reliable[0]
        self._target_of(dlg, leg)

        def answered(reply: UacReply) -> None:
            if reply.code < 300:
                return
            log.warning("dialog %s: auto PRACK (RSeq %d) to %s failed with %d", dlg.did,
                        reliable[0], leg.tag, reply.code)
            if self.config.auto_prack_hangup_on_failure and not dlg.confirmed and not dlg.ended:
                self.tm.reply_transaction(t, 502, "Bad Gateway")

        sent = self.send_within(dlg, "PRACK", to_caller=False, headers=(rack_header(reliable),),
                                callback=answered, target_leg=leg,
                                fr_timeout=self.config.auto_prack_fr_timeout)
        if sent < 0:
            answered(UacReply(500, "PRACK not sent", None, dlg.callid, local=True))

    def _target_of(self, dlg: Dialog, leg: Leg) -> Leg:
        """An early leg with its Contact and route set read from the reply it was learnt from."""
        reply = leg.learnt_from
        if isinstance(reply, SipMessage):
            leg.learnt_from = None
            contact = _contact_uri(reply)
            if contact:
                leg.contact = contact
            leg.route_set = self._callee_routes(dlg, reply) or leg.route_set
        return leg

    def _confirm(self, dlg: Dialog, reply: SipMessage) -> None:
        if dlg.state == EARLY:
            self.early -= 1
        old = dlg.state
        dlg.state = CONFIRMED_NA
        self.events.state_changed(dlg, old, reply.to_tag or "")
        self.active += 1
        dlg.callee.tag = reply.to_tag or ""
        early = dlg.early_legs.get(dlg.callee.tag)
        dlg.callee.contact = _contact_uri(reply) or (
            self._target_of(dlg, early).contact if early is not None else "")
        dlg.callee.route_set = self._callee_routes(dlg, reply)
        dlg.callee.bind_addr = dlg.caller.bind_addr
        dlg.early_legs.clear()
        dlg.callee_sdp = _sdp_of(reply)
        dlg.start_ts = int(self._wall())
        self._arm(dlg, dlg.timeout)
        dlg.db_dirty = True
        self._changed(dlg)
        self.run_dialog_route(dlg, "answer")

    def completed(self, t: TransactionInfo, code: int) -> None:
        """The INVITE's final reply went upstream: a negative one ends a dialog not confirmed."""
        dlg = self.by_transaction.get(t.id)
        if dlg is None or code < 300 or dlg.confirmed or dlg.ended:
            return
        dlg.end_reason = "Cancelled" if t.cancelled else None
        self.failed += 1
        self._end(dlg)

    def deleted(self, t: TransactionInfo) -> None:
        self.shifted.pop(t.id, None)
        self.within.pop(t.id, None)
        ended = self.ending.pop(t.id, None)
        if ended is not None and not (ended.del_delay or self.config.delete_delay):
            self._forget(ended)
        dlg = self.by_transaction.pop(t.id, None)
        if dlg is not None and dlg.state in (UNCONFIRMED, EARLY):
            # no final reply ever went up (a dropped transaction): the dialog cannot live on
            self.failed += 1
            self._end(dlg)

    # ------------------------------------------------------------------ sequential requests

    def loose_route(self, ctx: MsgContext, match: LooseRouteMatch) -> None:
        """rr's hook: loose_route() consumed a Route of ours; its did names the dialog."""
        if ctx.extra.get(CURRENT) is not None:
            return
        did = match.params.get(self.config.rr_param)
        if not did:
            return
        dlg = self.by_did(did)
        msg = ctx.msg
        if dlg is None or not isinstance(msg, SipMessage) or msg.call_id != dlg.callid:
            return
        direction = dlg.direction_of(msg.from_tag, msg.to_tag)
        if direction == DIR_NONE:
            return
        self.sequential(ctx, dlg, direction)

    def match(self, ctx: MsgContext, mode: int | None = None) -> int:
        """match_dialog([mode]): 1 when the request belongs to a known dialog, -1 otherwise.
        Modes as dlg_match_mode: 0 by did only, 1 did then Call-ID and tags, 2 Call-ID and tags."""
        if self.current(ctx) is not None:
            return 1
        msg = ctx.msg
        if not isinstance(msg, SipMessage) or not msg.is_request or not msg.to_tag:
            return -1
        if mode is None:
            mode = self.config.dlg_match_mode
        if mode != MATCH_NO_ID:
            for did in self._dids_of(msg):
                dlg = self.by_did(did)
                if dlg is not None and dlg.callid == msg.call_id:
                    direction = dlg.direction_of(msg.from_tag, msg.to_tag)
                    if direction != DIR_NONE:
                        self.sequential(ctx, dlg, direction)
                        return 1
            if mode == MATCH_STRICT_ID:
                return -1
        for dlg in self.by_callid.get(msg.call_id, ()):
            direction = dlg.direction_of(msg.from_tag, msg.to_tag)
            if direction != DIR_NONE and not dlg.ended:
                self.sequential(ctx, dlg, direction)
                return 1
        return -1

    def _dids_of(self, msg: SipMessage) -> list[str]:
        """Dialog ids the request carries: in a Route loose_route() did not consume, or (topology
        hiding: no Route at all) in the R-URI's parameters."""
        marker = f";{self.config.rr_param}="
        uris = [route.uri for route in msg.routes()] or [msg.ruri]
        found = []
        for uri in uris:
            pos = uri.find(marker)
            if pos >= 0:
                found.append(uri[pos + len(marker):].split(";", 1)[0].split(">", 1)[0].split("?", 1)[0])
        if not found and not msg.routes():
            # topology_hiding("D"): "user.did.<entry>.<id>" in the R-URI's user part
            parsed = msg.uri()
            user = (parsed.user or "") if isinstance(parsed, SipUri) else ""
            pos = user.find(f".{self.config.rr_param}.")
            if pos >= 0:
                found.append(user[pos + len(self.config.rr_param) + 2:])
        return found

    def sequential(self, ctx: MsgContext, dlg: Dialog, direction: int) -> None:
        """A request inside `dlg`: tracked, then the modules' within callbacks (topology hiding)."""
        self._track(ctx, dlg, direction)
        for fn in self.within_callbacks:
            fn(ctx, dlg, direction)

    def on_within(self, fn: Callable[[MsgContext, Dialog, int], None]) -> None:
        """DialogService: fn(ctx, dialog, direction) for every sequential request matched."""
        self.within_callbacks.append(fn)

    @property
    def rr_param(self) -> str:
        """DialogService: the name of the did parameter (modparam rr_param)."""
        return self.config.rr_param

    def leg_socket(self, dlg: Dialog, to_caller: bool) -> str:
        """DialogService: our socket ("udp:IP:PORT") towards the caller or the callee."""
        return (dlg.caller if to_caller else dlg.callee).bind_addr or dlg.caller.bind_addr

    def _track(self, ctx: MsgContext, dlg: Dialog, direction: int) -> None:
        """A request inside `dlg`: remember it for the script, track CSeq, ACK and BYE."""
        msg = ctx.msg
        ctx.extra[CURRENT] = (dlg, direction)
        if not isinstance(msg, SipMessage) or dlg.ended:
            return
        leg = dlg.caller if direction == DIR_DOWNSTREAM else dlg.callee
        ctx.extra[PREV_CSEQ] = leg.cseq
        method = msg.method
        if method not in ("ACK", "CANCEL") and msg.cseq.number > leg.cseq:
            leg.cseq = msg.cseq.number
            dlg.db_dirty = True
        shift = leg.gen_offset
        if method == "ACK" and msg.cseq.number == leg.invite_shift[0]:
            shift = leg.invite_shift[1]  # an ACK keeps its INVITE's CSeq as the other side saw it
        elif method == "INVITE":
            leg.invite_shift = (msg.cseq.number, shift)
        if shift and method != "CANCEL":
            # the other party saw our own requests in this CSeq space: shift past them
            msg.replace_header(f"CSeq: {msg.cseq.number + shift} {msg.cseq.method}")
            ctx.extra[CSEQ_SHIFT] = (msg.cseq.number, msg.cseq.method)
        if method == "ACK" and dlg.state == CONFIRMED_NA:
            dlg.state = CONFIRMED
            self.events.state_changed(dlg, CONFIRMED_NA)
            dlg.db_dirty = True
            self._changed(dlg)
        elif method == "BYE" and dlg.confirmed:
            dlg.end_reason = "Upstream BYE" if direction == DIR_UPSTREAM else "Downstream BYE"
            self._end(dlg, linger=True, route="hangup")
            ctx.extra[ENDING] = dlg

    def validate(self, ctx: MsgContext) -> int:
        """validate_dialog(): 1 valid; -1 CSeq out of order; -2 R-URI not the party's Contact;
        -4 no dialog."""
        dlg = self.current(ctx)
        msg = ctx.msg
        if dlg is None or not isinstance(msg, SipMessage):
            log.error("validate_dialog: null dialog")
            return -4
        direction = self.direction(ctx)
        source = dlg.caller if direction == DIR_DOWNSTREAM else dlg.callee
        target = dlg.callee if direction == DIR_DOWNSTREAM else dlg.caller
        previous = int(ctx.extra.get(PREV_CSEQ, source.cseq))
        number = msg.cseq.number
        if (number < previous) if msg.method == "ACK" else (number <= previous):
            log.debug("dialog: cseq test failed recv=%d, old=%d", number, previous)
            return -1
        if dlg.state <= EARLY or not msg.routes() or not target.contact:
            return 1
        if msg.original_ruri.strip().lower() != target.contact.strip().lower():
            log.error("dialog: failed to validate remote contact: dlg=[%s] , req=[%s]",
                      target.contact, msg.original_ruri)
            return -2
        return 1

    def fix_route(self, ctx: MsgContext) -> int:
        """fix_route_dialog(): the request's R-URI, Route set and next hop from the dialog."""
        dlg = self.current(ctx)
        msg = ctx.msg
        if dlg is None or not isinstance(msg, SipMessage):
            return -1
        target = dlg.callee if self.direction(ctx) == DIR_DOWNSTREAM else dlg.caller
        if not target.contact:
            return -1
        ctx.new_ruri = target.contact
        msg.remove_header("Route")
        for route in reversed(target.route_set):
            msg.insert_header(f"Route: {route}")
        if target.route_set:
            first = target.route_set[0]
            ctx.dst_uri = first[1:first.find(">")] if first.startswith("<") else first
        return 1

    # ------------------------------------------------------------------ ending

    def _end(self, dlg: Dialog, linger: bool = False, route: str | None = None) -> None:
        """The dialog is over: out of its profiles, its timer stopped, counted. With `linger` it
        stays listed (state 5) until the ending request's transaction is gone, as in OpenSIPS
        where the BYE's transaction holds a reference to it."""
        if dlg.state == EARLY:
            self.early -= 1
        elif dlg.confirmed:
            self.active -= 1
        old = dlg.state
        dlg.state = DELETED
        self.events.state_changed(dlg, old)
        dlg.expires_at = 0.0
        if dlg.timer is not None:
            dlg.timer.cancel()
            dlg.timer = None
        core = self._core()
        delay = dlg.del_delay or self.config.delete_delay
        if delay > 0 and core is not None:
            # delete_delay / $DLG_del_delay: still found (state 5) by late requests for a while
            dlg.timer = core.call_at(self._now() + delay, lambda: self._forget(dlg))
        elif linger and core is not None:
            # forgotten with the BYE's transaction (deleted()), or after tm's longest life
            dlg.timer = core.call_at(self._now() + LINGER_MAX, lambda: self._forget(dlg))
        else:
            self._forget(dlg)
        if route is not None:  # state 5 already, its profiles still there (as in OpenSIPS)
            self.run_dialog_route(dlg, route)
        for name, value in dlg.profiles:
            profile = self.profiles.get(name)
            if profile is not None:
                profile.remove(dlg, value)
        dlg.profiles.clear()
        for fn in self.ended_callbacks:
            fn(dlg)

    def _forget(self, dlg: Dialog) -> None:
        if dlg.timer is not None:
            dlg.timer.cancel()
            dlg.timer = None
        self.table.pop(dlg.did, None)
        same = self.by_callid.get(dlg.callid)
        if same is not None:
            if dlg in same:
                same.remove(dlg)
            if not same:
                del self.by_callid[dlg.callid]

    def on_ended(self, fn: Callable[[Dialog], None]) -> None:
        """DialogService: fn(dialog) once when a dialog ends."""
        self.ended_callbacks.append(fn)

    def shift_cseq(self, ctx: MsgContext) -> int:
        """DialogService: the request of `ctx` went out again one CSeq higher (uac_auth()): the
        sending party's later requests follow one higher (its generated-CSeq offset)."""
        dlg = self.current(ctx)
        if dlg is None:
            return 0
        msg = ctx.msg
        sequential = isinstance(msg, SipMessage) and bool(msg.to_tag)
        leg = dlg.callee if sequential and self.direction(ctx) == DIR_UPSTREAM else dlg.caller
        leg.gen_offset += 1
        if isinstance(msg, SipMessage) and msg.cseq.method == "INVITE":
            # the ACK of this INVITE goes with the CSeq the INVITE was sent again with
            leg.invite_shift = (msg.cseq.number, leg.gen_offset)
        dlg.db_dirty = True
        return leg.gen_offset

    def store_value(self, ctx: MsgContext, name: str, value: str) -> bool:
        """DialogService: $dlg_val(name) = value on the dialog of `ctx`."""
        dlg = self.current(ctx)
        if dlg is None:
            return False
        dlg.vals[name] = value
        dlg.db_dirty = True
        return True

    def run_dialog_route(self, dlg: Dialog, which: str) -> None:
        """dlg_on_answer/hangup/timeout: the route set for `which`, run with the dialog current."""
        ref = dlg.routes.get(which)
        if ref is None or ref.run is None:
            return
        from pysips.script.context import RouteType
        from pysips.sip.message import parse_message

        ctx = MsgContext(self.process, parse_message(_DUMMY_REQUEST), None, RouteType.REQUEST, self._wall())
        ctx.extra[CURRENT] = (dlg, DIR_NONE)
        core = self._core()
        if core is not None:
            core.run_route(ctx, ref.run)
        else:
            ref.run(ctx)

    def _changed(self, dlg: Dialog) -> None:
        for fn in self.changed_callbacks:
            fn(dlg)

    def terminate(self, dlg: Dialog, reason: str, extra_headers: tuple[str, ...] = ()) -> None:
        """Ends a dialog from here: BYE to both parties (when confirmed), then forgets it."""
        dlg.end_reason = reason
        if dlg.confirmed:
            self.send_within(dlg, "BYE", to_caller=True, headers=extra_headers)
            self.send_within(dlg, "BYE", to_caller=False, headers=extra_headers)
        self._end(dlg)

    def send_within(self, dlg: Dialog, method: str, to_caller: bool, headers: tuple[str, ...] = (),
                    body: bytes = b"", content_type: str | None = None,
                    callback: Callable[[UacReply], None] | None = None,
                    target_leg: Leg | None = None, fr_timeout: float | None = None) -> int:
        """A request of ours inside the dialog, to one party, in the other party's CSeq space.
        `target_leg` is an early dialog's callee leg (PRACK, early UPDATE) instead of the
        confirmed callee."""
        target, source = (dlg.caller, dlg.callee) if to_caller else (dlg.callee, dlg.caller)
        if target_leg is not None and not to_caller:
            target = target_leg
        target_uri, source_uri = (dlg.from_uri, dlg.to_uri) if to_caller else (dlg.to_uri, dlg.from_uri)
        if not target.contact:
            log.error("dialog: no contact to send %s to (%s)", method, dlg.callid)
            return -1
        request = UacRequest(
            method, target.contact, from_uri=source_uri, to_uri=target_uri,
            headers=tuple(headers) + self.config.extra_headers, body=body, content_type=content_type,
            socket=target.bind_addr or None, call_id=dlg.callid, cseq=source.next_generated_cseq(),
            from_tag=source.tag, to_tag=target.tag, route_set=tuple(target.route_set),
            fr_timeout=fr_timeout)
        dlg.db_dirty = True
        return self.tm.send_request(request, callback)

    # ------------------------------------------------------------------ timers

    def _arm(self, dlg: Dialog, seconds: int) -> None:
        core = self._core()
        if dlg.timer is not None:
            dlg.timer.cancel()
            dlg.timer = None
        if core is None or seconds <= 0:
            dlg.expires_at = 0.0
            return
        dlg.expires_at = self._now() + seconds
        dlg.timer = core.call_at(dlg.expires_at, lambda: self._expired(dlg))

    def set_timeout(self, dlg: Dialog, seconds: int) -> None:
        """$DLG_timeout on a live dialog: its lifetime restarts from now."""
        dlg.timeout = seconds
        dlg.db_dirty = True
        if dlg.confirmed:
            self._arm(dlg, seconds)

    def remaining(self, dlg: Dialog) -> int:
        if dlg.expires_at:
            return max(int(dlg.expires_at - self._now() + 0.5), 0)
        return dlg.timeout

    def _expired(self, dlg: Dialog) -> None:
        dlg.timer = None
        if dlg.ended:
            return
        log.info("dialog %s (callid %s) timed out", dlg.did, dlg.callid)
        if dlg.routes.get("timeout") is not None:
            self.run_dialog_route(dlg, "timeout")
            if dlg.timer is not None or dlg.ended:
                return  # the route gave it a new lifetime ($DLG_timeout), or ended it
        self.expired += 1
        if dlg.flags & FLAG_BYEONTIMEOUT:
            self.terminate(dlg, "Lifetime Timeout")
        else:
            dlg.end_reason = "Lifetime Timeout"
            self._end(dlg)

    def start_pinging(self) -> None:
        core = self._core()
        if core is None:
            return
        if self.config.options_ping_interval > 0 and self._ping_timer is None:
            self._ping_timer = core.call_at(self._now() + self.config.options_ping_interval,
                                            lambda: self._ping_round(False))
        if self.config.reinvite_ping_interval > 0 and self._reinvite_timer is None:
            self._reinvite_timer = core.call_at(self._now() + self.config.reinvite_ping_interval,
                                                lambda: self._ping_round(True))

    def stop(self) -> None:
        for timer in (self._ping_timer, self._reinvite_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._reinvite_timer = None
        for dlg in self.table.values():
            if dlg.timer is not None:
                dlg.timer.cancel()
                dlg.timer = None

    def _ping_round(self, reinvite: bool) -> None:
        core = self._core()
        interval = self.config.reinvite_ping_interval if reinvite else self.config.options_ping_interval
        caller_flag = FLAG_REINVITE_PING_CALLER if reinvite else FLAG_PING_CALLER
        callee_flag = FLAG_REINVITE_PING_CALLEE if reinvite else FLAG_PING_CALLEE
        for dlg in self.all():
            if not dlg.confirmed:
                continue
            if dlg.flags & caller_flag:
                self.ping(dlg, to_caller=True, reinvite=reinvite)
            if dlg.flags & callee_flag:
                self.ping(dlg, to_caller=False, reinvite=reinvite)
        if core is not None:
            handle = core.call_at(self._now() + interval, lambda: self._ping_round(reinvite))
            if reinvite:
                self._reinvite_timer = handle
            else:
                self._ping_timer = handle

    def ping(self, dlg: Dialog, to_caller: bool, reinvite: bool) -> None:
        """One in-dialog ping; no answer (a local 408) or 481 ends the call with BYE both ways."""
        side = "caller" if to_caller else "callee"
        if dlg.ping_pending.get(side):
            return
        dlg.ping_pending[side] = True

        def answered(reply: UacReply) -> None:
            if reply.code < 200:
                return
            dlg.ping_pending[side] = False
            if reinvite and 200 <= reply.code < 300 and reply.reply is not None:
                self._ack_reinvite_ping(dlg, to_caller, reply.reply)
            if dlg.ended:
                return
            if reply.code == 481 or (reply.code == 408 and reply.local):
                who = "Caller" if to_caller else "Callee"
                kind = "ReINVITE Ping Timeout" if reinvite else "Ping Timeout"
                log.info("dialog %s: %s did not answer the ping (%d)", dlg.did, side, reply.code)
                self.terminate(dlg, f"{who} {kind}")

        if reinvite:
            sent = self.send_within(dlg, "INVITE", to_caller, callback=answered)
        else:
            sent = self.send_within(dlg, "OPTIONS", to_caller, callback=answered)
        if sent < 0:
            dlg.ping_pending[side] = False

    def send_sequential(self, dlg: Dialog, method: str, to_caller: bool, body: bytes = b"",
                        content_type: str | None = None, headers: tuple[str, ...] = (),
                        reply: SipMessage | None = None) -> int:
        """dlg_send_sequential(): a request of ours to one party; a 2xx to an INVITE is ACKed.
        Before the 2xx only the callee's early dialog can take one (PRACK, UPDATE): the one of
        `reply` (the provisional an onreply_route runs for), else the latest. A PRACK gets the
        RAck of that early dialog's last reliable provisional unless the script gave one."""
        target_leg = None
        if not dlg.confirmed:
            if to_caller or dlg.ended:
                log.warning("dialog %s: no confirmed dialog to send %s to the caller", dlg.did, method)
                return -1
            tag = reply.to_tag if reply is not None and not reply.is_request else None
            target_leg = dlg.early_legs.get(tag or dlg.last_early_tag)
            if target_leg is not None:
                self._target_of(dlg, target_leg)
            if target_leg is None or not target_leg.contact:
                log.warning("dialog %s: no early dialog with the callee to send %s in", dlg.did, method)
                return -1
        if method == "PRACK" and not any(h.lower().startswith("rack:") for h in headers):
            leg = target_leg if target_leg is not None else self._leg_of(dlg, to_caller)
            reliable: Reliable | None = None
            if reply is not None and not reply.is_request and reply.to_tag == leg.tag:
                reliable = reliable_of(reply)
            reliable = reliable or leg.reliable
            if reliable is None:
                log.warning("dialog %s: no reliable provisional reply to PRACK", dlg.did)
                return -1
            headers = (*headers, rack_header(reliable))

        def answered(answer: UacReply) -> None:
            if method == "INVITE" and 200 <= answer.code < 300 and answer.reply is not None:
                self._ack_reinvite_ping(dlg, to_caller, answer.reply)

        sent = self.send_within(dlg, method, to_caller, headers, body, content_type, answered,
                                target_leg=target_leg)
        return 1 if sent >= 0 else -1

    @staticmethod
    def _leg_of(dlg: Dialog, caller: bool) -> Leg:
        return dlg.caller if caller else dlg.callee

    def _ack_reinvite_ping(self, dlg: Dialog, to_caller: bool, reply: SipMessage) -> None:
        target, source = (dlg.caller, dlg.callee) if to_caller else (dlg.callee, dlg.caller)
        target_uri, source_uri = (dlg.from_uri, dlg.to_uri) if to_caller else (dlg.to_uri, dlg.from_uri)
        core = self._core()
        if core is None:
            return
        # the ACK of a 2xx is end to end: sent statelessly with the INVITE's CSeq
        request = UacRequest("ACK", target.contact, from_uri=source_uri, to_uri=target_uri,
                             socket=target.bind_addr or None, call_id=dlg.callid,
                             cseq=reply.cseq.number, from_tag=source.tag, to_tag=target.tag,
                             route_set=tuple(target.route_set))
        self.tm.send_request(request, None)

    # ------------------------------------------------------------------ profiles

    def profile(self, name: str) -> Profile | None:
        return self.profiles.get(name)

    # DialogService: profiles for other modules (load_balancer's resources)
    def define_profile(self, name: str, has_value: bool) -> None:
        if name not in self.profiles:
            profile = self.profiles[name] = Profile(name, has_value)
            profile.changed = self.profile_changed

    def share_profiles(self, changed: Changed) -> None:
        """Worker processes: every membership change goes to the others (profile_sharing.py)."""
        self.profile_changed = changed
        for profile in self.profiles.values():
            profile.changed = changed

    def join_profile(self, ctx: MsgContext, name: str, value: str) -> bool:
        dlg, profile = self.current(ctx), self.profiles.get(name)
        if dlg is None or profile is None:
            return False
        self.set_profile(dlg, profile, value)
        return True

    def leave_profile(self, ctx: MsgContext, name: str, value: str) -> bool:
        dlg, profile = self.current(ctx), self.profiles.get(name)
        return dlg is not None and profile is not None and self.unset_profile(dlg, profile, value)

    def profile_size(self, name: str, value: str | None) -> int:
        profile = self.profiles.get(name)
        return profile.size(value) if profile is not None else 0

    def set_profile(self, dlg: Dialog, profile: Profile, value: str) -> None:
        profile.add(dlg, value if profile.has_value else "")
        dlg.profiles.append((profile.name, value if profile.has_value else ""))
        dlg.db_dirty = True

    def unset_profile(self, dlg: Dialog, profile: Profile, value: str | None) -> bool:
        val = value if profile.has_value else ""
        for i, (name, member_value) in enumerate(dlg.profiles):
            if name == profile.name and (val is None or member_value == val):
                del dlg.profiles[i]
                profile.remove(dlg, member_value)
                dlg.db_dirty = True
                return True
        return False

    def in_profile(self, dlg: Dialog, profile: Profile, value: str | None) -> bool:
        return any(name == profile.name and (value is None or not profile.has_value or v == value)
                   for name, v in dlg.profiles)

    # ------------------------------------------------------------------ restore (db)

    def restore(self, dlg: Dialog) -> None:
        """A dialog loaded from the database: back in the table, its timer and profiles."""
        self.table[dlg.did] = dlg
        self.by_callid.setdefault(dlg.callid, []).append(dlg)
        self._next_id = max(self._next_id, dlg.h_id)
        if dlg.state == EARLY:
            self.early += 1
        elif dlg.confirmed:
            self.active += 1
        for name, value in dlg.profiles:
            profile = self.profiles.get(name)
            if profile is not None:
                profile.add(dlg, value)
        left = int(dlg.expires_at)  # the wall-clock expiry read from the table
        dlg.expires_at = 0.0
        if dlg.confirmed:
            self._arm(dlg, max(left - int(self._wall()), 1))

