"""permissions, dialplan, domain, alias_db and group over MySQL (MariaDB) and PostgreSQL.

`pysips db create` makes OpenSIPS 3.6's tables on a private server (the sql_db fixture, once per
backend); rows go in through the Database API; a script using all five modules then answers from
them, as the SQLite tests do.
"""

from __future__ import annotations

import pytest

from pysips.db.api import Database
from pysips.script.compile import load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo
from tests.integration.dbservers import Server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SCRIPT = """
listen=udp:127.0.0.1:5060
loadmodule "db_mysql.so"
loadmodule "db_postgres.so"
loadmodule "permissions.so"
loadmodule "dialplan.so"
loadmodule "domain.so"
loadmodule "alias_db.so"
loadmodule "group.so"
modparam("permissions", "db_url", "@@URL@@")
modparam("dialplan", "db_url", "@@URL@@")
modparam("domain", "db_url", "@@URL@@")
modparam("alias_db", "db_url", "@@URL@@")
modparam("group", "db_url", "@@URL@@")
modparam("group", "re_table", "re_grp")
route {
    if (check_source_address(0, $var(info))) $var(source) = $var(info);
    if (dp_translate(1, "0721555", $var(out), $var(attrs))) $var(dp) = $var(out) + "/" + $var(attrs);
    if (is_uri_host_local()) $var(local) = 1;
    if (db_is_user_in("From", "intl")) $var(intl) = 1;
    if (db_get_user_group("From", $avp(gid))) $var(gid) = $avp(gid);
    if (alias_db_lookup("dbaliases")) $var(ru) = $ru;
}
"""


def fill(db: Database) -> None:
    db.insert("address", {"grp": 3, "ip": "10.1.0.0", "mask": 16, "port": 0, "proto": "any",
                          "context_info": "office"})
    db.insert("dialplan", {"dpid": 1, "pr": 1, "match_op": 1, "match_exp": "^07",
                           "match_flags": 0, "subst_exp": "^0(.*)$", "repl_exp": "+40\\1",
                           "attrs": "ro-mobile", "disabled": 0})
    db.insert("domain", {"domain": "example.com", "accept_subdomain": 0})
    db.insert("dbaliases", {"alias_username": "sales", "alias_domain": "example.com",
                            "username": "alice", "domain": "example.com"})
    db.insert("grp", {"username": "alice", "domain": "example.com", "grp": "intl"})
    db.insert("re_grp", {"reg_exp": "^sip:alice@", "group_id": 5})


def test_policy_modules_answer_from_the_server(sql_db: Database, sql_server: Server) -> None:
    fill(sql_db)
    loaded = load_script(parse_text(SCRIPT.replace("@@URL@@", sql_server.url), "p.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    msg = parse_message(
        b"INVITE sip:sales@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.2.3;branch=z9hG4bK1\r\n"
        b"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:sales@example.com>\r\nCall-ID: c\r\n"
        b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(msg, SipMessage)
    ctx = MsgContext(process, msg, ReceiveInfo("udp", "127.0.0.1", 5060, "10.1.2.3", 5060))
    assert loaded.main_route is not None
    loaded.run(loaded.main_route, ctx)
    found = process.vars
    assert found["source"] == "office"
    assert found["dp"] == "+40721555/ro-mobile"
    assert found["local"] == 1 and found["intl"] == 1 and found["gid"] == 5
    assert found["ru"] == "sip:alice@example.com"
