"""dialog through `pysips -f dialog-test.cfg` with real sipp: a call whose BYE is matched by the
did of its Route and ends the dialog; a confirmed call timed out into BYE both ways; profiles
counted while calls are up and empty after; a dead callee found by OPTIONS pinging."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.proxy_harness import CFG_DIR, Rig, free_port, mi_datagram

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CFG = CFG_DIR / "dialog-test.cfg"


def start(rig: Rig, timeout: int = 60, flags: str = "", ping: int = 30, db_mode: int = 0,
          mi_port: int | None = None) -> int:
    mi_port = mi_port or free_port()
    rig.start_pysips(CFG, MI_PORT=mi_port, DLG_TIMEOUT=timeout, DLG_FLAGS=flags, PING_INTERVAL=ping,
                     DB_MODE=db_mode, DB_PATH=rig.workdir / "dialog.db")
    return mi_port


def stats(port: int) -> dict[str, int]:
    result: dict[str, int] = mi_datagram(port, "get_statistics", {"statistics": ["dialog:"]})
    return result


def test_bye_matched_by_did_ends_the_dialog(rig: Rig) -> None:
    mi_port = start(rig)
    uas = rig.start_uas("uas_call.xml")
    result = rig.run_uac("uac_call.xml", duration_ms=1500, timeout_s=20)
    assert result.ok and result.successful == 1, rig.report(result)
    assert uas.wait(timeout=10).ok, rig.report(result)
    log = rig.proxy.log() if rig.proxy else ""
    assert "ACK downstream, state 4" in log and "BYE downstream, state 5" in log, log
    # the did in the Record-Route the callee saw is what matched the ACK and the BYE
    seen = (uas.workdir / "messages.log").read_text()
    did = seen.split(";did=", 1)[1].split(">", 1)[0]
    assert f"ACK matched by did {did}" in log and f"BYE matched by did {did}" in log, log
    assert f"hangup route: {did} Downstream BYE, state 5" in log, log
    counters = stats(mi_port)
    assert counters["dialog:active_dialogs"] == 0
    assert counters["dialog:processed_dialogs"] == 1
    assert counters["dialog:failed_dialogs"] == 0 and counters["dialog:expired_dialogs"] == 0
    # listed as deleted (state 5) while the BYE's transaction lives, then forgotten
    listed = mi_datagram(mi_port, "dlg_list")["Dialogs"]
    assert [d["state"] for d in listed] in ([], [5])
    deadline = time.monotonic() + 15
    while listed and time.monotonic() < deadline:
        time.sleep(0.5)
        listed = mi_datagram(mi_port, "dlg_list")["Dialogs"]
    assert listed == []


def test_confirmed_call_times_out_into_bye_both_ways(rig: Rig) -> None:
    mi_port = start(rig, timeout=2, flags="bye-on-timeout")
    uas = rig.start_uas("uas_call.xml")  # answers the BYE from the proxy
    started = time.monotonic()
    result = rig.run_uac("uac_call_bye_in.xml", timeout_s=20)
    elapsed = time.monotonic() - started
    assert result.ok and result.successful == 1, rig.report(result)
    assert uas.wait(timeout=10).ok, rig.report(result)
    assert elapsed >= 1.5  # ended by the 2 s lifetime, not at once
    counters = stats(mi_port)
    assert counters["dialog:expired_dialogs"] == 1 and counters["dialog:active_dialogs"] == 0


def test_profiles_counted_while_calls_are_up(rig: Rig) -> None:
    mi_port = start(rig)
    uas = rig.start_uas("uas_call.xml", calls=3)
    import threading

    results: list[Any] = []
    caller = threading.Thread(target=lambda: results.append(
        rig.run_uac("uac_call.xml", calls=3, rate=20, duration_ms=3000, timeout_s=25)))
    caller.start()
    try:
        deadline = time.monotonic() + 10
        size: Any = None
        while time.monotonic() < deadline:
            size = mi_datagram(mi_port, "profile_get_size", {"profile": "calls"})
            if size["Profile"]["count"] == 3:
                break
            time.sleep(0.2)
        assert size == {"Profile": {"name": "calls", "value": None, "count": 3, "shared": "no",
                                    "replicated": "no"}}
        by_user = mi_datagram(mi_port, "profile_get_size", {"profile": "caller", "value": "caller"})
        assert by_user["Profile"]["count"] == 3
        listed = mi_datagram(mi_port, "dlg_list")["Dialogs"]
        assert len(listed) == 3 and {d["state"] for d in listed} == {4}
        assert all(";did=" not in d["caller_route_set"] for d in listed)
        ctx = mi_datagram(mi_port, "dlg_list_ctx")["Dialogs"][0]["context"]
        assert {"calls": ""} in ctx["profiles"] and {"caller": "caller"} in ctx["profiles"]
    finally:
        caller.join(40)
    assert results and results[0].ok and results[0].successful == 3, rig.report(*results)
    assert uas.wait(timeout=10).ok
    assert mi_datagram(mi_port, "profile_get_size", {"profile": "calls"})["Profile"]["count"] == 0
    assert stats(mi_port)["dialog:processed_dialogs"] == 3


def test_dead_callee_found_by_pinging_and_caller_byed(rig: Rig, tmp_path: Path) -> None:
    mi_port = start(rig, flags="options-ping-callee", ping=1)
    # The callee answers the INVITE, ACK, then goes away: its OPTIONS go unanswered (fr_timeout
    # 2 s); the caller gets a BYE from the dialog module.
    uas = rig.start_uas("uas_answer_then_die.xml")
    result = rig.run_uac("uac_call_bye_in.xml", timeout_s=30)
    assert result.ok and result.successful == 1, rig.report(result)
    uas.wait(timeout=10)
    listed = mi_datagram(mi_port, "dlg_list")
    assert listed == {"Dialogs": []}
    assert stats(mi_port)["dialog:processed_dialogs"] == 1  # counted when made (as OpenSIPS)


@pytest.mark.parametrize("db_mode", [1, 2, 3])
def test_restart_keeps_the_call_and_matches_its_bye(rig: Rig, db_mode: int) -> None:
    """db_mode 1-3: pysips stopped (SIGTERM) and started again mid-call; the restored dialog
    matches the BYE by its did and ends."""
    import sqlite3
    import threading

    mi_port = start(rig, db_mode=db_mode)
    uas = rig.start_uas("uas_call.xml")
    results: list[Any] = []
    caller = threading.Thread(target=lambda: results.append(
        rig.run_uac("uac_call.xml", duration_ms=6000, timeout_s=30)))
    caller.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and stats(mi_port)["dialog:active_dialogs"] != 1:
            time.sleep(0.2)
        time.sleep(1.5)  # db_mode 2 flushes every second
        assert rig.proxy is not None
        rig.proxy.stop()
        with sqlite3.connect(rig.workdir / "dialog.db") as db:
            rows = db.execute("SELECT state, callid, to_tag FROM dialog").fetchall()
        assert len(rows) == 1 and rows[0][0] == 4, rows
        start(rig, db_mode=db_mode, mi_port=mi_port)
        listed = mi_datagram(mi_port, "dlg_list")["Dialogs"]
        assert len(listed) == 1 and listed[0]["callid"] == rows[0][1] and listed[0]["state"] == 4
    finally:
        caller.join(40)
    assert results and results[0].ok and results[0].successful == 1, rig.report(*results)
    assert uas.wait(timeout=10).ok
    log = rig.proxy.log() if rig.proxy else ""
    assert "BYE matched by did" in log, log
    counters = stats(mi_port)
    # made by the first process: this one only restored it (OpenSIPS counts "processed" at creation)
    assert counters["dialog:processed_dialogs"] == 0 and counters["dialog:active_dialogs"] == 0
    if db_mode != 3:  # in db_mode 3 the table is written only at shutdown
        time.sleep(1.5)
        with sqlite3.connect(rig.workdir / "dialog.db") as db:
            assert db.execute("SELECT COUNT(*) FROM dialog").fetchone()[0] == 0


def test_cancelled_call_is_a_failed_dialog(rig: Rig) -> None:
    mi_port = start(rig)
    uas = rig.start_uas("uas_ring_cancel.xml")
    result = rig.run_uac("uac_cancel.xml", timeout_s=20)
    assert result.ok and result.successful == 1, rig.report(result)
    assert uas.wait(timeout=10).ok, rig.report(result)
    counters = stats(mi_port)
    assert counters["dialog:failed_dialogs"] == 1
    assert counters["dialog:early_dialogs"] == 0 and counters["dialog:active_dialogs"] == 0
    assert counters["dialog:processed_dialogs"] == 1
    assert mi_datagram(mi_port, "dlg_list") == {"Dialogs": []}
    assert mi_datagram(mi_port, "profile_get_size", {"profile": "calls"})["Profile"]["count"] == 0
