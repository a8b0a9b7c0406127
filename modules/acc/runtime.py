"""The acc runtime of one process: configuration, the database, per-transaction accounting state,
and the tm callbacks that account a transaction when it completes.

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

from pysips.core.services import TransactionService
from pysips.db.api import Database, DbError, connect
from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage

from .config import AccConfig
from .record import (
    ACC_ANSWERED,
    ACC_MISSED,
    DB,
    FAILED,
    LOG,
    MISSED,
    NORMAL,
    AccState,
    extra_values,
    record_for,
    write_db,
    write_log,
)

log = logging.getLogger("pysips.modules.acc")

STATE_KEY = "acc.state"


class Acc:
    __slots__ = ("_db", "config", "process", "states")

    def __init__(self, config: AccConfig, process: Any) -> None:
        self.config = config
        self.process = process
        self.states: dict[str, AccState] = {}  # by transaction id, until its final reply
        self._db: Database | None = None

    # ------------------------------------------------------------------ wiring

    def attach_tm(self, tm: TransactionService) -> None:
        tm.on_created(self._created)
        tm.on_reply_out(self._reply_out)
        tm.on_failure(self._failure)

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
        if isinstance(found, AccState):
            return found
        if not create:
            return None
        made = AccState(ctx.now)
        ctx.extra[STATE_KEY] = made
        if cell is not None:
            self.states[cell.id] = made
        return made

    # ------------------------------------------------------------------ tm callbacks

    def _created(self, ctx: MsgContext, cell: Any) -> None:
        state = ctx.extra.get(STATE_KEY)
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
        state = self.states.get(cell.id)
        if state is None:
            return
        if code >= 200:
            del self.states[cell.id]
        if code >= 300 and not state.flags & (FAILED * (LOG | DB)):
            return
        if not state.flags & (NORMAL * (LOG | DB)):
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
        state.flags &= ~(MISSED * (LOG | DB))

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
            write_log(cfg, log_prefix, rec, state, extra_values(cfg.log_extra, state, rctx), now)
        if kind_of(DB):
            db = self.db()
            table = cfg.table_missed if missed else (state.table or cfg.table_acc)
            if db is not None:
                write_db(cfg, db, table, rec, state, extra_values(cfg.db_extra, state, rctx), now, missed)


def acc_of(ctx: MsgContext) -> Acc:
    runtime = ctx.process.modules.get("acc")
    if not isinstance(runtime, Acc):
        raise RuntimeError("the acc module is not initialised in this process")
    return runtime
