"""OpenSIPS 3.6 (the reference build) and pysips read each other's rows, on MariaDB and
PostgreSQL: `location` written by one is looked up by the other, `subscriber` (with the version
rows of `pysips db create`) authenticates on both, `acc` rows have the same shape."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pysips.db.api import Database
from tests.integration.dbservers import Server
from tests.integration.proxy_harness import LOCALHOST, Rig, rig_in
from tests.integration.reference_server import authenticated_register, start_server
from tests.integration.test_databases import poll
from tests.integration.test_registration import Ua

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# The same routing for both servers: REGISTER (digest on realm auth.test) saved write-through and
# accounted; a MESSAGE is looked up and answered with the contact found.
SCRIPT = """\
log_level=3
stderror_enabled=yes
syslog_enabled=no
udp_workers=1
auto_aliases=no
socket=udp:127.0.0.1:@@PROXY_PORT@@
@@MPATH@@

loadmodule "proto_udp.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "@@DRIVER@@.so"
loadmodule "usrloc.so"
modparam("usrloc", "working_mode_preset", "sql-only")
# OpenSIPS's default, spelled out: pysips's usrloc defaults to 1 (a divergence, reported)
modparam("usrloc", "use_domain", 0)
modparam("usrloc", "db_url", "@@DB_URL@@")
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("auth_db", "db_url", "@@DB_URL@@")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
loadmodule "acc.so"
modparam("acc", "db_url", "@@DB_URL@@")

route{
	if ($rm == "REGISTER") {
		if ($rd == "auth.test") {
			if (!www_authorize("auth.test", "subscriber")) {
				www_challenge("auth.test", "auth");
				exit;
			}
		}
		if (!save("location"))
			sl_reply_error();
		exit;
	}
	if (!lookup("location")) {
		sl_send_reply(404, "Not Found");
		exit;
	}
	acc_db_request("200 found", "acc");
	sl_send_reply(200, "found $ru");
}
"""


def start(rig: Rig, server: Server, which: str) -> None:
    driver = "db_mysql" if server.scheme == "mysql" else "db_postgres"
    start_server(rig, SCRIPT, "diff", which, {"DB_URL": server.url, "DRIVER": driver})


def message(ua: Ua, user: str, callid: str = "m-1") -> str:
    """A MESSAGE with a To tag (OpenSIPS's acc writes NULL for a missing one, which its own
    schema refuses)."""
    ua.cseq += 1
    ua.send(
        f"MESSAGE sip:{user}@db.test SIP/2.0\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{ua.port};branch=z9hG4bK{uuid.uuid4().hex[:10]};rport\n"
        f"Max-Forwards: 70\n"
        f"From: <sip:caller@db.test>;tag=fromtag\n"
        f"To: <sip:{user}@db.test>;tag=totag\n"
        f"Call-ID: {callid}\n"
        f"CSeq: {ua.cseq} MESSAGE\n"
        f"Content-Length: 0\n\n"
    )
    return ua.final(timeout=5.0, cseq=f"{ua.cseq} MESSAGE").text.split("\r\n", 1)[0].split(" ", 2)[2]


@pytest.mark.parametrize("writer, reader", [("pysips", "opensips"), ("opensips", "pysips")])
def test_each_reads_the_others_rows(rig: Rig, tmp_path: Path, sql_server: Server, sql_db: Database,
                                    writer: str, reader: str) -> None:
    user = f"w{writer[0]}'x"
    sql_db.insert("subscriber", {"username": user, "domain": "auth.test", "password": "pw"})
    start(rig, sql_server, writer)
    phone = Ua(rig.ports.proxy)
    try:
        assert authenticated_register(phone, user, "pw") == 200
        sender = Ua(rig.ports.proxy)
        try:
            assert message(sender, user, "from-writer") == f"found {phone.contact('u')}"
        finally:
            sender.close()
        with rig_in(tmp_path / "reader") as rig_b:
            start(rig_b, sql_server, reader)
            caller = Ua(rig_b.ports.proxy)
            try:
                assert message(caller, user, "from-reader") == f"found {phone.contact('u')}"
                # the reader authenticates against the same subscriber row, and its binding is
                # seen by the writer
                other = Ua(rig_b.ports.proxy)
                try:
                    assert authenticated_register(other, user, "pw") == 200
                finally:
                    other.close()
            finally:
                caller.close()
        contacts = sorted(r[0] for r in sql_db.query("location", ("contact",), {"username": user}))
        assert len(contacts) == 2
        # both wrote an acc row for the same kind of request: the same values in the same columns
        columns = ("method", "from_tag", "to_tag", "sip_code", "sip_reason")
        acc = poll(lambda: sql_db.query("acc", ("callid", *columns)), 2)
        by_callid = {r[0]: r[1:] for r in acc}
        assert by_callid["from-writer"] == by_callid["from-reader"] == (
            "MESSAGE", "fromtag", "totag", "200", "found")
    finally:
        phone.close()
