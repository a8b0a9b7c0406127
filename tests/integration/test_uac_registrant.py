"""uac_registrant through `pysips -f` with a real upstream registrar (sipp): the row of the
registrant table is registered, the 401 answered with its credentials, the granted expiry (the
binding's own, among others) taken, the registration refreshed before it runs out (same Call-ID,
CSeq going on), and reg_list shows it; reg_disable sends the unREGISTER and writes the state."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pysips.db.admin import open_url
from pysips.db.schema import REGISTRANT
from tests.integration.proxy_harness import CFG_DIR, Rig, free_port, mi_datagram

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CFG = CFG_DIR / "uac-registrant-test.cfg"


def make_table(path: Path, registrar_port: int, proxy_port: int) -> None:
    db = open_url(f"sqlite://{path}")
    try:
        db.ensure_table(REGISTRANT)
        db.insert("registrant", {
            "registrar": f"sip:127.0.0.1:{registrar_port}", "aor": "sip:gw@upstream.example.com",
            "username": "trunkuser", "password": "trunkpass",
            "binding_URI": f"sip:gw@127.0.0.1:{proxy_port}", "expiry": 12, "state": 0,
        })
    finally:
        db.close()


def wait_state(mi_port: int, wanted: str, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    record: dict[str, object] = {}
    while time.monotonic() < deadline:
        records = mi_datagram(mi_port, "reg_list")["Records"]
        record = records[0] if records else {}
        if record.get("state") == wanted:
            return record
        time.sleep(0.3)
    raise AssertionError(f"registrant never reached {wanted}: {record}")


def test_registers_answers_the_challenge_and_refreshes(rig: Rig) -> None:
    mi_port = free_port()
    db_path = rig.workdir / "registrant.db"
    rig.workdir.mkdir(parents=True, exist_ok=True)
    make_table(db_path, rig.ports.uas, rig.ports.proxy)
    registrar = rig.start_uas("uas_registrar_auth.xml")
    rig.start_pysips(CFG, MI_PORT=mi_port, DB_PATH=db_path)
    record = wait_state(mi_port, "REGISTERED_STATE", 15)
    assert record["AOR"] == "sip:gw@upstream.example.com"
    assert record["expires"] == 12  # our binding's, not the other Contact's 3600
    assert record["enabled"] == "yes"
    assert record["registrar"] == f"sip:127.0.0.1:{rig.ports.uas}"
    result = registrar.wait(timeout=40)  # the refresh: 12 s granted, refreshed 10 s before
    assert result.ok, rig.report(result)
    seen = (registrar.workdir / "messages.log").read_text()
    call_ids = {line for line in seen.splitlines() if line.startswith("Call-ID:")}
    assert len(call_ids) == 1, call_ids  # the refresh keeps the Call-ID
    assert "CSeq: 4 REGISTER" in seen
    wait_state(mi_port, "REGISTERED_STATE", 5)


def test_reg_disable_unregisters_and_stores_the_state(rig: Rig) -> None:
    mi_port = free_port()
    db_path = rig.workdir / "registrant.db"
    rig.workdir.mkdir(parents=True, exist_ok=True)
    make_table(db_path, rig.ports.uas, rig.ports.proxy)
    registrar = rig.start_uas("uas_registrar_auth.xml")
    rig.start_pysips(CFG, MI_PORT=mi_port, DB_PATH=db_path)
    wait_state(mi_port, "REGISTERED_STATE", 15)
    key = {"aor": "sip:gw@upstream.example.com", "contact": f"sip:gw@127.0.0.1:{rig.ports.proxy}",
           "registrar": f"sip:127.0.0.1:{rig.ports.uas}"}
    assert mi_datagram(mi_port, "reg_disable", key) == "OK"
    registrar.wait(timeout=10)
    seen = (registrar.workdir / "messages.log").read_text()
    assert f"<sip:gw@127.0.0.1:{rig.ports.proxy}>;expires=0" in seen, seen
    db = open_url(f"sqlite://{db_path}")
    try:
        assert db.query("registrant", ["state"]) == [(1,)]
    finally:
        db.close()
    one = mi_datagram(mi_port, "reg_list", key)
    assert one["enabled"] == "no"
