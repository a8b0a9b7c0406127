"""One accounting record: the fixed values OpenSIPS accounts, plus the extras, and how the log
and database backends write it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from pysips.db.api import Database, DbError, DbValue
from pysips.script.context import MsgContext
from pysips.script.events import EventInterface, EventParam
from pysips.script.oslog import py_level
from pysips.sip.message import SipMessage

from .config import AccConfig, ExtraField

log = logging.getLogger("pysips.modules.acc")
acc_log = logging.getLogger("pysips.acc")  # the accounting lines themselves

ACC_REQUEST = "ACC: request accounted: "
ACC_MISSED = "ACC: call missed: "
ACC_ANSWERED = "ACC: transaction answered: "
ACC_ENDED = "ACC: call ended: "

# bits of AccState.flags (per backend: the value times the backend's bit)
LOG = 1
DB = 2
EVI = 4
BACKENDS = LOG | DB | EVI

# the events of the evi backend (OpenSIPS's names)
E_ACC_EVENT = "E_ACC_EVENT"
E_ACC_MISSED_EVENT = "E_ACC_MISSED_EVENT"
E_ACC_CDR = "E_ACC_CDR"
NORMAL = 1 << 4
MISSED = 1 << 8
FAILED = 1 << 12
CDR = 1 << 16


@dataclass(slots=True)
class CallRecord:
    """A CDR in the making: the INVITE's values as its 2xx went upstream (OpenSIPS keeps them in
    the dialog), the answer's wall time, and the end's once the dialog is over."""

    did: str
    record: Record | None = None
    start: float = 0.0  # wall time of the 2xx (call_start_time)
    end: float = 0.0  # wall time of the BYE, the timeout or dlg_end_dlg


@dataclass(slots=True)
class AccState:
    """What do_accounting() and $acc_extra set for one request and, later, its transaction."""

    created: float
    flags: int = 0  # (NORMAL|MISSED|FAILED) * backend bits
    table: str | None = None
    extra: dict[str, str | None] = field(default_factory=dict)
    # leg_fields: one dict per leg (the first made with the state when leg tags exist)
    legs: list[dict[str, str | None]] = field(default_factory=list)
    call: CallRecord | None = None  # set by do_accounting(..., "cdr") on an initial INVITE

    def on(self, kind: int, backend: int) -> bool:
        return bool(self.flags & (kind * backend))

    def merge_from(self, other: AccState) -> None:
        """Values a sequential request set before its dialog was known join the dialog's
        (OpenSIPS merges the two contexts the same way)."""
        self.extra.update(other.extra)
        for i, leg in enumerate(other.legs):
            if i < len(self.legs):
                self.legs[i].update({k: v for k, v in leg.items() if v is not None})
            else:
                self.legs.append(dict(leg))


@dataclass(slots=True)
class Record:
    method: str
    from_tag: str
    to_tag: str
    callid: str
    code: str
    reason: str
    timestamp: float


def record_for(msg: SipMessage, code: int | str, reason: str, to_tag: str | None, when: float) -> Record:
    return Record(msg.method, msg.from_.tag or "", to_tag if to_tag is not None else (msg.to.tag or ""),
                  msg.call_id or "", str(code) if code else "", reason, when)


def parse_comment(comment: str) -> tuple[str, str]:
    """"404 Not here" -> ("404", "Not here"); a comment without a code is all reason."""
    if len(comment) >= 3 and comment[:3].isdigit():
        reason = comment[3:].lstrip()
        return comment[:3], reason or _reason_of(int(comment[:3]))
    return "", comment or "Unknown"


def _reason_of(code: int) -> str:
    from pysips.core.replies import reason_for

    return reason_for(code)


def leg_values(legs: list[ExtraField], state: AccState | None) -> list[list[str]]:
    """Per leg, the values of the backend's leg fields ("" when unset); none without legs."""
    if not legs or state is None:
        return []
    return [[leg.get(f.tag) or "" for f in legs] for leg in state.legs]


