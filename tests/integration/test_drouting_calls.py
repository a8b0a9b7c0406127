"""drouting with real peers: pysips -f routes INVITEs by the dialled prefix over dr_* tables in
SQLite. A call to 49... goes to the gateway of the 49 rule, whose first gateway answers 503:
failure_route disables it (dr_disable) and use_next_gw() reaches the second one, which answers;
a call to 33... goes to another gateway chosen by its own prefix rule, with the gateway's strip
and PRI prefix applied to the R-URI user."""

from __future__ import annotations

import sqlite3

import pytest

from tests.integration.proxy_harness import Rig
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
loadmodule "drouting.so"
modparam("tm", "fr_timeout", @@FR_TIMEOUT@@)
modparam("tm", "fr_inv_timeout", @@FR_INV_TIMEOUT@@)
modparam("drouting", "db_url", "sqlite://@@DB@@")
modparam("drouting", "probing_interval", 0)
modparam("drouting", "gw_id_avp", "$avp(gw_id)")

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
    if (!do_routing(1)) {
        sl_send_reply(404, "No route");
        exit;
    }
    xlog("L_NOTICE", "routed $ci to $ru via $avp(gw_id)\\n");
    t_on_failure("next_gw");
    t_relay();
}

failure_route[next_gw] {
    if (t_check_status("(408)|(5[0-9][0-9])")) {
        dr_disable();
        if (use_next_gw()) {
            xlog("L_NOTICE", "failover of $ci to $ru via $avp(gw_id)\\n");
            t_on_failure("next_gw");
            t_relay();
        }
    }
}
"""


def _start(rig: Rig) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    db = create_sqlite(rig.workdir / "dr.db", "drouting")
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO dr_gateways (gwid, address, strip, pri_prefix) VALUES (?,?,?,?)",
            [
                ("busy", f"127.0.0.1:{rig.ports.uas}", 0, None),
                ("good", f"127.0.0.1:{rig.ports.uas2}", 0, None),
                ("intl", f"127.0.0.1:{rig.ports.uas2}", 2, "00"),
            ],
        )
        conn.executemany(
            "INSERT INTO dr_rules (groupid, prefix, priority, gwlist) VALUES (?,?,?,?)",
            [("1", "49", 0, "busy,good"), ("1", "33", 0, "intl"), ("1", "4", 0, "intl")],
        )
    start_script(rig, CFG, "dr", DB=db)


def test_prefix_route_falls_over_to_the_next_gateway(rig: Rig, pysips_env: None) -> None:
    _start(rig)
    busy = rig.start_uas("uas_unavailable.xml", rig.ports.uas)
    good = rig.start_uas("uas_call.xml", rig.ports.uas2)
    result = rig.run_uac("uac_call.xml", "4930123", timeout_s=20)
    assert result.ok and result.successful == 1, rig.report(result)
    assert busy.wait(timeout=10).ok, rig.report()
    assert good.wait(timeout=10).ok, rig.report()
    assert rig.proxy is not None
    log = rig.proxy.log()
    assert f"to sip:4930123@127.0.0.1:{rig.ports.uas} via busy" in log, log
    assert "failover of" in log and f"to sip:4930123@127.0.0.1:{rig.ports.uas2} via good" in log, log


def test_prefix_chooses_the_gateway_and_rewrites_the_number(rig: Rig, pysips_env: None) -> None:
    _start(rig)
    intl = rig.start_uas("uas_call.xml", rig.ports.uas2)
    result = rig.run_uac("uac_call.xml", "3312345", timeout_s=20)
    assert result.ok and result.successful == 1, rig.report(result)
    assert intl.wait(timeout=10).ok, rig.report()
    assert rig.proxy is not None
    log = rig.proxy.log()
    # strip 2 digits, then the gateway's PRI prefix 00
    assert f"to sip:0012345@127.0.0.1:{rig.ports.uas2} via intl" in log, log
    assert "failover" not in log, log
