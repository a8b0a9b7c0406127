"""load_balancer with real peers: two destinations of one `pstn` channel each (from an SQLite
`load_balancer` table), calls held open by sipp. Two calls fill both destinations; the third is
refused with lb_start()'s -2 (no capacity) and answered 503 by the script; once the calls end
(their dialogs leave the profiles) a new call is routed again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.integration.proxy_harness import Rig
from tests.integration.script_rig import create_sqlite, start_script
from tests.integration.test_udp_engine import pysips_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
__all__ = ["pysips_env"]

CFG = """
log_level=3
listen=udp:127.0.0.1:@@PROXY_PORT@@
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "sipmsgops.so"
loadmodule "proto_udp.so"
loadmodule "dialog.so"
loadmodule "db_sqlite.so"
loadmodule "load_balancer.so"
modparam("tm", "fr_timeout", @@FR_TIMEOUT@@)
modparam("tm", "fr_inv_timeout", @@FR_INV_TIMEOUT@@)
modparam("load_balancer", "db_url", "sqlite://@@DB@@")
modparam("load_balancer", "probing_interval", 0)

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
    lb_start(1, "pstn");
    $var(rc) = $rc;
    if ($var(rc) < 0) {
        xlog("L_NOTICE", "lb refused $ci: $var(rc)\\n");
        sl_send_reply(503, "No capacity");
        exit;
    }
    xlog("L_NOTICE", "lb chose $du for $ci\\n");
    t_relay();
}
"""


def _db(workdir: Path, rows: list[tuple[int, str, str]]) -> Path:
    db = create_sqlite(workdir / "lb.db", "load_balancer")
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO load_balancer (group_id, dst_uri, resources) VALUES (?, ?, ?)", rows)
    return db


def test_third_call_is_refused_when_both_destinations_are_full(rig: Rig, pysips_env: None) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    first = f"sip:127.0.0.1:{rig.ports.uas}"
    second = f"sip:127.0.0.1:{rig.ports.uas2}"
    db = _db(rig.workdir, [(1, first, "pstn=1"), (1, second, "pstn=1"), (2, second, "pstn=5")])
    start_script(rig, CFG, "lb", DB=db)
    uas1 = rig.start_uas("uas_call.xml", rig.ports.uas, calls=2)
    uas2 = rig.start_uas("uas_call.xml", rig.ports.uas2, calls=1)
    # three calls of 4 s, started 0.1 s apart: the third finds both destinations full
    held = rig.run_uac("uac_call.xml", calls=3, rate=10, duration_ms=4000, timeout_s=30)
    assert held.successful == 2 and held.failed == 1, rig.report(held)
    assert rig.proxy is not None
    log = rig.proxy.log()
    assert log.count("lb chose") == 2, log
    assert f"lb chose {first} " in log and f"lb chose {second} " in log, log
    assert log.count("lb refused") == 1 and ": -2" in log, log
    # the calls ended: their dialogs left the profiles, so there is capacity again
    after = rig.run_uac("uac_call.xml", calls=1, timeout_s=20)
    assert after.ok and after.successful == 1, rig.report(after)
    assert f"lb chose {first} " in rig.proxy.log().split("lb refused")[1], rig.proxy.log()
    assert uas1.wait(timeout=15).ok, rig.report()
    assert uas2.wait(timeout=15).ok, rig.report()
