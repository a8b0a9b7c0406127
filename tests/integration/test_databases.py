"""MySQL (MariaDB) and PostgreSQL behind pysips's modules, with real private servers.

Per backend: `pysips db create` makes OpenSIPS 3.6's tables and version rows; the driver binds
values (a username with quotes); a server restart costs no failed statement once it is back;
REGISTER through `pysips -f` with usrloc write-through (db_mode 1) leaves its row in `location`,
auth_db challenges and accepts against `subscriber` (quotes in the username), acc writes `acc`
rows; with the server
stopped, a write-through REGISTER answers 500 and the next one after the restart 200.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from pysips.db.api import Database, DbError, Row
from tests.integration.dbservers import Server, free_port
from tests.integration.proxy_harness import LOCALHOST, Rig, pysips_argv, render_template
from tests.integration.test_registration import Reply, Ua

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

QUOTED_USER = "o'brien\"x\\y"
DOMAIN = "db.test"


def test_create_makes_opensips_tables_and_version_rows(sql_db: Database) -> None:
    versions = dict(sql_db.query("version", ("table_name", "table_version")))  # type: ignore[arg-type]
    assert versions == {"location": 1013, "subscriber": 8, "uri": 2, "acc": 7, "missed_calls": 5,
                        "usr_preferences": 3,
                        "address": 5, "dialplan": 5, "domain": 4, "dbaliases": 2, "grp": 3,
                        "re_grp": 2, "registrant": 3, "dispatcher": 9, "load_balancer": 3,
                        "dr_gateways": 6, "dr_rules": 4, "dr_carriers": 3, "dr_groups": 2}
    assert sql_db.columns_of("location")[:4] == ["contact_id", "username", "domain", "contact"]
    assert "ha1_sha512t256" in sql_db.columns_of("subscriber")
    assert sql_db.columns_of("acc")[-2:] == ["setuptime", "created"]


def test_values_are_bound_and_ids_returned(sql_db: Database) -> None:
    first = sql_db.insert("subscriber", {"username": QUOTED_USER, "domain": DOMAIN, "password": "x'; --"})
    second = sql_db.insert("subscriber", {"username": "plain", "domain": DOMAIN, "password": "p"})
    assert second == first + 1
    assert sql_db.query("subscriber", ("password",), {"username": QUOTED_USER}) == [("x'; --",)]
    assert sql_db.update("subscriber", {"username": QUOTED_USER}, {"ha1": "h"}) == 1
    assert sql_db.query("subscriber", ("username",), [("id", ">", first)]) == [("plain",)]
    with pytest.raises(DbError):
        sql_db.insert("subscriber", {"username": "plain", "domain": DOMAIN})  # unique (username, domain)
    assert sql_db.delete("subscriber", {"domain": DOMAIN}) == 2


def test_transaction_rolls_back(sql_db: Database) -> None:
    with pytest.raises(RuntimeError), sql_db.transaction():
        sql_db.insert("uri", {"username": "a", "domain": DOMAIN, "uri_user": "a"})
        raise RuntimeError("abort")
    assert sql_db.query("uri", ("username",)) == []


def test_reconnects_after_a_server_restart(sql_server: Server, sql_db: Database) -> None:
    sql_db.insert("uri", {"username": "before", "domain": DOMAIN, "uri_user": "b"})
    # four statements at once: four pooled connections, all dead after the restart
    sleep = "SELECT SLEEP(0.3)" if sql_server.scheme == "mysql" else "SELECT pg_sleep(0.3)"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: sql_db.execute(sleep), range(4)))
    sql_server.stop()
    sql_server.start()
    assert sql_db.query("uri", ("username",)) == [("before",)]
    sql_server.stop()
    try:
        with pytest.raises(DbError, match=re.escape(str(sql_db.url).split("@")[0])):
            sql_db.query("uri", ("username",))
    finally:
        sql_server.start()
    assert sql_db.query("uri", ("username",)) == [("before",)]
    assert "opensipsrw" not in str(sql_db.url)


# ---------------------------------------------------------------------------------------------
# through pysips

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
modparam("usrloc", "db_mode", 1)
modparam("usrloc", "db_url", "@@DB_URL@@")
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("auth_db", "db_url", "@@DB_URL@@")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
loadmodule "acc.so"
modparam("acc", "db_url", "@@DB_URL@@")

route{
	if ($rd == "auth.test") {
		if (!www_authorize("auth.test", "subscriber")) {
			www_challenge("auth.test", "auth");
			exit;
		}
	}
	if (!save("location")) {
		sl_reply_error();
		exit;
	}
	acc_db_request("200 registered", "acc");
	exit;
}
"""


