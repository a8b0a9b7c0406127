"""Two pysips nodes sharing registrations through one database (usrloc `sql-only`), on MariaDB
and on PostgreSQL: a phone registered on node A is found by a lookup on node B; an unregister on
B is seen by A; write-back (db_mode 2) rows reach the database at the flush."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from pysips.db.api import Database
from tests.integration.dbservers import Server
from tests.integration.proxy_harness import LOCALHOST, Rig, pysips_argv, render_template, rig_in
from tests.integration.test_databases import poll, register
from tests.integration.test_registration import Ua

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SCRIPT = """\
log_level=3
stderror_enabled=yes
syslog_enabled=no
udp_workers=1
auto_aliases=no
socket=udp:127.0.0.1:@@PROXY_PORT@@

loadmodule "proto_udp.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "@@DRIVER@@.so"
loadmodule "usrloc.so"
@@USRLOC@@
modparam("usrloc", "db_url", "@@DB_URL@@")
modparam("usrloc", "timer_interval", 1)
loadmodule "registrar.so"

route{
	if ($rm == "REGISTER") {
		if (!save("location"))
			sl_reply_error();
		exit;
	}
	if (!lookup("location")) {
		sl_send_reply(404, "Not Found");
		exit;
	}
	sl_send_reply(200, "found $ru");
}
"""


def start(rig: Rig, server: Server, usrloc: str) -> None:
    template = rig.workdir / "node.cfg.in"
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template.write_text(SCRIPT)
    values = rig.ports.template_values(
        DB_URL=server.url, DRIVER="db_mysql" if server.scheme == "mysql" else "db_postgres", USRLOC=usrloc)
    rig.start_proxy("pysips", pysips_argv(render_template(template, values, rig.workdir / "node.cfg")))


def message(ua: Ua, user: str) -> str:
    ua.cseq += 1
    ua.send(
        f"MESSAGE sip:{user}@db.test SIP/2.0\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{ua.port};branch=z9hG4bK{uuid.uuid4().hex[:10]};rport\n"
        f"Max-Forwards: 70\n"
        f"From: <sip:caller@db.test>;tag=m{ua.cseq}\n"
        f"To: <sip:{user}@db.test>\n"
        f"Call-ID: m-{ua.callid}\n"
        f"CSeq: {ua.cseq} MESSAGE\n"
        f"Content-Length: 0\n\n"
    )
    return ua.final(timeout=5.0, cseq=f"{ua.cseq} MESSAGE").text.split("\r\n", 1)[0].split(" ", 2)[2]


def test_a_phone_registered_on_one_node_is_found_on_the_other(
        rig: Rig, tmp_path: Path, sql_server: Server, sql_db: Database) -> None:
    preset = 'modparam("usrloc", "working_mode_preset", "sql-only")'
    start(rig, sql_server, preset)
    with rig_in(tmp_path / "node-b") as rig_b:
        start(rig_b, sql_server, preset)
        phone = Ua(rig.ports.proxy)
        caller = Ua(rig_b.ports.proxy)
        try:
            assert register(phone, "dave", "db.test").status == 200
            assert message(caller, "dave") == f"found {phone.contact('u')}"
            # unregister through node B (the same phone's Call-ID), seen by node A
            phone.proxy_port = rig_b.ports.proxy
            assert register(phone, "dave", "db.test", expires=0).status == 200
            phone.proxy_port = rig.ports.proxy
            assert message(phone, "dave") == "Not Found"
            assert sql_db.query("location", ("username",), {"username": "dave"}) == []
        finally:
            phone.close()
            caller.close()


def test_write_back_rows_reach_the_database_at_the_flush(
        rig: Rig, sql_server: Server, sql_db: Database) -> None:
    start(rig, sql_server, 'modparam("usrloc", "db_mode", 2)')
    phone = Ua(rig.ports.proxy)
    try:
        assert register(phone, "erin", "db.test").status == 200
        started = time.monotonic()
        rows = poll(lambda: sql_db.query("location", ("username", "contact"), {"username": "erin"}), 1)
        assert rows == [("erin", phone.contact("u"))], f"no row after {time.monotonic() - started:.1f}s"
    finally:
        phone.close()


def test_write_back_keeps_changes_while_the_database_is_down(
        rig: Rig, sql_server: Server, sql_db: Database) -> None:
    start(rig, sql_server, 'modparam("usrloc", "db_mode", 2)')
    phone = Ua(rig.ports.proxy)
    try:
        sql_server.stop()
        try:
            assert register(phone, "fred", "db.test").status == 200  # in memory; flushed later
            time.sleep(1.5)  # at least one failed flush
        finally:
            sql_server.start()
        rows = poll(lambda: sql_db.query("location", ("username",), {"username": "fred"}), 1, timeout=8.0)
        assert rows == [("fred",)]
        assert rig.proxy is not None and rig.proxy.alive()
    finally:
        phone.close()


def test_nat_pings_come_from_the_node_the_phone_registered_with(
        rig: Rig, tmp_path: Path, sql_server: Server, sql_db: Database) -> None:
    """sql-only: every node sees every binding, but a keepalive only keeps the phone's NAT binding
    open when it comes from the address the phone registered to. So the node owning the
    binding's socket pings it, and the other node leaves it alone (no double pinging)."""
    usrloc = ('modparam("usrloc", "working_mode_preset", "sql-only")\n'
              'loadmodule "nathelper.so"\n'
              'modparam("nathelper", "natping_interval", 1)\n')
    start(rig, sql_server, usrloc)
    with rig_in(tmp_path / "node-b") as rig_b:
        start(rig_b, sql_server, usrloc)
        phone = Ua(rig.ports.proxy)
        try:
            assert register(phone, "erin", "db.test").status == 200
            pings_from: dict[int, int] = {}
            deadline = time.monotonic() + 3.5
            phone.sock.settimeout(0.2)
            while time.monotonic() < deadline:
                try:
                    data, (_ip, port) = phone.sock.recvfrom(65535)
                except TimeoutError:
                    continue
                if data == b"\x00\x00\x00\x00":
                    pings_from[port] = pings_from.get(port, 0) + 1
            assert pings_from.get(rig.ports.proxy, 0) >= 2, pings_from
            assert rig_b.ports.proxy not in pings_from, pings_from
        finally:
            phone.close()
