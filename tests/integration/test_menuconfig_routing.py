"""The load-balancer scripts OpenSIPS's menuconfig generates (the corpus copies of
examples/templates/loadbalancer.m4, with dispatcher and with load_balancer) run unchanged under
`pysips -f` apart from the database URL, the ports and the TLS certificate: a sipp call goes
through to the one destination of the SQLite table, and back (BYE through the Record-Route)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from pysips.devcert import make_dev_certificate
from tests.integration.proxy_harness import Rig, free_port
from tests.integration.script_rig import create_sqlite
from tests.integration.test_udp_engine import pysips_env, server_argv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
__all__ = ["pysips_env"]

CORPUS = Path("/work/shared/corpus/cfgs")
TEMPLATES = {
    "dispatcher": CORPUS / "OpenSIPS__opensips__examples_templates_loadbalancer.m4-allfeatures.cfg",
    "load_balancer": CORPUS / "OpenSIPS__opensips__examples_templates_loadbalancer.m4-default.cfg",
}


def _adapt(text: str, port: int, db: Path, workdir: Path) -> str:
    """The database, the ports, and a certificate of our own for the TLS socket."""
    cert, key = make_dev_certificate(workdir)
    text = re.sub(r"(?m)^socket=udp:127\.0\.0\.1:5060", f"socket=udp:127.0.0.1:{port}", text)
    text = re.sub(r"(?m)^socket=tcp:127\.0\.0\.1:5060", f"socket=tcp:127.0.0.1:{free_port()}", text)
    text = re.sub(r"(?m)^socket=tls:127\.0\.0\.1:5061", f"socket=tls:127.0.0.1:{free_port()}", text)
    text = text.replace("/etc/opensips/tls/user/user-cert.pem", str(cert))
    text = text.replace("/etc/opensips/tls/user/user-privkey.pem", str(key))
    text = text.replace("/etc/opensips/tls/user/user-calist.pem", str(cert))
    text = text.replace('loadmodule "db_mysql.so"', 'loadmodule "db_sqlite.so"')
    text = text.replace("mysql://opensips:opensipsrw@localhost/opensips", f"sqlite://{db}")
    return re.sub(r'(?m)^modparam\("httpd", "port", 8888\)', f'modparam("httpd", "port", {port + 1})', text)


@pytest.mark.parametrize("module", sorted(TEMPLATES))
def test_generated_loadbalancer_script_routes_a_call(rig: Rig, pysips_env: None, module: str) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    db = create_sqlite(rig.workdir / "opensips.db", module, "acc")
    uas = f"sip:127.0.0.1:{rig.ports.uas}"
    with sqlite3.connect(db) as conn:
        if module == "dispatcher":
            conn.execute("INSERT INTO dispatcher (setid, destination) VALUES (1, ?)", (uas,))
        else:
            conn.execute(
                "INSERT INTO load_balancer (group_id, dst_uri, resources) VALUES (1, ?, 'channel=5')", (uas,)
            )
    cfg = rig.workdir / "lb.cfg"
    cfg.write_text(_adapt(TEMPLATES[module].read_text(), rig.ports.proxy, db, rig.workdir))
    rig.start_proxy("pysips", server_argv(cfg))
    callee = rig.start_uas("uas_call.xml", rig.ports.uas)
    result = rig.run_uac("uac_call.xml", "12345", timeout_s=20)
    assert result.ok and result.successful == 1, rig.report(result)
    assert callee.wait(timeout=10).ok, rig.report()
