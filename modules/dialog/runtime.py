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
from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage

from .model import (
    CONFIRMED,
    CONFIRMED_NA,
    DELETED,
    DIR_DOWNSTREAM,
    DIR_NONE,
    DIR_UPSTREAM,
    EARLY,
    FLAG_BYEONTIMEOUT,
    FLAG_PING_CALLEE,
    FLAG_PING_CALLER,
    FLAG_REINVITE_PING_CALLEE,
    FLAG_REINVITE_PING_CALLER,
    UNCONFIRMED,
    Dialog,
    Leg,
    parse_did,
    reverse_hex,
)
from .profiles import Profile

log = logging.getLogger("pysips.dialog")

CURRENT = "dialog"  # ctx.extra: (Dialog, direction) of the message being routed
PENDING_TIMEOUT = "dialog.timeout"  # ctx.extra: $DLG_timeout set before create_dialog()
PENDING_DEL_DELAY = "dialog.del_delay"  # ctx.extra: $DLG_del_delay set before create_dialog()
PENDING_FLAGS = "dialog.flags"  # ctx.extra: $DLG_flags set before create_dialog()
PREV_CSEQ = "dialog.prev_cseq"  # ctx.extra: the sending leg's CSeq before this request
ENDING = "dialog.ending"  # ctx.extra: the dialog this BYE ended (kept listed while its transaction lives)
# dlg_match_mode / match_dialog()'s mode: "did_only", "did_fallback", "did_none"
MATCH_STRICT_ID, MATCH_FALLBACK, MATCH_NO_ID = 0, 1, 2
MATCH_MODES = {"did_only": MATCH_STRICT_ID, "did_fallback": MATCH_FALLBACK, "did_none": MATCH_NO_ID}
LINGER_MAX = 40.0  # seconds an ended dialog stays listed at most (tm's longest transaction life)
ORPHAN_CHECK = 2.0  # seconds after create_dialog() a dialog without a transaction is dropped
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
        self.table: dict[str, Dialog] = {}  # by did (what a Route carries: no parsing to find it)
        self.by_callid: dict[str, list[Dialog]] = {}
        self.by_transaction: dict[str, Dialog] = {}  # the initial INVITE's transaction -> dialog
        self.shifted: dict[str, tuple[int, str]] = {}  # transaction -> the CSeq its caller sent
        self.ending: dict[str, Dialog] = {}  # a BYE's transaction -> the dialog it ended
        self._next_id = int.from_bytes(os.urandom(2), "big")
        self.ended_callbacks: list[Callable[[Dialog], None]] = []
        self.changed_callbacks: list[Callable[[Dialog], None]] = []
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
            return self.by_transaction.get(tid)
        return None

    def direction(self, ctx: MsgContext) -> int:
        found = ctx.extra.get(CURRENT)
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
        if self.current(ctx) is not None:
            return 1
        from_tag = msg.from_tag or ""
        if not from_tag:
            log.error("create_dialog: the INVITE has no From tag")
            return -1
        h_entry = (hash(msg.call_id) & 0x7FFFFFFF) % max(self.config.hash_size, 1)
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        caller = Leg(tag=from_tag, contact=_contact_uri(msg), route_set=list(reversed(_route_texts(msg))),
                     cseq=msg.cseq.number, bind_addr=_bind_addr(ctx))
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
            # No transaction yet: t_relay() will make one. When the script ends without one
            # (a stateless reply, a drop), OpenSIPS's end-of-script cleanup drops the dialog; the
            # engine has no such hook, so the check runs shortly after.
            core = self._core()
            if core is not None:
                dlg.timer = core.call_at(self._now() + ORPHAN_CHECK, lambda: self._orphan_check(dlg))
        return 1

    def _orphan_check(self, dlg: Dialog) -> None:
        dlg.timer = None
        if dlg.state == UNCONFIRMED and dlg not in self.by_transaction.values():
            log.debug("dialog %s: no transaction was made for its INVITE, dropped", dlg.did)
            self._end(dlg)

    def transaction_created(self, ctx: MsgContext, t: TransactionInfo) -> None:
        """tm made the INVITE's transaction after create_dialog(): follow its replies."""
        found = ctx.extra.get(CURRENT)
        if found is None:
            return
        shifted = ctx.extra.get(CSEQ_SHIFT)
        if shifted is not None:
            self.shifted[t.id] = shifted
        ending = ctx.extra.get(ENDING)
        if ending is not None:
            self.ending[t.id] = ending
        dlg: Dialog = found[0]
        if t.is_invite and dlg.state == UNCONFIRMED and not dlg.callee.tag:
            self.by_transaction[t.id] = dlg

    # ------------------------------------------------------------------ the initial transaction

    def reply_in(self, t: TransactionInfo, branch: BranchInfo, reply: SipMessage) -> None:
        shifted = self.shifted.get(t.id)
        if shifted is not None:  # the caller of a shifted request sees its own CSeq again
            reply.remove_header("CSeq")
            reply.insert_header(f"CSeq: {shifted[0]} {shifted[1]}")
            return
        dlg = self.by_transaction.get(t.id)
        if dlg is None or dlg.ended or reply.cseq.method != "INVITE":
            return
        code = reply.status
        if 100 < code < 200 and dlg.state == UNCONFIRMED:
            dlg.state = EARLY
            self.early += 1
            self._changed(dlg)
        elif 200 <= code < 300 and dlg.state in (UNCONFIRMED, EARLY):
            self._confirm(dlg, reply)

    def _confirm(self, dlg: Dialog, reply: SipMessage) -> None:
        if dlg.state == EARLY:
            self.early -= 1
        dlg.state = CONFIRMED_NA
        self.active += 1
        routes = _route_texts(reply)
        marker = f";{self.config.rr_param}={dlg.did}"
        ours = next((i for i, r in enumerate(routes) if marker in r), None)
        if ours is None:  # no record_route(): the upstream entries are the caller's
            ours = max(len(routes) - len(dlg.caller.route_set), 0)
        callee_routes = routes[:ours]
        dlg.callee.tag = reply.to_tag or ""
        dlg.callee.contact = _contact_uri(reply)
        dlg.callee.route_set = callee_routes
        dlg.callee.bind_addr = dlg.caller.bind_addr
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
        return found

    def sequential(self, ctx: MsgContext, dlg: Dialog, direction: int) -> None:
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
        if leg.gen_offset and method != "CANCEL":
            # the other party saw our own requests in this CSeq space: shift past them
            msg.remove_header("CSeq")
            msg.insert_header(f"CSeq: {msg.cseq.number + leg.gen_offset} {msg.cseq.method}")
            ctx.extra[CSEQ_SHIFT] = (msg.cseq.number, msg.cseq.method)
        if method == "ACK" and dlg.state == CONFIRMED_NA:
            dlg.state = CONFIRMED
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
        dlg.state = DELETED
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
                    callback: Callable[[UacReply], None] | None = None) -> int:
        """A request of ours inside the dialog, to one party, in the other party's CSeq space."""
        target, source = (dlg.caller, dlg.callee) if to_caller else (dlg.callee, dlg.caller)
        target_uri, source_uri = (dlg.from_uri, dlg.to_uri) if to_caller else (dlg.to_uri, dlg.from_uri)
        if not target.contact:
            log.error("dialog: no contact to send %s to (%s)", method, dlg.callid)
            return -1
        request = UacRequest(
            method, target.contact, from_uri=source_uri, to_uri=target_uri,
            headers=tuple(headers) + self.config.extra_headers, body=body, content_type=content_type,
            socket=target.bind_addr or None, call_id=dlg.callid, cseq=source.next_generated_cseq(),
            from_tag=source.tag, to_tag=target.tag, route_set=tuple(target.route_set))
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
                        content_type: str | None = None, headers: tuple[str, ...] = ()) -> int:
        """dlg_send_sequential(): a request of ours to one party; a 2xx to an INVITE is ACKed."""
        def answered(reply: UacReply) -> None:
            if method == "INVITE" and 200 <= reply.code < 300 and reply.reply is not None:
                self._ack_reinvite_ping(dlg, to_caller, reply.reply)

        sent = self.send_within(dlg, method, to_caller, headers, body, content_type, answered)
        return 1 if sent >= 0 else -1

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
            self.profiles[name] = Profile(name, has_value)

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

