"""Serial forking with serialize_branches()/next_branches() through tm, with real sipp peers.

The caller's INVITE is queued in two q groups: the busy callee (q=0.9) first, then the answering
one (q=0.5) from failure_route. The call must be answered by the second callee.
"""

from __future__ import annotations

import pytest

from tests.integration.proxy_harness import Rig
from tests.integration.test_udp_engine import pysips_env, server_argv

pytestmark = pytest.mark.integration
__all__ = ["pysips_env"]

CFG = """
log_level=2
listen=udp:127.0.0.1:@@PROXY_PORT@@
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "sipmsgops.so"
loadmodule "proto_udp.so"
route{
    if ($rU == NULL) {
        sl_send_reply(200, "OK");
        exit;
    }
    if (has_totag()) {
        if (loose_route() || is_method("ACK")) {
            t_relay();
        }
        exit;
    }
    record_route();
    $ru = "sip:busy@127.0.0.1:@@UAS_PORT@@";
    $ru_q = 900;
    append_branch("sip:answer@127.0.0.1:@@UAS2_PORT@@", "0.5");
    serialize_branches(1);
    if (next_branches() != 1) {
        sl_send_reply(500, "expected a second group");
        exit;
    }
    xlog("L_NOTICE", "first group: $ru $msg.branch.last_idx\\n");
    t_on_failure("next");
    t_relay();
}
failure_route[next] {
    if (t_check_status("486") && next_branches()) {
        xlog("L_NOTICE", "next group: $ru rc=$rc\\n");
        t_relay();
    }
}
"""


def test_second_q_group_answers_after_the_first_is_busy(rig: Rig, pysips_env: None) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    cfg = rig.workdir / "serial.cfg"
    values = rig.ports.template_values()
    text = CFG
    for key in ("PROXY_PORT", "UAS_PORT", "UAS2_PORT"):
        text = text.replace(f"@@{key}@@", str(values[key]))
    cfg.write_text(text)
    rig.start_proxy("pysips", server_argv(cfg))
    busy = rig.start_uas("uas_busy.xml", rig.ports.uas)
    answer = rig.start_uas("uas_call.xml", rig.ports.uas2)
    result = rig.run_uac("uac_call.xml", timeout_s=15)
    assert result.ok and result.successful == 1, rig.report(result)
    assert busy.wait(timeout=10).ok, rig.report()
    assert answer.wait(timeout=10).ok, rig.report()
    assert rig.proxy is not None
    log = rig.proxy.log()
    assert f"first group: sip:busy@127.0.0.1:{values['UAS_PORT']} 0" in log, log
    assert f"next group: sip:answer@127.0.0.1:{values['UAS2_PORT']} rc=2" in log, log
