"""sqlops through `pysips -f` on MariaDB and PostgreSQL: structured and raw statements, results in
AVPs and variables, return codes, several databases by id — and a slow query holding up only its
own message."""

from __future__ import annotations

import time
import uuid

import pytest

from pysips.db.api import Database
from tests.integration.dbservers import Server
from tests.integration.proxy_harness import LOCALHOST, Rig
from tests.integration.reference_server import start_server
from tests.integration.test_registration import Reply, Ua

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

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
loadmodule "@@DRIVER@@.so"
loadmodule "sqlops.so"
modparam("sqlops", "db_url", "@@DB_URL@@")
modparam("sqlops", "db_url", "7 @@DB_URL@@")

route{
	if ($rU == "slow") {
		sql_query("@@SLEEP@@", "$avp(slept)");
		sl_send_reply(200, "slow done");
		exit;
	}
	if ($rU == "add") {
		$var(rc) = sql_insert("uri", "[{\\"username\\":\\"$fU\\"},{\\"domain\\":\\"db.test\\"},{\\"uri_user\\":\\"u$fU\\"}]");
		sl_send_reply(200, "rc=$var(rc)");
		exit;
	}
	if ($rU == "list") {
		$var(rc) = sql_select("[\\"username\\",\\"uri_user\\"]", "uri", "[{\\"domain\\":\\"db.test\\"}]", "username", "$avp(u);$avp(uu)");
		$var(rc1) = sql_query_one("SELECT COUNT(*), MAX(username) FROM uri", "$var(n);$var(max)", 7);
		$var(rc2) = sql_query("SELECT username FROM uri WHERE domain = 'nowhere'", "$avp(none)");
		sl_send_reply(200, "rc=$var(rc) n=$var(n) max=$var(max) first=$(avp(u)[0]) last=$(avp(uu)[1]) third=$(avp(u)[2]) rc1=$var(rc1) rc2=$var(rc2)");
		exit;
	}
	if ($rU == "change") {
		$var(a) = sql_update("[{\\"uri_user\\":\\"changed\\"}]", "uri", "[{\\"username\\":{\\"!=\\":\\"$fU\\"}}]");
		$var(b) = sql_delete("uri", "[{\\"username\\":\\"$fU\\"}]", 7);
		$var(c) = sql_query("SELECT nosuchcolumn FROM uri");
		sl_send_reply(200, "a=$var(a) b=$var(b) c=$var(c)");
		exit;
	}
	if ($rU == "when") {
		$var(rc) = sql_query_one("SELECT CAST('2024-03-05 10:20:30' AS @@STAMP_TYPE@@), 'x'", "$var(t);$var(x)");
		sl_send_reply(200, "rc=$var(rc) t=$var(t)");
		exit;
	}
	sl_send_reply(404, "no such test");
}
"""  # noqa: E501


def start(rig: Rig, sql_server: Server, which: str = "pysips") -> None:
    mysql = sql_server.scheme == "mysql"
    values: dict[str, object] = {
        "DB_URL": sql_server.url,
        "DRIVER": "db_mysql" if mysql else "db_postgres",
        "SLEEP": "SELECT SLEEP(1.5)" if mysql else "SELECT pg_sleep(1.5)",
        "STAMP_TYPE": "DATETIME" if mysql else "TIMESTAMP",
    }
    start_server(rig, SCRIPT, "sqlops", which, values)


def send(ua: Ua, ruser: str, fuser: str) -> str:
    ua.cseq += 1
    ua.send(
        f"MESSAGE sip:{ruser}@db.test SIP/2.0\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{ua.port};branch=z9hG4bK{uuid.uuid4().hex[:10]};rport\n"
        f"Max-Forwards: 70\n"
        f"From: <sip:{fuser}@db.test>;tag=f{ua.cseq}\n"
        f"To: <sip:{ruser}@db.test>\n"
        f"Call-ID: {ua.callid}\n"
        f"CSeq: {ua.cseq} MESSAGE\n"
        f"Content-Length: 0\n\n"
    )
    return f"{ua.cseq} MESSAGE"


def reason(reply: Reply) -> str:
    return reply.text.split("\r\n", 1)[0].split(" ", 2)[2]


def test_structured_and_raw_statements(rig: Rig, sql_server: Server, sql_db: Database) -> None:
    start(rig, sql_server)
    ua = Ua(rig.ports.proxy)
    try:
        for user in ("bob", "o'neil", "alice"):
            assert reason(ua.final(callid=ua.callid, cseq=send(ua, "add", user))) == "rc=1"
        listed = reason(ua.final(cseq=send(ua, "list", "x")))
        # rows ordered by username: $avp(u)[0] is the first row, $avp(uu)[1] the second
        assert listed == "rc=1 n=3 max=o'neil first=alice last=ubob third=o'neil rc1=1 rc2=-2", listed
        changed = reason(ua.final(cseq=send(ua, "change", "alice")))
        assert changed == "a=1 b=1 c=-1", changed
        rows = sorted(sql_db.query("uri", ("username", "uri_user")))  # type: ignore[type-var]
        assert rows == [("bob", "changed"), ("o'neil", "changed")]
    finally:
        ua.close()


@pytest.mark.parametrize("which", ["pysips", "opensips"])
def test_datetime_columns_are_seconds_since_the_epoch(rig: Rig, sql_server: Server, which: str) -> None:
    """As OpenSIPS's db_mysql/db_postgres hand sqlops a DATETIME: a time_t (local time); the same
    script on the reference OpenSIPS 3.6 answers the same."""
    start(rig, sql_server, which)
    ua = Ua(rig.ports.proxy)
    try:
        stamp = int(time.mktime(time.strptime("2024-03-05 10:20:30", "%Y-%m-%d %H:%M:%S")))
        assert reason(ua.final(cseq=send(ua, "when", "x"))) == f"rc=1 t={stamp}"
    finally:
        ua.close()


def test_a_slow_query_holds_up_only_its_message(rig: Rig, sql_server: Server, sql_db: Database) -> None:
    start(rig, sql_server)
    ua = Ua(rig.ports.proxy)
    try:
        slow = send(ua, "slow", "x")
        sent = time.monotonic()
        quick = send(ua, "add", "carol")
        first = ua.final(timeout=5.0)
        first_after = time.monotonic() - sent
        second = ua.final(timeout=5.0)
        assert first.values("cseq") == [quick], first.text
        assert second.values("cseq") == [slow] and reason(second) == "slow done"
        assert first_after < 1.0, f"the quick message waited {first_after:.2f}s behind the slow query"
    finally:
        ua.close()
