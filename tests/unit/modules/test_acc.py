"""acc: request accounting (log and SQLite), extra values, and transaction accounting over the
tm callback contract (a fake tm; test_tm_callbacks.py drives acc with the real one)."""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_auth_fakes import invite

from pysips.core.services import TRANSACTIONS
from pysips.script.ast import NOWHERE
from pysips.script.context import MsgContext, ProcessState
from pysips.script.exports import FixupContext, ModuleExports, ModuleInitContext
from pysips.script.flags import FlagRegistry
from pysips.script.loader import ModuleFinder
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

T0 = 1_700_000_000.0
RCV = ReceiveInfo("udp", "127.0.0.1", 5060, "127.0.0.1", 40000)

_CORE = (
    "id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, method CHAR(16) DEFAULT '' NOT NULL,"
    " from_tag CHAR(64) DEFAULT '' NOT NULL, to_tag CHAR(64) DEFAULT '' NOT NULL,"
    " callid CHAR(64) DEFAULT '' NOT NULL, sip_code CHAR(3) DEFAULT '' NOT NULL,"
    " sip_reason CHAR(32) DEFAULT '' NOT NULL, time DATETIME NOT NULL"
)
_CDR = "setuptime INTEGER DEFAULT 0 NOT NULL, created DATETIME DEFAULT NULL, ua CHAR(64) DEFAULT NULL"
# OpenSIPS's acc (7) and missed_calls (5) tables, plus an extra column for db_extra
ACC_SQL = (
    f"CREATE TABLE acc ({_CORE}, duration INTEGER DEFAULT 0 NOT NULL,"
    f" ms_duration INTEGER DEFAULT 0 NOT NULL, {_CDR});"
    f"CREATE TABLE missed_calls ({_CORE}, {_CDR});"
)


def exports() -> ModuleExports:
    ModuleFinder().find("db_sqlite")  # registers the sqlite driver
    found = ModuleFinder().find("acc")
    assert found is not None
    return found.exports


def fn(name: str) -> Callable[..., int]:
    return exports().functions_by_name[name].handler


def fix(func: str, index: int, value: str) -> Any:
    spec = exports().functions_by_name[func].args[index]
    assert spec.fixup is not None
    return spec.fixup(value, FixupContext(FlagRegistry(), {}, NOWHERE))


@pytest.fixture
def tm_ready() -> None:
    """do_accounting() needs nothing more than acc's requirement on tm (checked by the loader)."""


class FakeTm:
    """The callback contract acc expects from tm (see modules/acc/runtime.py)."""

    def __init__(self) -> None:
        self.created: list[Callable[..., None]] = []
        self.reply_out: list[Callable[..., None]] = []
        self.failure: list[Callable[..., None]] = []
        self.deleted: list[Callable[..., None]] = []

    def on_created(self, fn: Callable[..., None]) -> None:
        self.created.append(fn)

    def on_reply_out(self, fn: Callable[..., None]) -> None:
        self.reply_out.append(fn)

    def on_failure(self, fn: Callable[..., None]) -> None:
        self.failure.append(fn)

    def on_deleted(self, fn: Callable[..., None]) -> None:
        self.deleted.append(fn)


class FakeCell:
    def __init__(self, request: SipMessage) -> None:
        self.id = "t1"
        self.request = request
        self.rcv = RCV
        self.avps: dict[str, list[str | int]] = {}
        self.to_tag: str | None = "ourtag"
        self.method = request.method
        self.is_invite = request.method == "INVITE"


