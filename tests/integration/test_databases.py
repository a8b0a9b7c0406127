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
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from pysips.db import admin
from pysips.db.api import Database, DbError, Row
from tests.integration.dbservers import (  # noqa: F401  (session fixtures)
    MariaDb,
    Postgres,
    Server,
    mariadb,
    postgres,
)
from tests.integration.proxy_harness import LOCALHOST, Rig, pysips_argv, render_template
from tests.integration.test_registration import Reply, Ua

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

QUOTED_USER = "o'brien\"x\\y"
DOMAIN = "db.test"


@pytest.fixture(params=["mysql", "postgres"])
def server(request: pytest.FixtureRequest) -> Server:
    fixture = "mariadb" if request.param == "mysql" else "postgres"
    found = request.getfixturevalue(fixture)
    assert isinstance(found, Server)
    return found


@pytest.fixture
def db(server: Server) -> Iterator[Database]:
    """A connection to a database with freshly created OpenSIPS tables."""
    subprocess.run([sys.executable, "-m", "pysips", "db", "drop", server.url], check=True,
                   capture_output=True, timeout=60)
    done = subprocess.run([sys.executable, "-m", "pysips", "db", "create", server.url], check=True,
                          capture_output=True, text=True, timeout=60)
    assert "created" in done.stdout and "location" in done.stdout, done.stdout + done.stderr
    conn = admin.open_url(server.url)
    yield conn
    conn.close()


def test_create_makes_opensips_tables_and_version_rows(db: Database) -> None:
    versions = dict(db.query("version", ("table_name", "table_version")))  # type: ignore[arg-type]
    assert versions == {"location": 1013, "subscriber": 8, "uri": 2, "acc": 7, "missed_calls": 5}
    assert db.columns_of("location")[:4] == ["contact_id", "username", "domain", "contact"]
    assert "ha1_sha512t256" in db.columns_of("subscriber")
    assert db.columns_of("acc")[-2:] == ["setuptime", "created"]


def test_values_are_bound_and_ids_returned(db: Database) -> None:
    first = db.insert("subscriber", {"username": QUOTED_USER, "domain": DOMAIN, "password": "x'; --"})
    second = db.insert("subscriber", {"username": "plain", "domain": DOMAIN, "password": "p"})
    assert second == first + 1
    assert db.query("subscriber", ("password",), {"username": QUOTED_USER}) == [("x'; --",)]
    assert db.update("subscriber", {"username": QUOTED_USER}, {"ha1": "h"}) == 1
    assert db.query("subscriber", ("username",), [("id", ">", first)]) == [("plain",)]
    with pytest.raises(DbError):
        db.insert("subscriber", {"username": "plain", "domain": DOMAIN})  # unique (username, domain)
    assert db.delete("subscriber", {"domain": DOMAIN}) == 2


def test_transaction_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction():
        db.insert("uri", {"username": "a", "domain": DOMAIN, "uri_user": "a"})
        raise RuntimeError("abort")
    assert db.query("uri", ("username",)) == []


def test_reconnects_after_a_server_restart(server: Server, db: Database) -> None:
    db.insert("uri", {"username": "before", "domain": DOMAIN, "uri_user": "b"})
    server.stop()
    try:
        with pytest.raises(DbError, match=re.escape(str(db.url).split("@")[0])):
            db.query("uri", ("username",))
    finally:
        server.start()
    assert db.query("uri", ("username",)) == [("before",)]
    assert "opensipsrw" not in str(db.url)


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


def start_pysips(rig: Rig, server: Server) -> None:
    template = rig.workdir / "db.cfg.in"
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template.write_text(SCRIPT)
    driver = "db_mysql" if server.scheme == "mysql" else "db_postgres"
    values = rig.ports.template_values(DB_URL=server.url, DRIVER=driver)
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


def test_register_write_through_auth_and_acc(rig: Rig, server: Server, db: Database) -> None:
    user = "o'neil"
    db.insert("subscriber", {"username": user, "domain": "auth.test", "password": "sec'ret"})
    start_pysips(rig, server)
    ua = Ua(rig.ports.proxy)
    try:
        assert register(ua, "alice", DOMAIN).status == 200
        rows = db.query("location", ("username", "contact", "expires"), {"username": "alice"})
        assert [(r[0], r[1]) for r in rows] == [("alice", ua.contact("u"))]

        challenge = register(ua, user, "auth.test")
        assert challenge.status == 401, challenge.text
        www = challenge.values("www-authenticate")[0]
        ok = register(ua, user, "auth.test", digest(www, user, "sec'ret", "sip:auth.test"))
        assert ok.status == 200, ok.text
        assert db.query("location", ("username",), {"username": user}) == [(user,)]
        wrong = register(ua, user, "auth.test", digest(www, user, "nope", "sip:auth.test"))
        assert wrong.status == 401

        # the accounting row is written after save() has answered: wait for it
        acc = poll(lambda: db.query("acc", ("method", "callid", "sip_code", "sip_reason")), 2)
        assert acc == [("REGISTER", ua.callid, "200", "registered")] * 2

    finally:
        ua.close()


def test_database_down_answers_500_then_recovers(rig: Rig, server: Server, db: Database) -> None:
    start_pysips(rig, server)
    ua = Ua(rig.ports.proxy)
    try:
        assert register(ua, "bob", DOMAIN).status == 200
        server.stop()
        try:
            down = register(ua, "carol", DOMAIN)
            assert down.status == 500, down.text
        finally:
            server.start()
        again = register(ua, "carol", DOMAIN)
        assert again.status == 200, again.text
        assert db.query("location", ("username",), {"username": "carol"}) == [("carol",)]
        assert rig.proxy is not None and rig.proxy.alive()
        log = rig.proxy.log()
        assert server.url.split("@")[1] in log and "opensipsrw" not in log
    finally:
        ua.close()
