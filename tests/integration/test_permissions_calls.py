"""permissions through `pysips -f permissions-test.cfg` with real sipp: a caller whose source is in
the address table gets through to the callee; the same caller from another port is refused 403
and nothing reaches the callee; once that port is added to the table, MI address_reload lets it
through without a restart."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from pysips.db.admin import create, open_url
from tests.integration.proxy_harness import CFG_DIR, Rig, free_port, mi_datagram

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CFG = CFG_DIR / "permissions-test.cfg"


def add_source(db_path: str, port: int, info: str) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO address (grp, ip, mask, port, proto, context_info)"
                 " VALUES (1, '127.0.0.1', 32, ?, 'udp', ?)", (port, info))
    conn.commit()
    conn.close()


def test_unknown_source_is_refused_and_reload_admits_it(rig: Rig) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    db_path = str(rig.workdir / "permissions.db")
    db = open_url(f"sqlite://{db_path}")
    create(db, ["permissions"])
    db.close()
    add_source(db_path, rig.ports.uac, "known-caller")
    mi_port = free_port()
    rig.start_pysips(CFG, MI_PORT=mi_port, DB_PATH=db_path)

    uas = rig.start_uas("uas_call.xml")
    known = rig.run_uac("uac_call.xml", duration_ms=500, timeout_s=20)
    assert known.ok and known.successful == 1, rig.report(known)
    assert uas.wait(timeout=10).ok, rig.report(known)

    known_port = rig.ports.uac
    stranger_port = free_port()
    rig.ports = dataclasses.replace(rig.ports, uac=stranger_port)
    uas = rig.start_uas("uas_call.xml")  # must see only the call admitted at the end
    refused = rig.run_uac("uac_forbidden.xml", timeout_s=10)
    assert refused.ok and refused.successful == 1, rig.report(refused)
    log = rig.proxy.log() if rig.proxy else ""
    assert f"allowed 127.0.0.1:{known_port} as known-caller" in log, log
    assert f"refused 127.0.0.1:{stranger_port}" in log, log

    add_source(db_path, stranger_port, "added-later")
    assert mi_datagram(mi_port, "address_reload") == "OK"
    dump = mi_datagram(mi_port, "address_dump")["Partitions"][0]["Destinations"]
    assert sorted((d["port"], d["context_info"]) for d in dump) == sorted(
        [(known_port, "known-caller"), (stranger_port, "added-later")])
    admitted = rig.run_uac("uac_call.xml", duration_ms=500, timeout_s=20)
    assert admitted.ok and admitted.successful == 1, rig.report(admitted)
    assert uas.wait(timeout=10).ok, rig.report(admitted)
    assert "as added-later" in (rig.proxy.log() if rig.proxy else "")
    seen = (uas.workdir / "messages.log").read_text()
    assert seen.count("INVITE sip:") == 1, seen  # the refused INVITE never reached the callee
