"""async() and launch() in real calls (issue 10).

- `async(rtpengine_offer(), resume_route)` in a sipp call through pysips with the real rtpengine
  daemon: the resume route sees $rc and the $avp set before async(), relays the INVITE; the
  onreply_route answers, the BYE deletes; the daemon logs the three commands for the Call-ID.
- `launch(rtpengine_offer(), report)` against a silent NG socket: the script answers at once,
  long before the launched function gives up (rtpengine_tout x rtpengine_retr seconds); the report
  route runs afterwards with $rc = -1.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.proxy_harness import LOCALHOST, Rig
from tests.integration.test_nonblocking_calls import SDP, silent_ng_socket, sip_request
from tests.integration.test_rtpengine_daemon import Daemon

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ASYNC_SCRIPT = """\
log_level = 3
socket = udp:127.0.0.1:{port}
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "sipmsgops.so"
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "{ng}")

route {{
    if (has_totag()) {{
        if (loose_route()) {{
            if (is_method("BYE"))
                rtpengine_delete();
            t_relay();
        }} else if (is_method("ACK") && t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans())
            t_relay();
        exit;
    }}
    t_check_trans();
    record_route();
    $avp(caller) = $fU;
    $var(before_async) = "set";
    $ru = "sip:callee@127.0.0.1:{uas}";
    async(rtpengine_offer(), offered);
    xlog("L_ERR", "ASYNC-BUG: the main route went on after async()\\n");
}}

route[offered] {{
    $var(offer_rc) = $rc;
    xlog("L_NOTICE", "RESUMED rc=$var(offer_rc) caller=$avp(caller) ci=$ci\\n");
    if ($var(offer_rc) < 0) {{
        t_reply(503, "Media Relay Unavailable");
        exit;
    }}
    t_on_reply("answered");
    if (!t_relay())
        sl_reply_error();
}}

onreply_route[answered] {{
    if (has_body("application/sdp"))
        rtpengine_answer();
}}
"""


@pytest.fixture
def rtpengine(tmp_path: Path) -> Iterator[Daemon]:
    daemon = Daemon(tmp_path, "async")
    yield daemon
    daemon.kill()


def test_async_rtpengine_offer_in_a_sipp_call(rig: Rig, rtpengine: Daemon) -> None:
    rig.start_pysips_script(ASYNC_SCRIPT.format(port=rig.ports.proxy, ng=rtpengine.sock, uas=rig.ports.uas))
    uas = rig.start_uas("uas_call.xml")
    time.sleep(0.2)
    uac = rig.run_uac("uac_call.xml", "callee", timeout_s=15.0)
    uas_result = uas.wait(timeout=10.0)
    results = [uac, uas_result]
    failed = [r.describe() for r in results if not r.ok or r.successful != 1]
    assert not failed, "\n".join(failed) + "\n" + rig.report(*results)
    log = rig.proxy.log() if rig.proxy else ""
    assert "RESUMED rc=1 caller=caller ci=" in log, log
    assert "ASYNC-BUG" not in log
    call_id = log.split("RESUMED rc=1 caller=caller ci=", 1)[1].split()[0]
    for command in ("offer", "answer", "delete"):
        assert rtpengine.log_contains(f"[{call_id}]: [control] Received command '{command}'"), (
            f"no {command} for {call_id}\n{rtpengine.log_text()[-3000:]}")


LAUNCH_SCRIPT = """\
log_level = 3
socket = udp:127.0.0.1:{port}
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "sipmsgops.so"
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:{ng_port}")
modparam("rtpengine", "rtpengine_tout", 1)
modparam("rtpengine", "rtpengine_retr", 2)

route {{
    if (is_method("INVITE")) {{
        launch(rtpengine_offer(), report, "$ci");
        sl_send_reply(488, "Launched");
        exit;
    }}
    sl_send_reply(200, "OK");
}}

route[report] {{
    xlog("L_NOTICE", "LAUNCH-REPORT rc=$rc for $param(1)\\n");
}}
"""


@pytest.fixture
def silent_ng() -> Iterator[socket.socket]:
    sock = silent_ng_socket()
    yield sock
    sock.close()


def test_launch_replies_before_the_launched_function_ends(rig: Rig, silent_ng: socket.socket) -> None:
    rig.start_pysips_script(LAUNCH_SCRIPT.format(port=rig.ports.proxy, ng_port=silent_ng.getsockname()[1]))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
        caller.bind((LOCALHOST, 0))
        caller.settimeout(5.0)
        request = sip_request("INVITE", rig.ports.proxy, caller.getsockname()[1], SDP)
        call_id = request.split(b"Call-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
        started = time.monotonic()
        caller.sendto(request, (LOCALHOST, rig.ports.proxy))
        reply = caller.recv(65535)
        replied_after = time.monotonic() - started
    assert reply.startswith(b"SIP/2.0 488 Launched"), reply[:100]
    silent_ng.settimeout(2.0)
    assert b"offer" in silent_ng.recv(65535)  # the launched function is waiting on the daemon
    print(f"launch(): the reply came after {replied_after * 1000:.1f} ms; the function waits 2 s")
    assert replied_after < 1.0  # the function gives up only after 2 x 1 s
    deadline = time.monotonic() + 6.0
    report = f"LAUNCH-REPORT rc=-1 for {call_id}"
    while time.monotonic() < deadline and report not in (rig.proxy.log() if rig.proxy else ""):
        time.sleep(0.1)
    log = rig.proxy.log() if rig.proxy else ""
    assert report in log, log
    finished_after = time.monotonic() - started
    assert finished_after >= 2.0  # the report came when the function ended, not before
