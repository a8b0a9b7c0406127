"""dispatcher with real peers: pysips -f on a script that dispatches INVITEs over a set from an
SQLite `dispatcher` table, sipp callers and callees, and a small UDP peer for the probes.

- failover: the first destination answers 503 (or nothing at all): failure_route marks it
  inactive (the state is written back to the table at shutdown) and ds_next_dst() reaches the
  second one, which answers the call;
- probing: with ds_probing_mode 1 a destination that stops answering OPTIONS is set to probing
  (E_DISPATCHER_STATUS "inactive"), and back to active once it answers again.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.proxy_harness import Rig
from tests.integration.routing_peer import RoutingPeer
from tests.integration.script_rig import create_sqlite, start_script
from tests.integration.test_udp_engine import pysips_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
__all__ = ["pysips_env"]

CFG = """
log_level=3
listen=udp:127.0.0.1:@@PROXY_PORT@@
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "sipmsgops.so"
loadmodule "proto_udp.so"
loadmodule "db_sqlite.so"
loadmodule "dispatcher.so"
modparam("tm", "fr_timeout", @@FR_TIMEOUT@@)
modparam("tm", "fr_inv_timeout", @@FR_INV_TIMEOUT@@)
modparam("dispatcher", "db_url", "sqlite://@@DB@@")
modparam("dispatcher", "ds_ping_interval", @@PING@@)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_ping_from", "sip:prober@127.0.0.1")

route{
    if (is_method("OPTIONS") && $rU == NULL) {
        sl_send_reply(200, "OK");
        exit;
    }
    if (has_totag()) {
        if (loose_route() || is_method("ACK"))
            t_relay();
        exit;
    }
    record_route();
    if (!ds_select_dst(1, 8, "f")) {
        sl_send_reply(503, "No destination");
        exit;
    }
    xlog("L_NOTICE", "first try: $du of $avp(ds_cnt_failover)\\n");
    t_on_failure("failover");
    t_relay();
}

failure_route[failover] {
    if (t_check_status("503") || t_check_status("408")) {
        ds_mark_dst("i");
        ds_count(1, "a", $var(active));
        if (ds_next_dst()) {
            xlog("L_NOTICE", "failover to $du after $T_reply_code, active left $var(active)\\n");
            t_on_failure("failover");
            t_relay();
        }
    }
}

event_route[E_DISPATCHER_STATUS] {
    xlog("L_NOTICE", "ds event: group $param(group) $param(address) $param(status) ($param(reason))\\n");
}
"""


def _db(workdir: Path, destinations: list[str]) -> Path:
    db = create_sqlite(workdir / "dispatcher.db", "dispatcher")
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO dispatcher (setid, destination, priority) VALUES (1, ?, ?)",
            [(uri, 10 - i) for i, uri in enumerate(destinations)],
        )
    return db


def _start(rig: Rig, db: Path, ping: int) -> None:
    start_script(rig, CFG, "dispatcher", DB=db, PING=ping)


def _state(db: Path, uri: str) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT state FROM dispatcher WHERE destination = ?", (uri,)).fetchone()
    return int(row[0])


def test_503_fails_over_to_the_next_destination(rig: Rig, pysips_env: None) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    down = f"sip:127.0.0.1:{rig.ports.uas}"
    up = f"sip:127.0.0.1:{rig.ports.uas2}"
    db = _db(rig.workdir, [down, up])
    _start(rig, db, 0)
    unavailable = rig.start_uas("uas_unavailable.xml", rig.ports.uas)
    answer = rig.start_uas("uas_call.xml", rig.ports.uas2)
    result = rig.run_uac("uac_call.xml", timeout_s=20)
    assert result.ok and result.successful == 1, rig.report(result)
    assert unavailable.wait(timeout=10).ok, rig.report()
    assert answer.wait(timeout=10).ok, rig.report()
    assert rig.proxy is not None
    log = rig.proxy.log()
    assert f"first try: {down} of 2" in log, log
    assert f"failover to {up} after 503, active left 1" in log, log
    assert f"ds event: group 1 {down} inactive (script function ds_mark())" in log, log
    rig.proxy.stop()  # the state is written back at shutdown
    assert _state(db, down) == 1 and _state(db, up) == 0


@pytest.fixture
def blackhole() -> Iterator[RoutingPeer]:
    peer = RoutingPeer(invite_code=None)  # a destination that is down: answers nothing (OPTIONS once told to)
    yield peer
    peer.close()


def test_timeout_fails_over_to_the_next_destination(
    rig: Rig, pysips_env: None, blackhole: RoutingPeer
) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    silent = f"sip:127.0.0.1:{blackhole.port}"
    up = f"sip:127.0.0.1:{rig.ports.uas2}"
    db = _db(rig.workdir, [silent, up])
    _start(rig, db, 0)
    answer = rig.start_uas("uas_call.xml", rig.ports.uas2)
    result = rig.run_uac("uac_call.xml", timeout_s=30)
    assert result.ok and result.successful == 1, rig.report(result)
    assert answer.wait(timeout=10).ok, rig.report()
    assert blackhole.calls("INVITE")
    assert rig.proxy is not None
    log = rig.proxy.log()
    assert f"failover to {up} after 408, active left 1" in log, log


def _wait_for(rig: Rig, text: str, timeout: float) -> str:
    assert rig.proxy is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = rig.proxy.log()
        if text in log:
            return log
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in the log:\n{rig.proxy.log()[-4000:]}")


def test_prober_marks_a_silent_destination_down_then_up(
    rig: Rig, pysips_env: None, blackhole: RoutingPeer
) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    uri = f"sip:127.0.0.1:{blackhole.port}"
    db = _db(rig.workdir, [uri])
    _start(rig, db, 1)
    # no answer to the OPTIONS: after fr_timeout the destination goes to probing
    _wait_for(rig, f"ds event: group 1 {uri} inactive (negative probing reply)", 15)
    assert blackhole.calls("OPTIONS")
    # a call now finds no active destination
    result = rig.run_uac("uac_call.xml", timeout_s=10, extra=("-aa",))
    assert not result.ok or result.successful == 0
    blackhole.answer_options = True
    _wait_for(rig, f"ds event: group 1 {uri} active (200 OK probing reply)", 15)
