"""One accounting record: the fixed values OpenSIPS accounts, plus the extras, and how the log
and database backends write it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from pysips.db.api import Database, DbError, DbValue
from pysips.script.context import MsgContext
from pysips.script.oslog import py_level
from pysips.sip.message import SipMessage

from .config import AccConfig, ExtraField

log = logging.getLogger("pysips.modules.acc")
acc_log = logging.getLogger("pysips.acc")  # the accounting lines themselves

ACC_REQUEST = "ACC: request accounted: "
ACC_MISSED = "ACC: call missed: "
ACC_ANSWERED = "ACC: transaction answered: "

# bits of AccState.flags (per backend: the value times the backend's bit)
LOG = 1
DB = 2
NORMAL = 1 << 4
MISSED = 1 << 8
FAILED = 1 << 12


@dataclass(slots=True)
class AccState:
    """What do_accounting() and $acc_extra set for one request and, later, its transaction."""

    created: float
    flags: int = 0  # (NORMAL|MISSED|FAILED) * backend bits
    table: str | None = None
    extra: dict[str, str | None] = field(default_factory=dict)

    def on(self, kind: int, backend: int) -> bool:
        return bool(self.flags & (kind * backend))


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


def write_log(cfg: AccConfig, prefix: str, rec: Record, state: AccState | None, extras: list[str],
              now: float) -> None:
    values = [("method", rec.method), ("from_tag", rec.from_tag), ("to_tag", rec.to_tag),
              ("call_id", rec.callid), ("code", rec.code), ("reason", rec.reason)]
    values += [(e.name, v) for e, v in zip(cfg.log_extra, extras, strict=True)]
    body = "".join(f";{name}={value}" for name, value in values)
    head = f"timestamp={int(rec.timestamp)}"
    if state is not None:
        head += f";created={int(state.created)};setuptime={max(0, int(now - state.created))}"
    acc_log.log(py_level(cfg.log_level), "%s%s%s", prefix, head, body)


def _datetime(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def write_db(cfg: AccConfig, db: Database, table: str, rec: Record, state: AccState | None,
             extras: list[str], now: float, missed: bool) -> bool:
    cols = cfg.columns
    row: dict[str, DbValue] = {
        cols["method"]: rec.method, cols["from_tag"]: rec.from_tag, cols["to_tag"]: rec.to_tag,
        cols["callid"]: rec.callid, cols["sip_code"]: rec.code, cols["sip_reason"]: rec.reason,
        cols["time"]: _datetime(rec.timestamp),
    }
    for extra, value in zip(cfg.db_extra, extras, strict=True):
        row[extra.name] = value
    if state is not None:
        row["setuptime"] = max(0, int(now - state.created))
        row["created"] = _datetime(state.created)
        if not missed:
            row["duration"] = 0
            row["ms_duration"] = 0
    try:
        db.insert(table, row)
    except DbError as exc:
        log.error("acc: failed to insert into %s: %s", table, exc)
        return False
    return True
