"""db_text against the real OpenSIPS 3.6 (the reference build has db_text.so): pysips writes a
db_text folder in OpenSIPS's format (`pysips db create`, a subscriber, a REGISTER saved
write-through, a user preference with ':' in it through avpops, an acc row); OpenSIPS started on
that folder authenticates the same user, finds the binding and loads the preference (sqlops's
sql_avp_load, 3.6's name for avp_db_load); when OpenSIPS stops it writes its tables back, and
pysips reads them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pysips.db import admin
from tests.integration.proxy_harness import Rig, rig_in
from tests.integration.reference_server import authenticated_register, start_server
from tests.integration.test_db_differential import message
from tests.integration.test_registration import Ua

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
loadmodule "tm.so"
loadmodule "db_text.so"
loadmodule "usrloc.so"
modparam("usrloc", "working_mode_preset", "single-instance-sql-write-through")
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
loadmodule "@@PREFS@@.so"
modparam("@@PREFS@@", "db_url", "@@DB_URL@@")

route{
	if ($rm == "REGISTER") {
		if (!www_authorize("auth.test", "subscriber")) {
			www_challenge("auth.test", "auth");
			exit;
		}
		if (!save("location"))
			sl_reply_error();
		exit;
	}
	if ($rU == "store") {
		$avp(fwd) = "sip:vm@db.test:5070;a=b";
		$var(rc) = @@PREFS_PREFIX@@_store("$fu", "$avp(fwd)");
		sl_send_reply(200, "stored $var(rc)");
		exit;
	}
	@@PREFS_PREFIX@@_load("$fu", "$avp(fwd)");
	if (!lookup("location")) {
		sl_send_reply(404, "Not Found");
		exit;
	}
	acc_db_request("200 found", "acc");
	sl_send_reply(200, "found $ru pref=$avp(fwd)");
}
"""


def start(rig: Rig, folder: Path, which: str) -> None:
    opensips = which == "opensips"
    values: dict[str, object] = {"DB_URL": f"text://{folder}", "PREFS": "sqlops" if opensips else "avpops",
                                 "PREFS_PREFIX": "sql_avp" if opensips else "avp_db"}
    start_server(rig, SCRIPT, "text", which, values, needs=("db_text",))


# With a User-Agent: db_text cannot hold an empty text in a NOT NULL column (OpenSIPS reads the
# empty field as NULL and refuses the row), and location.user_agent is one.
USER_AGENT = "User-Agent: phone\n"


def store(ua: Ua) -> str:
    return message(ua, "store", "store-1")


def test_opensips_reads_the_db_text_folder_pysips_wrote(rig: Rig, tmp_path: Path) -> None:
    folder = tmp_path / "dbtext"
    folder.mkdir()
    done = subprocess.run([sys.executable, "-m", "pysips", "db", "create", f"text://{folder}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    # OpenSIPS reads an empty field as NULL and refuses NULL in a column not declared `null`, so
    # preferences kept by username leave `uuid` and `domain` empty: a db_text deployment declares
    # them nullable (OpenSIPS's shipped header does not; pysips reads either)
    prefs = folder / "usr_preferences"
    prefs.write_text(prefs.read_text().replace("uuid(string)", "uuid(string,null)")
                     .replace("domain(string)", "domain(string,null)"))
    db = admin.open_url(f"text://{folder}")
    user = "o'neil"
    # every text filled (see above); calculate_ha1 makes both servers use the password
    db.insert("subscriber", {"username": user, "domain": "auth.test", "password": "p:w", "ha1": "-",
                             "ha1_sha256": "-", "ha1_sha512t256": "-"})
    start(rig, folder, "pysips")
    phone = Ua(rig.ports.proxy)
    try:
        assert authenticated_register(phone, user, "p:w", USER_AGENT) == 200
        assert store(Ua(rig.ports.proxy)) == "stored 1"
        # pysips's own lookup of the binding, accounted into the acc file
        assert message(Ua(rig.ports.proxy), user, "from-pysips") == \
            f"found {phone.contact('u')} pref=sip:vm@db.test:5070;a=b"
        assert rig.proxy is not None
        rig.proxy.stop()
        rows = db.query("usr_preferences", ("username", "attribute", "value"))
        assert rows == [("caller", "fwd", "sip:vm@db.test:5070;a=b")]
        assert "sip\\:vm@db.test\\:5070;a=b" in (folder / "usr_preferences").read_text()

        with rig_in(tmp_path / "opensips") as rig_b:
            start(rig_b, folder, "opensips")
            caller = Ua(rig_b.ports.proxy)
            other = Ua(rig_b.ports.proxy)
            try:
                # OpenSIPS loaded pysips's binding and preference rows, and authenticates the user
                assert message(caller, user, "from-opensips") == \
                    f"found {phone.contact('u')} pref=sip:vm@db.test:5070;a=b"
                assert authenticated_register(other, user, "p:w", USER_AGENT) == 200
            finally:
                caller.close()
                other.close()
            # OpenSIPS writes its db_text tables back when it stops: pysips reads them
            assert rig_b.proxy is not None
            rig_b.proxy.stop()
        contacts = sorted(str(r[0]) for r in db.query("location", ("contact",), {"username": user}))
        assert len(contacts) == 2 and phone.contact("u") in contacts, contacts
        # pysips's acc row survived OpenSIPS's load and write-back of the acc file (OpenSIPS's own
        # acc_db_request row is refused by its db_text: it leaves the NOT NULL duration empty)
        columns = ("method", "from_tag", "to_tag", "sip_code", "sip_reason")
        by_callid = {r[0]: r[1:] for r in db.query("acc", ("callid", *columns))}
        assert by_callid["from-pysips"] == ("MESSAGE", "fromtag", "totag", "200", "found"), by_callid
    finally:
        phone.close()
