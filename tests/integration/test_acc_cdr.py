"""CDR accounting (acc on dialogs) through `pysips -f acc-cdr-test.cfg` with real sipp.

A call rung for ~1.2 s and held 3 s then hung up by the caller: one `acc` row whose duration is
the hold (±1 s), whose setuptime is the ringing and whose `time` is the answer, and one
"ACC: call ended:" line with the extra and the leg value set on the BYE; a 486 as a
`missed_calls` row and no CDR; a call ended by MI dlg_end_dlg accounted at once. On SQLite and,
through pysips/db, on MariaDB and PostgreSQL (the same code).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from pysips.db import admin
from pysips.db.api import Database, Row
from tests.integration.dbservers import Server
from tests.integration.proxy_harness import CFG_DIR, Rig, free_port, mi_datagram

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CFG = CFG_DIR / "acc-cdr-test.cfg"
HOLD_S = 3.0
RING_S = 1.2
COLUMNS = ("method", "sip_code", "sip_reason", "time", "duration", "ms_duration", "setuptime", "created",
           "src_user", "callid", "to_tag")


def _create_tables(url: str) -> Database:
    subprocess.run([sys.executable, "-m", "pysips", "db", "drop", url], capture_output=True, timeout=60)
    done = subprocess.run([sys.executable, "-m", "pysips", "db", "create", url], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    db = admin.open_url(url)
    for table in ("acc", "missed_calls"):  # the extra field's column, as an OpenSIPS user adds it
        db.execute(f"ALTER TABLE {table} ADD COLUMN src_user VARCHAR(64) DEFAULT '' NOT NULL")
    return db


def start(rig: Rig, url: str, driver: str, timeout: int = 60) -> int:
    mi_port = free_port()
    rig.start_pysips(CFG, MI_PORT=mi_port, DB_URL=url, DRIVER=driver, DLG_TIMEOUT=timeout)
    return mi_port


def poll(read: Callable[[], list[Row]], count: int, timeout: float = 5.0) -> list[Row]:
    deadline = time.monotonic() + timeout
    rows = read()
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = read()
    return rows


def _when(value: object) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").timestamp()


def held_call(rig: Rig, db: Database) -> dict[str, object]:
    """A call rung RING_S and held HOLD_S, ended by the caller's BYE: its one CDR row."""
    uas = rig.start_uas("uas_call.xml", duration_ms=int(RING_S * 1000))
    started = time.time()
    result = rig.run_uac("uac_call.xml", duration_ms=int(HOLD_S * 1000), timeout_s=25)
    assert result.ok and result.successful == 1, rig.report(result)
    assert uas.wait(timeout=10).ok, rig.report(result)
    rows = poll(lambda: db.query("acc", COLUMNS), 1)
    assert len(rows) == 1, rows
    row: dict[str, object] = dict(zip(COLUMNS, rows[0], strict=True))
    core = (row["method"], row["sip_code"], row["sip_reason"], row["src_user"])
    assert core == ("INVITE", "200", "OK", "caller"), row
    assert abs(int(str(row["duration"])) - HOLD_S) <= 1, row
    assert abs(int(str(row["ms_duration"])) - HOLD_S * 1000) < 1000, row
    assert int(str(row["duration"])) == -(-int(str(row["ms_duration"])) // 1000)  # rounded up
    assert abs(int(str(row["setuptime"])) - RING_S) <= 1, row
    # `time` is the answer, `created` the INVITE: setuptime apart
    created, answered = _when(row["created"]), _when(row["time"])
    assert abs(created - started) <= 1.5 and answered - created == int(str(row["setuptime"])), row
    assert db.query("missed_calls", ("callid",)) == []
    return row


def test_cdr_on_sqlite_duration_setuptime_and_log_line(rig: Rig, tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'acc.db'}"
    db = _create_tables(url)
    try:
        start(rig, url, "db_sqlite")
        row = held_call(rig, db)
    finally:
        db.close()
    log = rig.proxy.log() if rig.proxy else ""
    ended = [line for line in log.splitlines() if "ACC: call ended: " in line]
    assert len(ended) == 1, log
    fields = dict(item.split("=", 1) for item in ended[0].split("ACC: call ended: ", 1)[1].split(";"))
    assert list(fields)[:5] == ["created", "call_start_time", "duration", "ms_duration", "setuptime"]
    assert list(fields)[5:] == ["method", "from_tag", "to_tag", "call_id", "code", "reason", "src_user",
                                "hangup_by"]
    assert fields["duration"] == str(row["duration"]) and fields["setuptime"] == str(row["setuptime"])
    assert (fields["call_id"], fields["to_tag"]) == (row["callid"], row["to_tag"])
    assert (fields["code"], fields["reason"], fields["src_user"]) == ("200", "OK", "caller")
    assert fields["hangup_by"] == "downstream"  # set while routing the BYE, still in the CDR
    assert "ACC: transaction answered" not in log  # a CDR replaces the 200's record


def test_busy_call_is_a_missed_call_not_a_cdr(rig: Rig, tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'acc.db'}"
    db = _create_tables(url)
    try:
        start(rig, url, "db_sqlite")
        uas = rig.start_uas("uas_busy.xml")
        result = rig.run_uac("uac_busy.xml", timeout_s=20)
        assert result.ok, rig.report(result)
        uas.wait(timeout=10)
        missed = poll(lambda: db.query("missed_calls", ("method", "sip_code", "sip_reason", "setuptime",
                                                        "src_user")), 1)
        assert [r[:3] for r in missed] == [("INVITE", "486", "Busy Here")], missed
        assert int(str(missed[0][3])) <= 1 and missed[0][4] == "caller"
        time.sleep(0.5)
        assert db.query("acc", ("callid",)) == []
    finally:
        db.close()
    log = rig.proxy.log() if rig.proxy else ""
    assert re.search(r"ACC: call missed: timestamp=\d+;created=\d+;setuptime=\d+;method=INVITE;", log), log
    assert "ACC: call ended" not in log


def test_call_ended_over_mi_is_accounted_at_once(rig: Rig, tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'acc.db'}"
    db = _create_tables(url)
    try:
        mi_port = start(rig, url, "db_sqlite")
        uas = rig.start_uas("uas_call.xml")  # answers the BYE from the proxy
        import threading

        results: list[object] = []
        caller = threading.Thread(
            target=lambda: results.append(rig.run_uac("uac_call_bye_in.xml", timeout_s=25)))
        caller.start()
        deadline = time.monotonic() + 10
        listed: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            listed = mi_datagram(mi_port, "dlg_list")["Dialogs"]
            if listed and listed[0]["state"] == 4:
                break
            time.sleep(0.2)
        assert listed and listed[0]["state"] == 4, listed
        time.sleep(1.0)
        assert db.query("acc", ("callid",)) == []  # nothing before the end
        assert mi_datagram(mi_port, "dlg_end_dlg", {"dialog_id": str(listed[0]["db_id"])}) == "OK"
        rows = poll(lambda: db.query("acc", ("sip_code", "duration")), 1)
        caller.join(30)
        uas.wait(timeout=10)
        assert len(rows) == 1 and rows[0][0] == "200" and int(str(rows[0][1])) >= 1, rows
    finally:
        db.close()


def test_cdr_on_sql_servers(rig: Rig, sql_server: Server) -> None:
    db = _create_tables(sql_server.url)
    try:
        driver = "db_mysql" if sql_server.scheme == "mysql" else "db_postgres"
        start(rig, sql_server.url, driver)
        held_call(rig, db)
    finally:
        db.close()