class Fx:
    def __init__(self, tmp_path: Path, **params: Any) -> None:
        self.db = tmp_path / "acc.db"
        with sqlite3.connect(self.db) as conn:
            conn.executescript(ACC_SQL)
        exp = exports()
        merged: dict[str, Any] = {p.name: ([] if p.multi else p.default) for p in exp.params}
        merged["db_url"] = f"sqlite://{self.db}"
        for name, value in params.items():
            spec = exp.param(name)
            assert spec is not None, name
            checked = spec.check(value) if spec.check is not None else value
            if spec.multi:
                merged[name].append(checked)
            else:
                merged[name] = checked
        merged["db_url"] = exp.param("db_url").check(merged["db_url"])
        self.process = ProcessState()
        self.process.core = self  # acc asks the engine for the time of a reply
        self.clock = T0 + 2
        self.tm = FakeTm()
        self.process.services.provide(TRANSACTIONS, self.tm, "tm")  # type: ignore[arg-type]
        assert exp.init is not None
        self.acc = exp.init(ModuleInitContext("acc", self.process, FlagRegistry(), None), merged)
        self.process.modules["acc"] = self.acc

    def wall_time(self) -> float:
        return self.clock

    def ctx(self, text: str, now: float = T0) -> MsgContext:
        msg = parse_message(text.encode())
        assert isinstance(msg, SipMessage)
        return MsgContext(self.process, msg, RCV, now=now)

    def rows(self, table: str = "acc") -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(
                f"SELECT method, from_tag, to_tag, callid, sip_code, sip_reason, setuptime, ua FROM {table}"
            ).fetchall()


def acc_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pysips.acc"]


def test_acc_log_request_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fx = Fx(tmp_path)
    caplog.set_level(logging.DEBUG, logger="pysips.acc")
    assert fn("acc_log_request")(fx.ctx(invite("z9hG4bKa1")), "404 Not here") == 1
    assert acc_lines(caplog) == [
        f"ACC: request accounted: timestamp={int(T0)};method=INVITE;from_tag=77;to_tag=;"
        "call_id=call-auth-1;code=404;reason=Not here"
    ]
    record = next(r for r in caplog.records if r.name == "pysips.acc")
    assert record.levelname == "NOTICE"


