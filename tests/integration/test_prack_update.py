"""PRACK (RFC 3262) and UPDATE (RFC 3311) through `pysips -f prack-test.cfg` (and
prack-local-route.cfg: a PRACK failure handled by local_route, a failure route and MI t_reply)
with real sipp.

A reliable 183 is relayed unchanged, its PRACK (retransmitted by the caller while the callee is
slow) is routed end to end through the early dialog's Route, UPDATEs cross the early and the
confirmed dialog in both directions, the ACK keeps its CSeq, and the dialog ends cleanly (MI
dlg_list empty). With create_dialog("auto-prack") the proxy PRACKs the callee itself; with
auto_prack_hangup_on_failure a PRACK nobody answers fails the INVITE with 502.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.integration.proxy_harness import CFG_DIR, Rig, free_port, mi_datagram

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CFG = CFG_DIR / "prack-test.cfg"


def start(rig: Rig, flags: str = "", hangup_on_failure: int = 0) -> int:
    mi_port = free_port()
    rig.start_pysips(CFG, MI_PORT=mi_port, DLG_FLAGS=flags, HANGUP_ON_FAILURE=hangup_on_failure)
    return mi_port


def relayed(log: str) -> list[str]:
    """What the script relayed and saw, in order: 'relay PRACK 2 downstream state 2', 'reply 200
    PRACK state 2'..."""
    return re.findall(r"(relay \w+ \d+ \w+ state \d|reply \d+ \w+(?: RSeq=\S*)? state \d)", log)


def wait_no_dialogs(mi_port: int) -> list[object]:
    deadline = time.monotonic() + 15
    listed: list[object] = mi_datagram(mi_port, "dlg_list")["Dialogs"]
    while listed and time.monotonic() < deadline:
        time.sleep(0.5)
        listed = mi_datagram(mi_port, "dlg_list")["Dialogs"]
    return listed


def test_caller_prack_and_updates_relayed_in_order(rig: Rig) -> None:
    mi_port = start(rig)
    uas = rig.start_uas("uas_prack_update.xml")
    result = rig.run_uac("uac_prack_update.xml", timeout_s=25)
    assert result.ok and result.successful == 1, rig.report(result)
    assert uas.wait(timeout=10).ok, rig.report(result)
    log = rig.proxy.log() if rig.proxy else ""
    assert relayed(log) == [
        "reply 183 INVITE RSeq=1 state 1",
        "relay PRACK 2 downstream state 2",  # once: its retransmissions are tm's to absorb
        "reply 200 PRACK state 2",
        "relay UPDATE 3 downstream state 2",
        "reply 200 UPDATE state 2",
        "reply 200 INVITE RSeq=<null> state 2",
        "relay ACK 1 downstream state 4",
        "relay UPDATE 4 downstream state 4",
        "reply 200 UPDATE state 4",
        "relay BYE 5 downstream state 5",
        "reply 200 BYE state 5",
    ], log
    # the caller did retransmit its PRACK (the callee took 1.2 s): absorbed, not relayed again
    caller_seen = "".join(p.read_text() for p in rig.workdir.glob("*-uac/messages.log"))
    assert caller_seen.count("\nPRACK sip:") >= 2, caller_seen[-3000:]
    # the reliable 183 reached the caller unchanged (Require and RSeq)
    callee_seen = (uas.workdir / "messages.log").read_text()
    assert "RAck: 1 1 INVITE" in callee_seen
    assert wait_no_dialogs(mi_port) == []


def test_callee_updates_early_and_confirmed(rig: Rig) -> None:
    mi_port = start(rig)
    uas = rig.start_uas("uas_prack_update_out.xml")
    result = rig.run_uac("uac_prack_update_in.xml", timeout_s=25)
    assert result.ok and result.successful == 1, rig.report(result)
    assert uas.wait(timeout=10).ok, rig.report(result)
    log = rig.proxy.log() if rig.proxy else ""
    assert relayed(log) == [
        "reply 183 INVITE RSeq=7 state 1",
        "relay PRACK 2 downstream state 2",
        "reply 200 PRACK state 2",
        "relay UPDATE 10 upstream state 2",
        "reply 200 UPDATE state 2",
        "reply 200 INVITE RSeq=<null> state 2",
        "relay ACK 1 downstream state 4",
        "relay UPDATE 11 upstream state 4",
        "reply 200 UPDATE state 4",
        "relay BYE 3 downstream state 5",
        "reply 200 BYE state 5",
    ], log
    assert wait_no_dialogs(mi_port) == []


