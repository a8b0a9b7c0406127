"""uri (the 2.x module): it loads with its parameters; its database checks run over db_url (SQLite
here); its AAA checks are load errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pysips.script.compile import check_script, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.loader import ModuleFinder
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

HEAD = 'listen=udp:127.0.0.1:5060\nloadmodule "uri.so"\nmodparam("uri", "use_uri_table", 0)\n'


def test_seed_modparam_loads() -> None:
    loaded = load_script(parse_text(HEAD + "route { exit; }\n", "u.cfg"))
    assert loaded.modules["uri"].params["use_uri_table"] == 0
    assert loaded.modules["uri"].params["db_table"] == "subscriber"


@pytest.mark.parametrize("call", ["aaa_does_uri_exist()", "aaa_does_uri_user_exist($ru)"])
def test_aaa_functions_are_load_errors_naming_the_function(call: str) -> None:
    report = check_script(parse_text(HEAD + f"route {{\n  if ({call}) exit;\n}}\n", "u.cfg"))
    assert not report.ok
    errors = [p for p in report.problems if not p.warning]
    name = call.split("(")[0]
    assert any(name in p.message and (p.pos.file, p.pos.line) == ("u.cfg", 5) for p in errors), errors


def test_unknown_param_is_a_load_error() -> None:
    report = check_script(parse_text(HEAD + 'modparam("uri", "no_such", 1)\nroute { exit; }\n', "u.cfg"))
    assert not report.ok


def _ctx(ruri: str) -> MsgContext:
    text = (
        f"INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-1\r\nFrom: <sip:a@b>;tag=1\r\n"
        "To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, SipMessage)
    return MsgContext(ProcessState(), msg, ReceiveInfo("udp", "127.0.0.1", 5060, "10.0.0.2", 5060))


def test_has_user_part_and_uri_param() -> None:
    found = ModuleFinder().find("uri")
    assert found is not None
    fns = found.exports.functions_by_name
    assert fns["has_user_part"].handler(_ctx("sip:bob@example.com")) == 1
    assert fns["has_user_part"].handler(_ctx("sip:example.com")) == -1
    ctx = _ctx("sip:example.com;user=phone;lr")
    assert fns["uri_param"].handler(ctx, "user", "phone") == 1
    assert fns["uri_param"].handler(ctx, "lr") == 1
    assert fns["uri_param"].handler(ctx, "user", "ip") == -1
    assert fns["uri_param"].handler(ctx, "maddr") == -1


def _sqlite(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    db = tmp_path / "uri.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE subscriber (id INTEGER PRIMARY KEY, username TEXT, domain TEXT);"
            "INSERT INTO subscriber (username, domain) VALUES ('bob', 'example.com');"
            "CREATE TABLE uri (id INTEGER PRIMARY KEY, username TEXT, domain TEXT, uri_user TEXT);"
            "INSERT INTO uri (username, domain, uri_user) VALUES ('bob', 'example.com', 'sales');"
        )
    return db


def _run(tmp_path: Path, params: str, body: str, extra_headers: str = "", authorized: bool = False) -> str:
    db = _sqlite(tmp_path)
    head = ('listen=udp:127.0.0.1:5060\nloadmodule "uri.so"\nloadmodule "db_sqlite.so"\n'
            f'modparam("uri", "db_url", "sqlite://{db}")\n{params}')
    loaded = load_script(parse_text(head + "route {\n" + body + "\n}\n", "u.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    text = (
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-1\r\n"
        "From: <sip:sales@example.com>;tag=1\r\nTo: <sip:Bob@example.com>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
        + extra_headers + "Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, SipMessage)
    ctx = MsgContext(process, msg, ReceiveInfo("udp", "127.0.0.1", 5060, "10.0.0.2", 5060))
    if authorized:
        # what www_authorize()/proxy_authorize() leave when they accept credentials
        ctx.extra["auth.authorized"] = ("proxy-authorization", 0)
    route = loaded.main_route
    assert route is not None
    loaded.run(route, ctx)
    return str(process.vars.get("out"))


CREDS = ('Proxy-Authorization: Digest username="bob", realm="example.com", nonce="n", uri="sip:x",'
         ' response="r"\r\n')


def test_db_does_uri_exist_subscriber_and_uri_table(tmp_path: Path) -> None:
    body = '$var(out) = "none"; if (db_does_uri_exist()) $var(out) = "yes"; else $var(out) = "no";'
    assert _run(tmp_path / "a", "", body) == "yes"
    assert _run(tmp_path / "b", "", '$ru = "sip:alice@example.com";' + body) == "no"
    domain = 'modparam("uri", "use_domain", 1)\n'
    assert _run(tmp_path / "c", domain, '$ru = "sip:bob@other.org";' + body) == "no"
    uri_table = 'modparam("uri", "use_uri_table", 1)\nmodparam("uri", "db_table", "uri")\n'
    assert _run(tmp_path / "d", uri_table, '$ru = "sip:sales@example.com";' + body) == "yes"


def test_db_check_from_and_to(tmp_path: Path) -> None:
    check = ('$var(out) = "";'
             'if (db_check_from()) $var(out) = "from-ok"; else $var(out) = "from-no";'
             'if (db_check_to()) $var(out) = $var(out) + ",to-ok"; else $var(out) = $var(out) + ",to-no";')
    # without the uri table: the URI user must be the digest user (To has "Bob")
    assert _run(tmp_path / "a", "", check, CREDS, authorized=True) == "from-no,to-ok"
    uri_table = 'modparam("uri", "use_uri_table", 1)\nmodparam("uri", "db_table", "uri")\n'
    assert _run(tmp_path / "b", uri_table, check, CREDS, authorized=True) == "from-ok,to-no"
    # no credentials accepted by www/proxy_authorize(): both fail
    assert _run(tmp_path / "c", "", check, CREDS, authorized=False) == "from-no,to-no"


def test_db_get_auth_id(tmp_path: Path) -> None:
    uri_table = 'modparam("uri", "use_uri_table", 1)\nmodparam("uri", "db_table", "uri")\n'
    body = ('if (db_get_auth_id("sip:sales@example.com", $avp(u), $avp(r)))'
            ' $var(out) = $avp(u) + "@" + $avp(r);'
            'if (!db_get_auth_id("sip:nobody@example.com", $avp(u), $avp(r)))'
            ' $var(out) = $var(out) + " nobody";')
    assert _run(tmp_path, uri_table, body) == "bob@example.com nobody"
