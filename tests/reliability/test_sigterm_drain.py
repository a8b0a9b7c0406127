"""SIGTERM while calls are in flight: a record-routing stateful proxy with acc.

Twenty INVITEs are relayed to a callee that has not answered yet when pysips gets SIGTERM. During
the drain (pysips.core.drain) the callee's 200s still go back to the callers, their ACKs and BYEs
are relayed and answered, and a new INVITE gets 503; then the process exits 0 with every INVITE
and BYE accounted in the database. With `--shutdown-grace 0` (OpenSIPS's behaviour) the same
INVITEs are never answered: that is what the drain saves. The drain runs in one process and with
two worker processes (each drains the calls hashed to it while the main process still hands
them their messages).
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.differential.sipua import (
    SDP,
    Dialog,
    Endpoint,
    Message,
    Transcript,
    call_callee,
    reply_to,
)
from tests.integration.proxy_harness import free_port, options_probe
from tests.reliability.test_crash_safety import ACC_TABLE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

REPO = Path(__file__).resolve().parents[2]
LOCAL = "127.0.0.1"
CALLS = 20

CFG = """\
log_level=3
log_stderror=yes
socket=udp:127.0.0.1:{port}
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "signaling.so"
loadmodule "sipmsgops.so"
loadmodule "db_sqlite.so"
loadmodule "acc.so"
loadmodule "proto_udp.so"
modparam("acc", "db_url", "sqlite://{db}")
route {{
    if (is_method("OPTIONS") && !has_totag()) {{ sl_send_reply(200, "OK"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{
            if (is_method("BYE")) do_accounting("db");
            t_relay();
        }} else if (is_method("ACK") && t_check_trans()) {{
            t_relay();
        }} else {{
            sl_send_reply(404, "Not here");
        }}
        exit;
    }}
    record_route();
    do_accounting("db");
    $du = "sip:127.0.0.1:{callee}";
    t_relay();
}}
"""


def start(tmp_path: Path, grace: str,
          workers: int = 1) -> tuple[subprocess.Popen[bytes], Path, int, Endpoint, Path]:
    db = tmp_path / "acc.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute(ACC_TABLE)
    callee = Endpoint("callee", Transcript())
    port = free_port()
    cfg = tmp_path / "drain.cfg"
    cfg.write_text(CFG.format(port=port, db=db, callee=callee.port))
    log = tmp_path / "pysips.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pysips", "-f", str(cfg), "--shutdown-grace", grace,
                                 "--workers", str(workers)],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 15
    while options_probe(port) is None:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
    return proc, log, port, callee, db


def send_invites(port: int, transcript: Transcript) -> list[tuple[Dialog, str]]:
    """CALLS INVITEs, each from its own caller: (dialog, the INVITE as sent)."""
    return [call_callee(transcript, f"caller{i}", f"drain-{i}-{time.monotonic_ns()}", port)
            for i in range(CALLS)]


def receive_invites(callee: Endpoint) -> list[Message]:
    invites: list[Message] = []
    while len(invites) < CALLS:
        msg = callee.recv_request("INVITE", timeout=10)
        assert msg is not None, f"{len(invites)} INVITEs relayed"
        invites.append(msg)
    return invites


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_calls_in_flight_complete_and_refuses_new_ones(tmp_path: Path, workers: int) -> None:
    proc, log, port, callee, db = start(tmp_path, "5", workers)
    transcript = Transcript()
    try:
        calls = send_invites(port, transcript)
        invites = receive_invites(callee)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # the drain has begun
        latecomer = Endpoint("late", transcript)
        late = Dialog(call_id="late-call", from_uri=f"sip:late@{LOCAL}", to_uri=f"sip:callee@{LOCAL}",
                      from_tag="late", local=latecomer)
        latecomer.send(late.request("INVITE", f"sip:callee@{LOCAL}:{port}", body=SDP), (LOCAL, port))
        refused = latecomer.recv_final()
        assert refused is not None and refused.status == 503, log.read_text()

        # the callee answers the calls that were in flight when the signal came
        for i, invite in enumerate(invites):
            callee.send(reply_to(invite, 200, "OK", to_tag=f"callee{i}",
                                 contact=f"<sip:callee@{callee.hostport}>", body=SDP), (LOCAL, port))
        for dialog, _ in calls:
            ok = dialog.local.recv_final()
            assert ok is not None and ok.status == 200, log.read_text()
            dialog.learn(ok)
            dialog.local.send(dialog.request("ACK", dialog.remote_target, cseq=1), (LOCAL, port))
            dialog.cseq = 2
            dialog.local.send(dialog.request("BYE", dialog.remote_target), (LOCAL, port))
        for _ in range(CALLS):
            bye = callee.recv_request("BYE", timeout=5)
            assert bye is not None, log.read_text()
            callee.send(reply_to(bye, 200, "OK"), (LOCAL, port))
        for dialog, _ in calls:
            done = dialog.local.recv_final()
            assert done is not None and done.status == 200 and "BYE" in done.header("CSeq"), log.read_text()
        assert proc.wait(10) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        callee.close()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT method, COUNT(*) FROM acc WHERE sip_code = '200' GROUP BY method").fetchall()
    assert dict(rows) == {"INVITE": CALLS, "BYE": CALLS}, rows
    assert "draining for up to 5s" in log.read_text()


def test_without_a_grace_period_the_calls_in_flight_are_lost(tmp_path: Path) -> None:
    """OpenSIPS's way (--shutdown-grace 0): the process is gone before the callee answers."""
    proc, log, port, callee, db = start(tmp_path, "0")
    transcript = Transcript()
    try:
        calls = send_invites(port, transcript)
        invites = receive_invites(callee)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, log.read_text()
        for i, invite in enumerate(invites):
            callee.send(reply_to(invite, 200, "OK", to_tag=f"callee{i}", body=SDP), (LOCAL, port))
        dialog = calls[0][0]
        final = dialog.local.recv_final(timeout=1)
        assert final is None or final.status != 200
    finally:
        if proc.poll() is None:
            proc.kill()
        callee.close()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM acc").fetchone()[0] == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_signal_ends_the_drain(tmp_path: Path, workers: int) -> None:
    proc, log, port, callee, _db = start(tmp_path, "60", workers)
    try:
        send_invites(port, Transcript())
        receive_invites(callee)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None  # draining: the INVITEs are unanswered
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        callee.close()