def extra_values(extras: list[ExtraField], state: AccState | None, ctx: MsgContext | None) -> list[str]:
    out: list[str] = []
    for extra in extras:
        if extra.spec is not None:
            value = extra.spec.get(ctx) if ctx is not None else None
            out.append("" if value is None else str(value))
        else:
            stored = state.extra.get(extra.tag) if state is not None else None
            out.append(stored or "")
    return out


def _pairs(cfg_extra: list[ExtraField], extras: list[str], cfg_legs: list[ExtraField],
           legs: list[list[str]]) -> str:
    """";name=value" for the extras, then for every leg its leg fields (OpenSIPS's log order)."""
    values = [(e.name, v) for e, v in zip(cfg_extra, extras, strict=True)]
    for leg in legs:
        values += [(f.name, v) for f, v in zip(cfg_legs, leg, strict=True)]
    return "".join(f";{name}={value}" for name, value in values)


def _core_pairs(rec: Record) -> str:
    values = [("method", rec.method), ("from_tag", rec.from_tag), ("to_tag", rec.to_tag),
              ("call_id", rec.callid), ("code", rec.code), ("reason", rec.reason)]
    return "".join(f";{name}={value}" for name, value in values)


def write_log(cfg: AccConfig, prefix: str, rec: Record, state: AccState | None, extras: list[str],
              now: float, legs: list[list[str]] | None = None) -> None:
    body = _core_pairs(rec) + _pairs(cfg.log_extra, extras, cfg.log_legs, legs or [])
    head = f"timestamp={int(rec.timestamp)}"
    if state is not None:
        head += f";created={int(state.created)};setuptime={max(0, int(now - state.created))}"
    acc_log.log(py_level(cfg.log_level), "%s%s%s", prefix, head, body)


