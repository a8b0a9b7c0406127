"""The acc runtime of one process: configuration, the database, per-transaction accounting state,
and the tm callbacks that account a transaction when it completes.

CDRs (do_accounting(..., "cdr")) ride on the dialog module's DIALOGS service: the initial INVITE
gets a dialog (made when the script has none), its 2xx going upstream records the call's values
and start instead of a transaction record, and the dialog's end writes the one CDR: at once for
an end of our own (lifetime timeout, dlg_end_dlg, a dead party), or, for a BYE, when the BYE's
reply goes upstream, so values the script sets while routing the BYE ($acc_extra, $acc_leg) are
in it, as in OpenSIPS.

Transaction accounting uses three callbacks of tm's TRANSACTIONS service (OpenSIPS's
TMCB_REQUEST_IN / TMCB_RESPONSE_OUT / TMCB_ON_FAILURE; pysips.core.services.TransactionService):
on_created, on_reply_out and on_failure. acc requires tm, as in OpenSIPS.

Records are written when the transaction completes, synchronously (the SQLite connection commits
each insert): nothing is buffered, so a SIGTERM loses no written record; destroy closes the
connection.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pysips.core.services import DialogService, TransactionService
from pysips.db.api import Database, DbError, connect
from pysips.script.context import MsgContext
from pysips.script.events import EventInterface, events_of
from pysips.script.module_runtime import module_runtime
from pysips.sip.message import SipMessage

from .config import AccConfig
from .record import (
    ACC_ANSWERED,
    ACC_MISSED,
    BACKENDS,
    CDR,
    DB,
    E_ACC_CDR,
    E_ACC_EVENT,
    E_ACC_MISSED_EVENT,
    EVI,
    FAILED,
    LOG,
    MISSED,
    NORMAL,
    AccState,
    CallRecord,
    extra_values,
    leg_values,
    record_for,
    write_db,
    write_db_cdr,
    write_evi,
    write_evi_cdr,
    write_log,
    write_log_cdr,
)

log = logging.getLogger("pysips.modules.acc")

STATE_KEY = "acc.state"

# 2.x flag parameter -> the do_accounting() marks it stands for
_LEGACY_MARKS = {
    "log_flag": NORMAL * LOG,
    "db_flag": NORMAL * DB,
    "log_missed_flag": MISSED * LOG,
    "db_missed_flag": MISSED * DB,
    "failed_transaction_flag": FAILED * BACKENDS,
}


# a dialog ended by a request the script routes (a BYE): its CDR waits for that request's reply
_BYE_ENDS = ("Upstream BYE", "Downstream BYE")
# a BYE that never gets a transaction (dropped, answered statelessly): its CDR is written anyway
_BYE_WAIT = 32.0


class Acc:
    __slots__ = ("_db", "by_bye", "calls", "config", "dialogs", "ending", "events", "process", "states")

    def __init__(self, config: AccConfig, process: Any) -> None:
        self.config = config
        self.process = process
        self.states: dict[str, AccState] = {}  # by transaction id, until its final reply
        self._db: Database | None = None
        self.dialogs: DialogService | None = None
        self.calls: dict[str, AccState] = {}  # by dialog id: CDRs until their dialog ends
        self.ending: dict[str, AccState] = {}  # by dialog id: ended by a BYE, waiting for it
        self.by_bye: dict[str, AccState] = {}  # by the BYE's transaction id
        # the evi backend: OpenSIPS's three accounting events, published at start
        self.events: EventInterface | None = events_of(process)
        if self.events is not None:
            for event in (E_ACC_EVENT, E_ACC_CDR, E_ACC_MISSED_EVENT):
                self.events.publish(event)

    # ------------------------------------------------------------------ wiring

    def attach_tm(self, tm: TransactionService) -> None:
        tm.on_created(self._created)
        tm.on_reply_out(self._reply_out)
        tm.on_failure(self._failure)
        tm.on_deleted(self._deleted)

    def attach_dialogs(self, dialogs: DialogService) -> None:
        self.dialogs = dialogs
        dialogs.on_ended(self._dialog_ended)

    def new_state(self, now: float) -> AccState:
        return AccState(now, legs=[{}] if self.config.leg_tags else [])

    def close(self) -> None:
        """destroy: the database connection closes (every record is written already)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def db(self) -> Database | None:
        if self._db is None and self.config.db_url is not None:
            try:
                self._db = connect(self.config.db_url)
            except DbError as exc:
                log.error("acc: %s", exc)
        return self._db

    def wall_time(self) -> float:
        core = self.process.core
        return float(core.wall_time()) if core is not None else time.time()

    # ------------------------------------------------------------------ state

    def state(self, ctx: MsgContext, create: bool) -> AccState | None:
        cell = ctx.transaction
        if cell is not None:
            found = self.states.get(cell.id)
            if found is not None:
                return found
        found = ctx.extra.get(STATE_KEY)
        call = self._call_of(ctx)
        if call is not None:
            # a request of an accounted dialog: its values go to the dialog's CDR
            if isinstance(found, AccState) and found is not call:
                call.merge_from(found)
                call.flags |= found.flags & ~(CDR * BACKENDS)
                ctx.extra[STATE_KEY] = call
            return call
        if isinstance(found, AccState):
            return found
        if not create:
            return None
        made = self.new_state(ctx.now)
        ctx.extra[STATE_KEY] = made
        if cell is not None:
            self.states[cell.id] = made
        return made

    # ------------------------------------------------------------------ tm callbacks

    def _legacy_marks(self, message_flags: int) -> int:
        """What the 2.x flag parameters ask for, given the request's message flags."""
        marks = 0
        for name, bit in self.config.legacy_flags.items():
            if message_flags & (1 << bit):
                marks |= _LEGACY_MARKS[name]
        return marks

    def _call_of(self, ctx: MsgContext) -> AccState | None:
        """The CDR state of the message's dialog, when the dialog is accounted."""
        if self.dialogs is None or not (self.calls or self.ending):
            return None
        dlg = self.dialogs.current(ctx)
        if dlg is None:
            return None
        did = str(dlg.did)
        return self.calls.get(did) or self.ending.get(did)

    def _created(self, ctx: MsgContext, cell: Any) -> None:
        if self.ending:
            call = self._call_of(ctx)
            if (call is not None and call.call is not None and cell.method == "BYE"
                    and self.ending.get(call.call.did) is call):
                self.state(ctx, create=False)  # merges what the BYE's route set
                self.by_bye[cell.id] = call
                return
        state = ctx.extra.get(STATE_KEY)
        marks = self._legacy_marks(ctx.flags) if self.config.legacy_flags else 0
        if marks:
            if not isinstance(state, AccState):
                state = self.new_state(ctx.now)
                ctx.extra[STATE_KEY] = state
            state.flags |= marks
        if isinstance(state, AccState) and state.flags:
            if cell.method == "CANCEL" and not self.config.report_cancels:
                return
            self.states[cell.id] = state

    def _request_ctx(self, cell: Any) -> MsgContext:
        ctx = MsgContext(self.process, cell.request, cell.rcv)
        ctx.avps = cell.avps
        ctx.transaction = cell
        return ctx

    def _reply_out(self, cell: Any, code: int, reason: str, reply: SipMessage | None) -> None:
        ending = self.by_bye.pop(cell.id, None)
        if ending is not None:  # the BYE that ended an accounted call is answered: the CDR
            self._write_cdr(ending)
            return
        state = self.states.get(cell.id)
        if state is None:
            return
        call = state.call
        if call is not None and 200 <= code < 300 and cell.is_invite and call.record is None:
            # answered: the CDR's values are the INVITE's and this reply's; no transaction record
            del self.states[cell.id]
            request = cell.request
            if isinstance(request, SipMessage):
                to_tag = reply.to.tag if reply is not None else cell.to_tag
                call.start = self.wall_time()
                call.record = record_for(request, code, reason, to_tag, call.start)
                self.calls[call.did] = state
            return
        if code >= 200:
            del self.states[cell.id]
        if code >= 300 and not state.flags & (FAILED * BACKENDS):
            return
        if not state.flags & (NORMAL * BACKENDS):
            return
        if code < 200 and not (self.config.early_media and reply is not None and reply.body):
            return
        to_tag = reply.to.tag if reply is not None else cell.to_tag
        self._account(cell, state, code, reason, to_tag, ACC_ANSWERED, missed=False,
                      kind_of=lambda backend: state.on(NORMAL, backend)
                      and (code < 300 or state.on(FAILED, backend)))

    def _failure(self, cell: Any, code: int, reason: str, reply: SipMessage | None) -> None:
        state = self.states.get(cell.id)
        if state is None or not cell.is_invite or code < 300:
            return
        to_tag = reply.to.tag if reply is not None else cell.to_tag
        self._account(cell, state, code, reason, to_tag, ACC_MISSED, missed=True,
                      kind_of=lambda backend: state.on(MISSED, backend))
        # only the first failed attempt is a missed call; failure_route may re-arm it
        state.flags &= ~(MISSED * BACKENDS)

    def _deleted(self, cell: Any) -> None:
        self.states.pop(cell.id, None)
        ending = self.by_bye.pop(cell.id, None)
        if ending is not None:  # gone without a reply upstream: the call is over all the same
            self._write_cdr(ending)

    # ------------------------------------------------------------------ CDRs

    def start_call(self, ctx: MsgContext, state: AccState) -> bool:
        """do_accounting(..., "cdr") on an initial INVITE: the dialog (made when missing) carries
        the CDR. False when there is no dialog module or no dialog can be made."""
        if self.dialogs is None:
            log.error("do_accounting: dialog module not loaded - cdrs cannot be generated")
            return False
        msg = ctx.msg
        if not isinstance(msg, SipMessage) or msg.method != "INVITE" or msg.to_tag:
            return True  # OpenSIPS: CDRs start only on initial INVITEs, the rest is ignored
        if state.call is not None:
            return True
        dlg = self.dialogs.current(ctx)
        if dlg is None:
            if self.dialogs.create(ctx, 0) < 0:
                log.error("do_accounting: cannot use dialog accounting module")
                return False
            dlg = self.dialogs.current(ctx)
            if dlg is None:
                return False
        state.created = self.wall_time()
        state.call = CallRecord(str(dlg.did))
        return True

    def _dialog_ended(self, dlg: Any) -> None:
        did = str(dlg.did)
        state = self.calls.pop(did, None)
        if state is None or state.call is None:
            return
        state.call.end = self.wall_time()
        if dlg.end_reason in _BYE_ENDS:
            self.ending[did] = state
            core = self.process.core
            if core is not None:
                core.call_at(core.now() + _BYE_WAIT, lambda: self._bye_lost(did, state))
            return
        self._write_cdr(state)

    def _bye_lost(self, did: str, state: AccState) -> None:
        if self.ending.get(did) is state and state not in self.by_bye.values():
            self._write_cdr(state)

    def _write_cdr(self, state: AccState) -> None:
        call = state.call
        if call is None or call.record is None:
            return
        if self.ending.get(call.did) is state:
            del self.ending[call.did]
        record, call.record = call.record, None  # written once
        cfg = self.config
        if state.on(CDR, LOG):
            write_log_cdr(cfg, record, state, call, extra_values(cfg.log_extra, state, None),
                          leg_values(cfg.log_legs, state))
        if state.on(CDR, DB):
            db = self.db()
            if db is not None:
                write_db_cdr(cfg, db, state.table or cfg.table_acc, record, state, call,
                             extra_values(cfg.db_extra, state, None), leg_values(cfg.db_legs, state))
        if state.on(CDR, EVI):
            write_evi_cdr(self.events, cfg, record, state, call, extra_values(cfg.evi_extra, state, None),
                          leg_values(cfg.evi_legs, state))

    def _account(self, cell: Any, state: AccState, code: int, reason: str, to_tag: str | None,
                 log_prefix: str, missed: bool, kind_of: Any) -> None:
        request = cell.request
        if not isinstance(request, SipMessage):
            return
        rctx = self._request_ctx(cell)
        now = self.wall_time()
        rec = record_for(request, code, reason, to_tag, state.created or now)
        cfg = self.config
        if kind_of(LOG):
            write_log(cfg, log_prefix, rec, state, extra_values(cfg.log_extra, state, rctx), now,
                      leg_values(cfg.log_legs, state))
        if kind_of(DB):
            db = self.db()
            table = cfg.table_missed if missed else (state.table or cfg.table_acc)
            if db is not None:
                write_db(cfg, db, table, rec, state, extra_values(cfg.db_extra, state, rctx), now, missed,
                         leg_values(cfg.db_legs, state))
        if kind_of(EVI):
            write_evi(self.events, cfg, rec, state, extra_values(cfg.evi_extra, state, rctx), now, missed,
                      leg_values(cfg.evi_legs, state))


def acc_of(ctx: MsgContext) -> Acc:
    return module_runtime(ctx.process, "acc", Acc)