def test_comment_without_reason_or_code(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fx = Fx(tmp_path)
    caplog.set_level(logging.DEBUG, logger="pysips.acc")
    fn("acc_log_request")(fx.ctx(invite("z9hG4bKa2")), "480")
    fn("acc_log_request")(fx.ctx(invite("z9hG4bKa3")), "Dialog Timeout")
    lines = acc_lines(caplog)
    assert lines[0].endswith(";code=480;reason=Temporarily Unavailable")
    assert lines[1].endswith(";code=;reason=Dialog Timeout")


def test_extra_fields_and_2x_log_extra(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fx = Fx(tmp_path, extra_fields="log: src->src_ip; dst", log_extra="ua=$hdr(User-Agent)")
    caplog.set_level(logging.DEBUG, logger="pysips.acc")
    ctx = fx.ctx(
        invite("z9hG4bKa4").replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nUser-Agent: ph1\r\n"),
        now=T0 + 3,
    )
    pv = exports().pvars[0].factory("acc_extra", "src", NOWHERE)
    pv.set(ctx, "10.0.0.9")
    assert pv.get(ctx) == "10.0.0.9"
    fn("acc_log_request")(ctx, "200 OK")
    (line,) = acc_lines(caplog)
    ts = int(T0 + 3)
    assert line == (
        f"ACC: request accounted: timestamp={ts};created={ts};setuptime=0;method=INVITE;"
        "from_tag=77;to_tag=;call_id=call-auth-1;code=200;reason=OK;src_ip=10.0.0.9;dst=;ua=ph1"
    )


def test_acc_db_request_writes_a_row(tmp_path: Path) -> None:
    fx = Fx(tmp_path, db_extra="ua=$hdr(User-Agent)")
    ctx = fx.ctx(
        invite("z9hG4bKa5").replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nUser-Agent: ph2\r\n")
    )
    assert fn("acc_db_request")(ctx, "200 Dialog Timeout", "acc") == 1
    assert fx.rows() == [("INVITE", "77", "", "call-auth-1", "200", "Dialog Timeout", 0, "ph2")]
    assert fn("acc_db_request")(ctx, "408", "no_such_table") == -1


def _transaction(fx: Fx, ctx: MsgContext) -> FakeCell:
    cell = FakeCell(ctx.msg)
    for hook in fx.tm.created:
        hook(ctx, cell)
    ctx.transaction = cell
    return cell


def _out(fx: Fx, cell: FakeCell, code: int, reason: str, reply: SipMessage | None = None) -> None:
    for hook in fx.tm.reply_out:
        hook(cell, code, reason, reply)


def test_do_accounting_logs_the_answered_transaction(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tm_ready: None
) -> None:
    fx = Fx(tmp_path)
    caplog.set_level(logging.DEBUG, logger="pysips.acc")
    ctx = fx.ctx(invite("z9hG4bKt1"))
    assert fn("do_accounting")(ctx, fix("do_accounting", 0, "log|db"), None, "acc") == 1
    cell = _transaction(fx, ctx)
    reply = parse_message(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKt1\r\n"
        b"From: <sip:testing@192.168.52.1>;tag=77\r\nTo: <sip:testing@192.168.52.1:5060>;tag=callee9\r\n"
        b"Call-ID: call-auth-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(reply, SipMessage)
    _out(fx, cell, 180, "Ringing")
    assert acc_lines(caplog) == []  # provisional replies are not accounted (no early_media)
    _out(fx, cell, 200, "OK", reply)
    (line,) = acc_lines(caplog)
    assert line.startswith(f"ACC: transaction answered: timestamp={int(T0)};created={int(T0)};setuptime=2;")
    assert line.endswith(";method=INVITE;from_tag=77;to_tag=callee9;call_id=call-auth-1;code=200;reason=OK")
    assert fx.rows() == [("INVITE", "77", "callee9", "call-auth-1", "200", "OK", 2, None)]
    _out(fx, cell, 200, "OK", reply)  # the transaction is done: nothing more
    assert len(acc_lines(caplog)) == 1


def test_negative_finals_need_the_failed_flag(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tm_ready: None
) -> None:
    fx = Fx(tmp_path)
    caplog.set_level(logging.DEBUG, logger="pysips.acc")
    ctx = fx.ctx(invite("z9hG4bKt2"))
    fn("do_accounting")(ctx, fix("do_accounting", 0, "log"))
    _out(fx, _transaction(fx, ctx), 486, "Busy Here")
    assert acc_lines(caplog) == []
    ctx = fx.ctx(invite("z9hG4bKt3"))
    fn("do_accounting")(ctx, fix("do_accounting", 0, "log"), fix("do_accounting", 1, "failed"))
    _out(fx, _transaction(fx, ctx), 486, "Busy Here")
    (line,) = acc_lines(caplog)
    assert line.endswith(";to_tag=ourtag;call_id=call-auth-1;code=486;reason=Busy Here")


def test_missed_call_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tm_ready: None
) -> None:
    fx = Fx(tmp_path)
    caplog.set_level(logging.DEBUG, logger="pysips.acc")
    ctx = fx.ctx(invite("z9hG4bKt4"))
    fn("do_accounting")(ctx, fix("do_accounting", 0, "log|db"), fix("do_accounting", 1, "missed"))
    cell = _transaction(fx, ctx)
    for hook in fx.tm.failure:
        hook(cell, 480, "Temporarily Unavailable", None)
        hook(cell, 486, "Busy Here", None)  # a second serial attempt: not re-armed, not reported
    (line,) = acc_lines(caplog)
    assert line.startswith("ACC: call missed: ") and line.endswith(";code=480;reason=Temporarily Unavailable")
    assert [r[4] for r in fx.rows("missed_calls")] == ["480"]
    _out(fx, cell, 480, "Temporarily Unavailable")  # no "failed" flag: the final is not accounted
    assert len(acc_lines(caplog)) == 1


def test_drop_accounting(tmp_path: Path, caplog: pytest.LogCaptureFixture, tm_ready: None) -> None:
    fx = Fx(tmp_path)
    caplog.set_level(logging.DEBUG, logger="pysips.acc")
    ctx = fx.ctx(invite("z9hG4bKt5"))
    fn("do_accounting")(ctx, fix("do_accounting", 0, "log|db"))
    fn("drop_accounting")(ctx, fix("drop_accounting", 0, "log"))
    _out(fx, _transaction(fx, ctx), 200, "OK")
    assert acc_lines(caplog) == [] and len(fx.rows()) == 1


def test_bad_types_and_unavailable_flags_are_load_errors(tm_ready: None) -> None:
    from pysips.script.errors import FixupError

    for index, value, needle in (
        (0, "syslog", "unknown accounting type"),
        (0, "aaa", "AAA"),
        (1, "misssed", "unknown accounting flag"),
    ):
        with pytest.raises(FixupError, match=needle):
            fix("do_accounting", index, value)


def test_do_accounting_loads_with_the_bundled_tm() -> None:
    """The bundled tm offers the callbacks (on_created, on_reply_out, on_failure)."""
    from pysips.script.compile import check_script
    from pysips.script.parse import parse_text

    text = 'loadmodule "tm.so"\nloadmodule "acc.so"\nroute { do_accounting("log"); t_relay(); }\n'
    report = check_script(parse_text(text, "acc.cfg"))
    assert report.ok, " ".join(p.message for p in report.problems)


def test_acc_without_tm_is_a_load_error_worded_as_opensips() -> None:
    from pysips.script.compile import check_script
    from pysips.script.parse import parse_text

    report = check_script(parse_text('loadmodule "acc.so"\nroute { exit; }\n', "acc.cfg"))
    assert [p.message for p in report.problems if not p.warning] == [
        "module acc depends on module tm, but it was not loaded!"]


def test_2x_flag_parameters_account_flagged_transactions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """2.x: setflag(log_flag) before t_relay() accounts the transaction; failed_transaction_flag
    adds negative finals; log_missed_flag reports the missed call. OpenSIPS 3.x dropped these
    parameters (do_accounting()); pysips honours them."""
    fx = Fx(tmp_path, log_flag=1, db_flag=2, failed_transaction_flag=3, log_missed_flag=4)
    caplog.set_level(logging.DEBUG, logger="pysips.acc")
    ctx = fx.ctx(invite("z9hG4bKl1"))
    ctx.flags = 1 << 1  # log only
    _out(fx, _transaction(fx, ctx), 200, "OK")
    assert [line.split(":")[1] for line in acc_lines(caplog)] == [" transaction answered"]
    assert fx.rows() == []
    ctx = fx.ctx(invite("z9hG4bKl2"))
    ctx.flags = 1 << 2  # db only, no failed flag: a 486 is not accounted
    _out(fx, _transaction(fx, ctx), 486, "Busy Here")
    assert fx.rows() == [] and len(acc_lines(caplog)) == 1
    ctx = fx.ctx(invite("z9hG4bKl3"))
    ctx.flags = (1 << 2) | (1 << 3) | (1 << 4)  # db, failed, missed (log)
    cell = _transaction(fx, ctx)
    for hook in fx.tm.failure:
        hook(cell, 486, "Busy Here", None)
    _out(fx, cell, 486, "Busy Here")
    assert [r[4] for r in fx.rows()] == ["486"]
    assert acc_lines(caplog)[-1].startswith("ACC: call missed: ")
    ctx = fx.ctx(invite("z9hG4bKl4"))  # no flag: nothing
    _out(fx, _transaction(fx, ctx), 200, "OK")
    assert len(fx.rows()) == 1 and len(acc_lines(caplog)) == 2


def test_2x_flag_parameters_load_with_a_warning() -> None:
    from pysips.script.compile import check_script
    from pysips.script.parse import parse_text

    text = (
        'loadmodule "tm.so"\nloadmodule "acc.so"\nmodparam("acc", "log_flag", "ACC_DO")\n'
        'modparam("acc", "failed_transaction_flag", 3)\nroute { setflag(ACC_DO); t_relay(); }\n'
    )
    report = check_script(parse_text(text, "acc.cfg"))
    assert report.ok, " ".join(p.message for p in report.problems)
    legacy = [p.pos.line for p in report.problems if p.warning and "do_accounting()" in p.message]
    assert legacy == [3, 4]


def test_2x_flags_of_backends_pysips_lacks_are_load_errors() -> None:
    from pysips.script.compile import check_script
    from pysips.script.parse import parse_text

    text = (
        'loadmodule "tm.so"\nloadmodule "acc.so"\nmodparam("acc", "aaa_flag", "A")\n'
        'modparam("acc", "cdr_flag", "C")\nroute { t_relay(); }\n'
    )
    report = check_script(parse_text(text, "acc.cfg"))
    errors = [(p.pos.line, p.message) for p in report.problems if not p.warning]
    assert [line for line, _ in errors] == [3, 4]
    assert "AAA" in errors[0][1] and "cdr_flag" in errors[1][1]
