"""uac and uac_auth through `pysips -f uac-test.cfg` with real sipp: a trunk challenging with 407
is answered by uac_auth() from failure_route, the call completes and the caller's ACK and BYE
reach the trunk one CSeq higher while the caller sees its own CSeq in replies (through the
Record-Route's aci parameter, or through the dialog); uac_replace_from in auto mode: the callee
sees the new From, the caller its own in replies and in the callee's BYE."""

from __future__ import annotations

import pytest

from tests.integration.proxy_harness import CFG_DIR, Rig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CFG = CFG_DIR / "uac-test.cfg"


@pytest.mark.parametrize("use_dialog", [0, 1], ids=["rr", "dialog"])
def test_trunk_407_answered_by_uac_auth_then_bye_with_shifted_cseq(rig: Rig, use_dialog: int) -> None:
    rig.start_pysips(CFG, USE_DIALOG=use_dialog)
    trunk = rig.start_uas("uas_trunk_407.xml")
    result = rig.run_uac("uac_call_cseq.xml", "trunk", timeout_s=20)
    assert result.ok and result.successful == 1, rig.report(result)
    assert trunk.wait(timeout=10).ok, rig.report(result)
    log = rig.proxy.log() if rig.proxy else ""
    assert "challenged by realm trunk.example.com nonce 7a1b2c3d4e5f60718293a4b5c6d7e8f9" in log, log
    seen = (trunk.workdir / "messages.log").read_text()
    marker = ";aci=1" in seen.split("CSeq: 2 INVITE", 1)[0].rsplit("INVITE sip:", 1)[1]
    assert marker == (use_dialog == 0), seen  # without a dialog the Record-Route carries the shift


def test_reinvite_challenged_too_with_the_dialog_tracking_the_shift(rig: Rig) -> None:
    # INVITE 1 -> 2, ACK 2, re-INVITE 2 -> 3 -> 4 (challenged again), its ACK 4, BYE 3 -> 5
    rig.start_pysips(CFG, USE_DIALOG=1)
    trunk = rig.start_uas("uas_trunk_407_reinvite.xml")
    result = rig.run_uac("uac_reinvite_cseq.xml", "trunk", timeout_s=20)
    assert result.ok and result.successful == 1, rig.report(result)
    assert trunk.wait(timeout=10).ok, rig.report(result)


@pytest.mark.parametrize("use_dialog", [0, 1], ids=["rr", "dialog"])
def test_replaced_from_restored_for_the_caller(rig: Rig, use_dialog: int) -> None:
    rig.start_pysips(CFG, USE_DIALOG=use_dialog)
    callee = rig.start_uas("uas_masked_hangup.xml")
    result = rig.run_uac("uac_masked_bye_in.xml", "masked", timeout_s=20)
    assert result.ok and result.successful == 1, rig.report(result)
    assert callee.wait(timeout=10).ok, rig.report(result)
    seen = (callee.workdir / "messages.log").read_text()
    invite = seen.split("INVITE sip:", 1)[1]
    # the original From travels in the Record-Route (XORed, base64) only when there is no dialog
    assert (";vsf=" in invite.split("\r\n\r\n", 1)[0]) == (use_dialog == 0), seen