def cdr_times(state: AccState, call: CallRecord) -> tuple[int, int, int]:
    """(duration, ms_duration, setuptime) of an ended call: the duration in whole seconds rounded
    up, as OpenSIPS computes it from the milliseconds."""
    ms = max(0, int((call.end - call.start) * 1000))
    return -(-ms // 1000), ms, max(0, int(call.start) - int(state.created))


def write_log_cdr(cfg: AccConfig, rec: Record, state: AccState, call: CallRecord, extras: list[str],
                  legs: list[list[str]]) -> None:
    """"ACC: call ended: created=..;call_start_time=..;duration=..;ms_duration=..;setuptime=.."
    then the INVITE's values, the extras and the legs."""
    duration, ms, setup = cdr_times(state, call)
    head = (f"created={int(state.created)};call_start_time={int(call.start)};duration={duration};"
            f"ms_duration={ms};setuptime={setup}")
    body = _core_pairs(rec) + _pairs(cfg.log_extra, extras, cfg.log_legs, legs)
    acc_log.log(py_level(cfg.log_level), "%s%s%s", ACC_ENDED, head, body)


def _datetime(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _core_row(cfg: AccConfig, rec: Record, extras: list[str], when: float) -> dict[str, DbValue]:
    cols = cfg.columns
    row: dict[str, DbValue] = {
        cols["method"]: rec.method, cols["from_tag"]: rec.from_tag, cols["to_tag"]: rec.to_tag,
        cols["callid"]: rec.callid, cols["sip_code"]: rec.code, cols["sip_reason"]: rec.reason,
        cols["time"]: _datetime(when),
    }
    for extra, value in zip(cfg.db_extra, extras, strict=True):
        row[extra.name] = value
    return row


def _insert(cfg: AccConfig, db: Database, table: str, row: dict[str, DbValue], legs: list[list[str]]) -> bool:
    """One row, or one per leg differing only in the leg columns (OpenSIPS's multi-leg rows)."""
    rows = [row] if not legs else [{**row, **{f.name: v for f, v in zip(cfg.db_legs, leg, strict=True)}}
                                   for leg in legs]
    try:
        for one in rows:
            db.insert(table, one)
    except DbError as exc:
        log.error("acc: failed to insert into %s: %s", table, exc)
        return False
    return True


def write_db(cfg: AccConfig, db: Database, table: str, rec: Record, state: AccState | None,
             extras: list[str], now: float, missed: bool, legs: list[list[str]] | None = None) -> bool:
    row = _core_row(cfg, rec, extras, rec.timestamp)
    if state is not None:
        row["setuptime"] = max(0, int(now - state.created))
        row["created"] = _datetime(state.created)
        if not missed:
            row["duration"] = 0
            row["ms_duration"] = 0
    return _insert(cfg, db, table, row, legs or [])


def write_db_cdr(cfg: AccConfig, db: Database, table: str, rec: Record, state: AccState,
                 call: CallRecord, extras: list[str], legs: list[list[str]]) -> bool:
    """The CDR row: `time` is the answer, with setuptime, created, duration and ms_duration."""
    duration, ms, setup = cdr_times(state, call)
    row = _core_row(cfg, rec, extras, call.start)
    row["setuptime"] = setup
    row["created"] = _datetime(state.created)
    row["duration"] = duration
    row["ms_duration"] = ms
    return _insert(cfg, db, table, row, legs)


def _core_params(rec: Record, when: float) -> list[EventParam]:
    return [("method", rec.method), ("from_tag", rec.from_tag), ("to_tag", rec.to_tag),
            ("callid", rec.callid), ("sip_code", rec.code), ("sip_reason", rec.reason),
            ("time", int(when))]


def _extra_params(cfg: AccConfig, extras: list[str]) -> list[EventParam]:
    return [(e.name, v) for e, v in zip(cfg.evi_extra, extras, strict=True)]


def _raise_per_leg(events: EventInterface, event: str, head: list[EventParam], cfg: AccConfig,
                   legs: list[list[str]], tail: list[EventParam]) -> None:
    """One event, or one per leg with its leg values (as the database gets one row per leg)."""
    if not legs:
        events.raise_event(event, head + tail)
        return
    for leg in legs:
        values: list[EventParam] = [(f.name, v) for f, v in zip(cfg.evi_legs, leg, strict=True)]
        events.raise_event(event, head + values + tail)


def write_evi(events: EventInterface | None, cfg: AccConfig, rec: Record, state: AccState | None,
              extras: list[str], now: float, missed: bool, legs: list[list[str]]) -> None:
    """E_ACC_EVENT (E_ACC_MISSED_EVENT with setuptime and created): the record's values, then the
    extras and the legs, as OpenSIPS's evi backend raises them; nothing without a subscriber."""
    event = E_ACC_MISSED_EVENT if missed else E_ACC_EVENT
    if events is None or not events.has_subscribers(event):
        return
    head = _core_params(rec, rec.timestamp) + _extra_params(cfg, extras)
    tail: list[EventParam] = []
    if missed and state is not None:
        tail = [("setuptime", max(0, int(now - state.created))), ("created", int(state.created))]
    _raise_per_leg(events, event, head, cfg, legs, tail)


def write_evi_cdr(events: EventInterface | None, cfg: AccConfig, rec: Record, state: AccState,
                  call: CallRecord, extras: list[str], legs: list[list[str]]) -> None:
    """E_ACC_CDR: the INVITE's values with `time` the answer, the extras, the legs, then duration,
    ms_duration, setuptime and created."""
    if events is None or not events.has_subscribers(E_ACC_CDR):
        return
    duration, ms, setup = cdr_times(state, call)
    head = _core_params(rec, call.start) + _extra_params(cfg, extras)
    tail: list[EventParam] = [("duration", duration), ("ms_duration", ms), ("setuptime", setup),
                              ("created", int(state.created))]
    _raise_per_leg(events, E_ACC_CDR, head, cfg, legs, tail)