def start_pysips(rig: Rig, sql_server: Server) -> None:
    template = rig.workdir / "db.cfg.in"
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template.write_text(SCRIPT)
    driver = "db_mysql" if sql_server.scheme == "mysql" else "db_postgres"
    values = rig.ports.template_values(DB_URL=sql_server.url, DRIVER=driver)
    cfg = render_template(template, values, rig.workdir / "db.cfg")
    rig.start_proxy("pysips", pysips_argv(cfg))


def register(ua: Ua, user: str, domain: str, auth: str = "", expires: int = 300) -> Reply:
    ua.cseq += 1
    branch = f"z9hG4bK{uuid.uuid4().hex[:10]}"
    ua.send(
        f"REGISTER sip:{domain} SIP/2.0\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{ua.port};branch={branch};rport\n"
        f"Max-Forwards: 70\n"
        f"From: <sip:{user}@{domain}>;tag=t{ua.port}\n"
        f"To: <sip:{user}@{domain}>\n"
        f"Call-ID: {ua.callid}\n"
        f"CSeq: {ua.cseq} REGISTER\n"
        f"Contact: <{ua.contact('u')}>;expires={expires}\n"
        f"{auth}"
        f"Content-Length: 0\n\n"
    )
    return ua.final(timeout=5.0, cseq=f"{ua.cseq} REGISTER")


def poll(read: Callable[[], list[Row]], count: int, timeout: float = 5.0) -> list[Row]:
    deadline = time.monotonic() + timeout
    rows = read()
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = read()
    return rows


def digest(challenge: str, user: str, password: str, uri: str) -> str:
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    realm, nonce = params["realm"], params["nonce"]
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    cnonce, nc = "0a4f113b", "00000001"
    response = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}",'
            f' qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}"\n')


def test_register_write_through_auth_and_acc(rig: Rig, sql_server: Server, sql_db: Database) -> None:
    user = "o'neil"
    sql_db.insert("subscriber", {"username": user, "domain": "auth.test", "password": "sec'ret"})
    start_pysips(rig, sql_server)
    ua = Ua(rig.ports.proxy)
    try:
        assert register(ua, "alice", DOMAIN).status == 200
        rows = sql_db.query("location", ("username", "contact", "expires"), {"username": "alice"})
        assert [(r[0], r[1]) for r in rows] == [("alice", ua.contact("u"))]

        challenge = register(ua, user, "auth.test")
        assert challenge.status == 401, challenge.text
        www = challenge.values("www-authenticate")[0]
        ok = register(ua, user, "auth.test", digest(www, user, "sec'ret", "sip:auth.test"))
        assert ok.status == 200, ok.text
        assert sql_db.query("location", ("username",), {"username": user}) == [(user,)]
        wrong = register(ua, user, "auth.test", digest(www, user, "nope", "sip:auth.test"))
        assert wrong.status == 401

        # the accounting row is written after save() has answered: wait for it
        acc = poll(lambda: sql_db.query("acc", ("method", "callid", "sip_code", "sip_reason")), 2)
        assert acc == [("REGISTER", ua.callid, "200", "registered")] * 2

    finally:
        ua.close()


def test_database_down_answers_500_then_recovers(rig: Rig, sql_server: Server, sql_db: Database) -> None:
    start_pysips(rig, sql_server)
    ua = Ua(rig.ports.proxy)
    try:
        assert register(ua, "bob", DOMAIN).status == 200
        sql_server.stop()
        try:
            down = register(ua, "carol", DOMAIN)
            assert down.status == 500, down.text
        finally:
            sql_server.start()
        again = register(ua, "carol", DOMAIN)
        assert again.status == 200, again.text
        assert sql_db.query("location", ("username",), {"username": "carol"}) == [("carol",)]
        assert rig.proxy is not None and rig.proxy.alive()
        log = rig.proxy.log()
        assert sql_server.url.split("@")[1] in log and "opensipsrw" not in log
    finally:
        ua.close()


def test_a_database_down_at_start_is_a_start_error_naming_it(rig: Rig, sql_server: Server) -> None:
    template = rig.workdir / "db.cfg.in"
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template.write_text(SCRIPT)
    driver = "db_mysql" if sql_server.scheme == "mysql" else "db_postgres"
    dead = sql_server.url.replace(f":{sql_server.port}/", f":{free_port()}/")
    cfg = render_template(template, rig.ports.template_values(DB_URL=dead, DRIVER=driver),
                          rig.workdir / "db.cfg")
    done = subprocess.run(pysips_argv(cfg), capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert dead.replace(":opensipsrw@", ":***@") in output and "opensipsrw" not in output, output