def test_auto_prack_keeps_one_cseq_sequence_for_the_callee(rig: Rig) -> None:
    """The proxy's PRACK takes CSeq 2 of the caller's space: the caller's UPDATE 2 reaches the
    callee as 3 (its 200 back to the caller as 2), the ACK keeps 1, and the dialog's own BYE
    (dlg_end_dlg) goes out as 4."""
    mi_port = start(rig, flags="auto-prack")
    uas = rig.start_uas("uas_auto_prack.xml")
    import threading

    results: list[object] = []
    caller = threading.Thread(target=lambda: results.append(
        rig.run_uac("uac_auto_prack.xml", timeout_s=25)))
    caller.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            log = rig.proxy.log() if rig.proxy else ""
            if "reply 200 UPDATE state 4" in log:
                break
            time.sleep(0.2)
        listed = mi_datagram(mi_port, "dlg_list")["Dialogs"]
        assert len(listed) == 1 and listed[0]["state"] == 4, listed
        assert mi_datagram(mi_port, "dlg_end_dlg", {"dialog_id": listed[0]["ID"]}) == "OK"
    finally:
        caller.join(40)
    result = results[0]
    assert getattr(result, "ok", False) and getattr(result, "successful", 0) == 1, rig.report()
    assert uas.wait(timeout=10).ok, rig.report()
    log = rig.proxy.log() if rig.proxy else ""
    assert relayed(log) == [
        "reply 183 INVITE RSeq=1 state 1",
        "reply 200 INVITE RSeq=<null> state 2",
        "relay ACK 1 downstream state 4",
        "relay UPDATE 2 downstream state 4",  # as the caller sent it; the callee gets 3
        "reply 200 UPDATE state 4",
    ], log
    assert wait_no_dialogs(mi_port) == []


def test_unanswered_auto_prack_fails_the_call_with_502(rig: Rig) -> None:
    """auto_prack_hangup_on_failure: the PRACK times out (auto_prack_fr_timeout 1 s), the caller
    gets 502 Bad Gateway and the callee a CANCEL."""
    mi_port = start(rig, flags="auto-prack", hangup_on_failure=1)
    uas = rig.start_uas("uas_prack_unanswered.xml")
    started = time.monotonic()
    result = rig.run_uac("uac_auto_prack_fail.xml", timeout_s=20)
    elapsed = time.monotonic() - started
    assert result.ok and result.successful == 1, rig.report(result)
    assert uas.wait(timeout=10).ok, rig.report(result)
    assert 0.8 <= elapsed < 8, elapsed  # after the PRACK's 1 s, well before fr_inv_timeout
    stats = mi_datagram(mi_port, "get_statistics", {"statistics": ["dialog:"]})
    assert stats["dialog:failed_dialogs"] == 1, stats
    assert wait_no_dialogs(mi_port) == []


def test_script_fails_the_call_when_its_prack_is_unanswered(rig: Rig) -> None:
    """local_route on the dialog's own PRACK (helper header removed, 1 s timer, failure route
    armed with its AVPs), the failure route replying 502 to the INVITE over MI (mi_script)."""
    mi_port = free_port()
    rig.start_pysips(CFG_DIR / "prack-local-route.cfg", MI_PORT=mi_port)
    uas = rig.start_uas("uas_prack_unanswered.xml")  # checks the PRACK has no X-TID left
    result = rig.run_uac("uac_auto_prack_fail.xml", timeout_s=20)
    assert result.ok and result.successful == 1, rig.report(result)
    assert uas.wait(timeout=10).ok, rig.report(result)
    log = rig.proxy.log() if rig.proxy else ""
    did = re.search(r"local_route: PRACK for (\S+) in dialog (\S+)", log)
    assert did is not None and did.group(2) != "<null>", log
    assert f"PRACK failed with 408 for {did.group(1)}" in log, log
    assert "t_reply over MI: OK" in log, log
    assert wait_no_dialogs(mi_port) == []
