"""Issue 7, end to end: a browser (JsSIP over WSS, DTLS-SRTP, ICE, in headless Chromium) and a classic
phone (SIP over UDP, plain PCMU RTP) call each other through pysips running examples/residential.cfg,
with the rtpengine daemon bridging the media; audio flows both ways and BYE ends both legs.
Issue 6: then the real sipp (UDP, `sipp/e2e_uac_to_browser.xml`) calls the registered browser.

Everything runs in fresh network and PID namespaces (`unshare`, root only): Chromium offers loopback
ICE candidates only where the loopback is the sole interface, the example's own ports (5060, 8443,
60000 ...) are free there, and when the namespace's first process ends every process in it ends.
See docs/e2e.md.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.e2e.bundle import ensure_bundle
from tests.integration.e2e.cdp import CHROMIUM

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 90.0  # seconds for the whole run inside the namespace
MIN_PACKETS = 100  # of ~150 in the 3 s of media each call holds (50 packets/s)
MIN_SIPP_PACKETS = 25  # of ~70 sampled 1.4 s into sipp's 2 s call (rtp_stream, 50 packets/s)
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


def _missing() -> str:
    if os.geteuid() != 0:
        return "needs root for unshare (network namespace)"
    for tool in (CHROMIUM, "rtpengine", "unshare", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        return f"unshare is not permitted here: {probe.stderr.decode(errors='replace').strip()}"
    return ""


pytestmark = [pytest.mark.integration, pytest.mark.timeout(DEADLINE + 240)]


def _diagnostics(result: dict[str, Any]) -> str:
    workdir = Path(result.get("workdir", "."))
    parts = [f"error: {result.get('error')}", str(result.get("traceback", ""))]
    parts.append("browser: " + "\n".join(result.get("browser_log", []) + result.get("browser_console", [])))
    parts.append("phone:\n" + "\n".join(result.get("phone_trace", [])))
    for name in ("pysips.log", "rtpengine.log", "chromium.log"):
        path = workdir / name
        if path.exists():
            parts.append(f"--- {name} (tail)\n" + path.read_text(errors="replace")[-2500:])
    return "\n".join(parts)


# (SIP port shift, the browser's transport): the seed as written (5060, 5061, 8080, 8443) with the
# browser on WSS, then moved to other ports (issue 11) with the browser on WS and on WSS. Browsers
# register to and call URIs without a port (`sip:127.0.0.1`), which are `myself` on any port we
# listen on (OpenSIPS 3.x), so the seed's flows work wherever it listens.
VARIANTS = [(0, "wss"), (17, "ws"), (17, "wss")]


def _variant_id(variant: tuple[int, str]) -> str:
    return f"{'moved' if variant[0] else 'default'}-ports-{variant[1]}"


@pytest.fixture(scope="module", params=VARIANTS, ids=_variant_id)
def e2e(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    shift, transport = request.param
    # Never skipped: scripts/setup installs chromium, npm and rtpengine, and CI runs as root.
    reason = _missing()
    if reason:
        pytest.fail(f"the end-to-end test cannot run: {reason} (run scripts/setup)")
    ensure_bundle()
    workdir = tmp_path_factory.mktemp("e2e")
    inner = (
        f"ip link set lo up && exec {shlex.quote(sys.executable)} -m tests.integration.e2e.run_e2e "
        f"--workdir {shlex.quote(str(workdir))} --timeout {DEADLINE - 10} "
        f"--port-shift {shift} --browser-transport {transport}"
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [*UNSHARE, "sh", "-c", inner],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        # unshare dies, --kill-child kills the namespace's first process, the kernel kills the rest
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"end-to-end run exceeded {DEADLINE} s; logs in {workdir}")
    try:
        result: dict[str, Any] = json.loads(out)
    except ValueError:
        pytest.fail(f"driver printed no JSON (exit {proc.returncode}):\n{out[-2000:]!r}\n{err[-3000:]!r}")
    result["wall_seconds"] = round(time.monotonic() - started, 2)
    result["variant"] = (shift, transport)
    return result


def _completed(e2e: dict[str, Any], leg: str) -> dict[str, Any]:
    assert leg in e2e, _diagnostics(e2e)
    call: dict[str, Any] = e2e[leg]
    return call


def _assert_media_both_ways(call: dict[str, Any]) -> None:
    browser = call["browser"]
    assert browser["iceState"] in ("connected", "completed"), browser
    assert browser["dtlsState"] == "connected", browser
    assert browser["inboundCodec"] == "audio/PCMU", browser
    # phone -> rtpengine (RTP) -> browser (SRTP over ICE): packets arrive and decode to sound
    assert browser["packetsReceived"] > MIN_PACKETS, call
    assert browser["totalAudioEnergy"] > 0, call
    # browser -> rtpengine (SRTP) -> phone (RTP): packets arrive from the relay, with the fake beep in them
    assert call["phone_received"] > MIN_PACKETS, call
    assert call["phone_received_audible"] > 0, call
    assert call["phone_rtp_sources"] == [call["phone_remote_media"]], call
    assert call["rtpengine_during"]["result"] == "ok", call


def _assert_torn_down(call: dict[str, Any]) -> None:
    assert call["rtpengine_after_bye"] == {"result": "error", "error": "Unknown call-id"}, call
    commands = [c["command"] for c in call["rtpengine_commands"]]
    assert commands == ["offer", "answer", "delete"], call["rtpengine_commands"]


def test_both_register(e2e: dict[str, Any]) -> None:
    assert e2e.get("phone_register_status") == 200, _diagnostics(e2e)
    assert "registered" in " ".join(e2e.get("browser_log", [])), _diagnostics(e2e)


def test_the_variant_ran_where_it_says(e2e: dict[str, Any]) -> None:
    shift, transport = e2e["variant"]
    ports = e2e.get("sip_ports", {})
    assert e2e.get("browser_transport") == transport, _diagnostics(e2e)
    assert ports == {"udp": 5060 + shift, "tls": 5061 + shift, "ws": 8080 + shift, "wss": 8443 + shift}


def test_browser_calls_phone(e2e: dict[str, Any]) -> None:
    call = _completed(e2e, "browser_to_phone")
    assert call["browser_call_id"] == call["call_id"]
    _assert_media_both_ways(call)
    # the browser's BYE went WSS -> pysips -> UDP and reached the phone
    assert call["hangup_cause"] == "Terminated" and call["phone_ended_by"] == "remote", call
    offer = call["rtpengine_commands"][0]
    assert offer["transport-protocol"] == "RTP/AVP" and offer["ICE"] == "remove", offer
    _assert_torn_down(call)


def test_phone_calls_browser(e2e: dict[str, Any]) -> None:
    call = _completed(e2e, "phone_to_browser")
    assert call["browser_call_id"] == call["call_id"]
    _assert_media_both_ways(call)
    # the phone's BYE went UDP -> pysips -> WSS and ended the browser's session
    assert call["bye_status"] == 200 and call["browser_ended_by"] == "remote", call
    offer = call["rtpengine_commands"][0]
    assert offer["transport-protocol"] == "UDP/TLS/RTP/SAVPF" and offer["ICE"] == "force", offer
    _assert_torn_down(call)


def test_sipp_calls_browser(e2e: dict[str, Any]) -> None:
    """Issue 6: a real sipp UAC (UDP) calls the browser's AOR; lookup() finds its WSS contact."""
    call = _completed(e2e, "sipp_to_browser")
    assert "error" not in call, _diagnostics(e2e) + f"\nsipp_to_browser: {call}"
    sipp = call["sipp"]
    # sipp's own verdict: one call, every step of e2e_uac_to_browser.xml matched (SDP checks included)
    assert (sipp["exit_code"], sipp["successful"], sipp["failed"]) == (0, 1, 0), sipp
    finals = [line for line in sipp["received"] if line.startswith("SIP/2.0 200")]
    assert finals == ["SIP/2.0 200 OK (1 INVITE)", "SIP/2.0 200 OK (2 BYE)"], sipp["received"]
    answer = sipp["answer"]
    # the 200 came from the browser over its WSS connection: fix_nated_contact() in the reply route
    # rewrote JsSIP's `.invalid` Contact to the connection's source address
    assert len(answer["contact"]) == 1 and "transport=ws" in answer["contact"][0].lower(), answer
    assert answer["record_route"] and all("127.0.0.1" in rr for rr in answer["record_route"]), answer
    # rtpengine rewrote the browser's DTLS-SRTP/ICE answer into plain RTP on its own address
    assert [ln for ln in answer["sdp_media"] if ln.startswith("c=")] == ["c=IN IP4 127.0.0.1"], answer
    media = [ln for ln in answer["sdp_media"] if ln.startswith("m=")]
    assert len(media) == 1 and media[0].endswith(" RTP/AVP 0"), answer
    assert answer["sdp_ice_or_crypto"] == [], answer
    # the browser: confirmed, media from sipp's rtp_stream decoded, ended by sipp's BYE
    events = call["browser_events"]
    # lookup("location") sent the INVITE to the contact JsSIP registered over WSS. JsSIP registers
    # sip:USER@RANDOM.invalid;transport=ws; the script's fix_nated_contact() before save() rewrote
    # host:port to the connection's source (as in OpenSIPS, save() stores the rewritten URI)
    contact = [e.split()[2] for e in e2e.get("browser_log", []) if e.split()[1:2] == ["registered"]]
    assert len(contact) == 1 and contact[0].endswith(".invalid;transport=ws"), e2e.get("browser_log")
    incoming = [e.split() for e in events if e.startswith("incoming ")]
    assert len(incoming) == 1 and incoming[0][1] == call["browser_call_id"], events
    ruri = incoming[0][2]
    assert ruri.startswith(contact[0].partition("@")[0] + "@127.0.0.1:"), (ruri, contact)
    assert ruri.endswith(";transport=ws"), ruri
    assert "session confirmed" in events and events[-1] == "session ended Terminated", events
    assert events.index("session confirmed") < events.index("session ended Terminated"), events
    assert call["browser_ended_by"] == "remote", call
    browser = call["browser"]
    assert browser["dtlsState"] == "connected" and browser["inboundCodec"] == "audio/PCMU", browser
    assert browser["packetsReceived"] > MIN_SIPP_PACKETS and browser["totalAudioEnergy"] > 0, browser
    offer, answered = call["rtpengine_commands"][:2]
    assert offer["transport-protocol"] == "UDP/TLS/RTP/SAVPF" and offer["ICE"] == "force", offer
    assert answered["transport-protocol"] == "RTP/AVP" and answered["ICE"] == "remove", answered
    _assert_torn_down(call)


def test_bounded_and_complete(e2e: dict[str, Any]) -> None:
    assert e2e["ok"] is True, _diagnostics(e2e)
    assert e2e["wall_seconds"] < DEADLINE, e2e["wall_seconds"]
