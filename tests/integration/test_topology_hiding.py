"""topology_hiding through `pysips -f th-test.cfg` with real sipp: a call set up, re-INVITEd by the
caller and hung up by the callee (INVITE/180/200/ACK, re-INVITE/200/ACK, BYE/200), in each mode.
What each sipp received (its message trace) must show nothing of the other side: no Via, Contact,
Record-Route or Route naming the other party's port; with "C" the callee never sees the caller's
Call-ID and the caller never sees the masked one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.proxy_harness import CFG_DIR, Rig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CFG = CFG_DIR / "th-test.cfg"
HIDDEN = ("via", "v", "contact", "m", "record-route", "route")


def received_messages(messages_log: Path) -> list[str]:
    """The messages a sipp received, from its -trace_msg file."""
    text = messages_log.read_text(errors="replace")
    out = []
    for block in re.split(r"-{10,}[^\n]*\n", text):
        if "message received" not in block:
            continue
        body = block.split("\n", 1)[1].strip("\n")
        out.append(body)
    return out


def header_lines(message: str, names: tuple[str, ...]) -> list[str]:
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0].split("\n")[1:]
    return [line for line in head if line.split(":", 1)[0].strip().lower() in names]


def call_id(message: str) -> str:
    for line in header_lines(message, ("call-id", "i")):
        return line.split(":", 1)[1].strip()
    return ""


def run_call(rig: Rig, mode: str, flags: str) -> tuple[list[str], list[str]]:
    rig.start_pysips(CFG, TH_MODE=mode, TH_FLAGS=flags, DB_MODE=0, DB_PATH=rig.workdir / "dialog.db")
    uas = rig.start_uas("uas_reinvite.xml")
    result = rig.run_uac("uac_reinvite.xml", timeout_s=20)
    assert result.ok and result.successful == 1, rig.report(result)
    assert uas.wait(timeout=10).ok, rig.report(result)
    uac_log = next(rig.workdir.glob("*-uac/messages.log"))
    uas_log = next(rig.workdir.glob("*-uas/messages.log"))
    return received_messages(uac_log), received_messages(uas_log)


def assert_hidden(rig: Rig, uac_seen: list[str], uas_seen: list[str]) -> None:
    for seen, other, who in ((uac_seen, rig.ports.uas, "caller"), (uas_seen, rig.ports.uac, "callee")):
        for message in seen:
            for line in header_lines(message, HIDDEN):
                assert f":{other}" not in line, f"the {who} saw the other side: {line!r}\n{message}"


def methods(seen: list[str]) -> list[str]:
    return [m.split("\n", 1)[0].split(" ")[0] if not m.startswith("SIP/2.0") else m.split(" ")[1]
            for m in seen]


@pytest.mark.parametrize(("mode", "flags"), [("nodlg", ""), ("nodlg", "U"), ("dlg", ""), ("dlg", "D")])
def test_hidden_call_with_reinvite_and_callee_bye(rig: Rig, mode: str, flags: str) -> None:
    uac_seen, uas_seen = run_call(rig, mode, flags)
    assert methods(uas_seen) == ["INVITE", "ACK", "INVITE", "ACK", "200"], uas_seen
    assert "BYE" in methods(uac_seen), uac_seen
    assert_hidden(rig, uac_seen, uas_seen)
    # only our own Via on what the callee gets; the callee's requests reach the caller the same way
    invite = uas_seen[0]
    assert len(header_lines(invite, ("via", "v"))) == 1 and not header_lines(invite, ("record-route",))
    contact = header_lines(invite, ("contact", "m"))[0]
    assert f"127.0.0.1:{rig.ports.proxy}" in contact
    marker = "thinfo=" if mode == "nodlg" else (".did." if "D" in flags else ";did=")
    assert marker in contact, contact
    if "U" in flags:
        assert "<sip:caller@" in contact, contact  # the caller's username kept
    bye = next(m for m in uac_seen if m.startswith("BYE "))
    assert len(header_lines(bye, ("via", "v"))) == 1


def test_callid_hidden_from_the_callee(rig: Rig) -> None:
    uac_seen, uas_seen = run_call(rig, "dlg", "C")
    assert_hidden(rig, uac_seen, uas_seen)
    caller_ids = {call_id(m) for m in uac_seen}
    callee_ids = {call_id(m) for m in uas_seen}
    assert len(caller_ids) == 1 and len(callee_ids) == 1, (caller_ids, callee_ids)
    (caller_id,), (callee_id,) = caller_ids, callee_ids
    assert callee_id.startswith("DLGCH_") and not caller_id.startswith("DLGCH_")
    assert caller_id not in callee_id
    # the script saw the caller's Call-ID on the callee's requests too
    log = rig.proxy.log() if rig.proxy else ""
    assert "hidden BYE routed to" in log and f"({caller_id})" in log, log


def test_hidden_dialog_survives_a_restart(rig: Rig) -> None:
    """db_mode 2: pysips restarted mid-call; the restored dialog is still hidden (its module_flags
    come back from the table): the caller's BYE reaches the callee with our Via and Contact only
    and the same masked Call-ID as the INVITE."""
    import threading
    import time

    values = {"TH_MODE": "dlg", "TH_FLAGS": "C", "DB_MODE": 2, "DB_PATH": rig.workdir / "dialog.db"}
    rig.start_pysips(CFG, **values)
    uas = rig.start_uas("uas_call.xml")
    results: list[object] = []
    caller = threading.Thread(target=lambda: results.append(
        rig.run_uac("uac_call.xml", duration_ms=6000, timeout_s=30)))
    caller.start()
    try:
        time.sleep(3.0)  # answered, and flushed to the table (every second)
        assert rig.proxy is not None
        rig.proxy.stop()
        rig.start_pysips(CFG, **values)
    finally:
        caller.join(40)
    result = results[0] if results else None
    assert result is not None and getattr(result, "ok", False), rig.report()
    assert uas.wait(timeout=10).ok, rig.report()
    uac_seen = received_messages(next(rig.workdir.glob("*-uac/messages.log")))
    uas_seen = received_messages(next(rig.workdir.glob("*-uas/messages.log")))
    assert_hidden(rig, uac_seen, uas_seen)
    invite = uas_seen[0]
    bye = next(m for m in uas_seen if m.startswith("BYE "))
    assert call_id(bye) == call_id(invite) and call_id(bye).startswith("DLGCH_")
    assert len(header_lines(bye, ("via", "v"))) == 1
    # routed by the restarted process, from the dialog it read back
    log = rig.proxy.log() if rig.proxy else ""
    assert f"hidden BYE routed to sip:callee@127.0.0.1:{rig.ports.uas}" in log, log
