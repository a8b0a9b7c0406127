"""avpops (2.x) and sqlops's sql_avp_* through `pysips -f` on MariaDB and PostgreSQL: user
preferences stored and loaded over OpenSIPS's usr_preferences table (a quote in the user name is
bound, not spliced), avp_db_query results into AVPs, and a stopped server making the functions
return -1 while the script goes on."""

from __future__ import annotations

import pytest

from pysips.db.api import Database
from tests.integration.dbservers import Server
from tests.integration.proxy_harness import Rig, pysips_argv, render_template
from tests.integration.test_registration import Ua
from tests.integration.test_sqlops import reason, send

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
loadmodule "@@DRIVER@@.so"
loadmodule "avpops.so"
loadmodule "sqlops.so"
modparam("avpops", "db_url", "@@DB_URL@@")
modparam("avpops", "use_domain", 1)
modparam("sqlops", "db_url", "@@DB_URL@@")

route{
	if ($rU == "store") {
		$avp(fwd) = "sip:vm@db.test";
		$avp(fwd) = 5;
		$var(a) = avp_db_store("$fu", "$avp(fwd)");
		$avp(lang) = "fr";
		$var(b) = sql_avp_store("uuid-1", "$avp(lang)");
		sl_send_reply(200, "a=$var(a) b=$var(b)");
		exit;
	}
	if ($rU == "load") {
		$var(a) = avp_db_load("$fu", "$avp(fwd)");
		$var(b) = avp_db_load("$fu/username", "*", , "p_");
		$var(c) = avp_db_query("SELECT attribute FROM usr_preferences WHERE value = 'fr'", "$avp(attr)");
		sl_send_reply(200, "a=$var(a) b=$var(b) c=$var(c) fwd=$(avp(fwd)[*]) p=$(avp(p_fwd)[*]) attr=$avp(attr)");
		exit;
	}
	if ($rU == "drop") {
		$var(a) = avp_db_delete("$fu", "$avp(fwd)");
		$var(b) = avp_db_load("$fu", "$avp(fwd)");
		sl_send_reply(200, "a=$var(a) b=$var(b)");
		exit;
	}
	sl_send_reply(404, "no such test");
}
"""  # noqa: E501


def start(rig: Rig, sql_server: Server) -> None:
    template = rig.workdir / "avpops.cfg.in"
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template.write_text(SCRIPT)
    values = rig.ports.template_values(
        DB_URL=sql_server.url, DRIVER="db_mysql" if sql_server.scheme == "mysql" else "db_postgres")
    rig.start_proxy("pysips", pysips_argv(render_template(template, values, rig.workdir / "avpops.cfg")))


def test_preferences_on_a_real_server(rig: Rig, sql_server: Server, sql_db: Database) -> None:
    start(rig, sql_server)
    ua = Ua(rig.ports.proxy)
    try:
        assert reason(ua.final(cseq=send(ua, "store", "o'neil"))) == "a=1 b=1"
        rows = sorted(sql_db.query("usr_preferences",
                                   ("uuid", "username", "domain", "attribute", "type", "value")))  # type: ignore[type-var]
        assert rows == [("", "o'neil", "db.test", "fwd", 0, "sip:vm@db.test"),
                        ("", "o'neil", "db.test", "fwd", 1, "5"),
                        ("uuid-1", "", "", "lang", 0, "fr")], rows
        loaded = reason(ua.final(cseq=send(ua, "load", "o'neil")))
        assert loaded in ("a=1 b=1 c=1 fwd=5, sip:vm@db.test p=5, sip:vm@db.test attr=lang",
                          "a=1 b=1 c=1 fwd=sip:vm@db.test, 5 p=sip:vm@db.test, 5 attr=lang"), loaded
        assert reason(ua.final(cseq=send(ua, "drop", "o'neil"))) == "a=1 b=-1"
        assert [r[0] for r in sql_db.query("usr_preferences", ("attribute",))] == ["lang"]
    finally:
        ua.close()


def test_server_stopped_mid_run_functions_fail_and_the_script_goes_on(
        rig: Rig, sql_server: Server, sql_db: Database) -> None:
    start(rig, sql_server)
    ua = Ua(rig.ports.proxy)
    try:
        assert reason(ua.final(cseq=send(ua, "store", "dave"))) == "a=1 b=1"
        sql_server.stop()
        try:
            # every database function returns -1; the reply is still sent
            assert reason(ua.final(cseq=send(ua, "drop", "dave"), timeout=15.0)) == "a=-1 b=-1"
        finally:
            sql_server.start()
        assert reason(ua.final(cseq=send(ua, "drop", "dave"))) == "a=1 b=-1"  # reconnected
        assert rig.proxy is not None and rig.proxy.alive()
        log = rig.proxy.log()
        assert "avp_db_delete failed" in log and "avp_db_load failed" in log, log[-2000:]
        assert "opensipsrw" not in log
    finally:
        ua.close()
