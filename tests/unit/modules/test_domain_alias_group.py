"""domain, alias_db and group from a script over SQLite tables made by `pysips db create`."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.domain import DomainRow, lookup_names
from pysips.db.admin import create, open_url
from pysips.script.compile import check_script, load_script
from pysips.script.context import MsgContext, ProcessState, Value
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo


def test_domain_names_and_matching() -> None:
    assert list(lookup_names("a.b.example.com")) == ["a.b.example.com", "b.example.com",
                                                      "example.com"]
    assert list(lookup_names("localhost")) == ["localhost"]
    sub = DomainRow("Example.com", None, True)
    assert sub.matches("example.COM") and sub.matches("a.example.com")
    assert not sub.matches("badexample.com")
    assert not DomainRow("example.com", None, False).matches("a.example.com")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "policy.db"
    db = open_url(f"sqlite:///{path}")
    create(db, ["domain", "alias_db", "group"])
    db.insert("domain", {"domain": "local.test", "attrs": "tenant=1", "accept_subdomain": 0})
    db.insert("domain", {"domain": "corp.test", "accept_subdomain": 1})
    db.insert("dbaliases", {"alias_username": "sales", "alias_domain": "local.test",
                            "username": "alice", "domain": "local.test"})
    db.insert("dbaliases", {"alias_username": "support", "alias_domain": "other.test",
                            "username": "bob", "domain": "local.test"})
    db.insert("grp", {"username": "alice", "domain": "local.test", "grp": "intl"})
    db.insert("re_grp", {"reg_exp": "^sip:a.*@local\\.test$", "group_id": 7})
    db.insert("re_grp", {"reg_exp": "@local\\.test$", "group_id": 3})
    db.close()
    return path


SCRIPT = """
listen=udp:127.0.0.1:5060
loadmodule "db_sqlite.so"
loadmodule "domain.so"
loadmodule "alias_db.so"
loadmodule "group.so"
modparam("domain", "db_url", "sqlite:///@@DB@@")
modparam("domain", "db_mode", @@MODE@@)
modparam("alias_db", "db_url", "sqlite:///@@DB@@")
modparam("group", "db_url", "sqlite:///@@DB@@")
modparam("group", "use_domain", 1)
modparam("group", "re_table", "re_grp")
route {
    $var(attrs) = "none";
    if (is_uri_host_local($var(attrs))) $var(ruri_local) = 1; else $var(ruri_local) = -1;
    if (is_from_local()) $var(from_local) = 1; else $var(from_local) = -1;
    if (is_domain_local("x.y.corp.test")) $var(sub) = 1; else $var(sub) = -1;
    if (db_is_user_in("From", "intl")) $var(intl) = 1; else $var(intl) = -1;
    if (is_user_in("From", "intl")) $var(intl_1x) = 1; else $var(intl_1x) = -1;
    if (db_get_user_group("From", $avp(gid))) $var(gids) = $(avp(gid)[*]);
    if (alias_db_find("dbaliases", "sip:support@elsewhere.test", $var(found), "d"))
        $var(support) = $var(found);
    if (alias_db_find("dbaliases", "sip:alice@local.test", $var(rev), "r")) $var(alias) = $var(rev);
    if (alias_db_lookup("dbaliases")) $var(ru) = $ru; else $var(ru) = "unchanged";
}
"""


def run(db_path: Path, ruri: str, sender: str, mode: int = 0) -> dict[str, Value]:
    text = SCRIPT.replace("@@DB@@", str(db_path)).replace("@@MODE@@", str(mode))
    loaded = load_script(parse_text(text, "p.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    msg = parse_message((
        f"INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\n"
        f"From: <{sender}>;tag=1\r\nTo: <{ruri}>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        "Content-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, SipMessage)
    ctx = MsgContext(process, msg, ReceiveInfo("udp", "127.0.0.1", 5060, "1.2.3.4", 5060))
    assert loaded.main_route is not None
    loaded.run(loaded.main_route, ctx)
    return dict(process.vars)


@pytest.mark.parametrize("mode", [0, 1])
def test_local_user_calling_an_alias(db_path: Path, mode: int) -> None:
    found = run(db_path, "sip:sales@local.test:5070;transport=udp", "sip:alice@local.test", mode)
    assert found["ruri_local"] == 1 and found["attrs"] == "tenant=1"
    assert found["from_local"] == 1 and found["sub"] == 1
    assert found["intl"] == 1 and found["intl_1x"] == 1
    # every matching expression (multiple_gid), the newest row first: gid 3 added, then 7
    assert found["gids"] == "7, 3"
    assert found["support"] == "sip:bob@local.test"
    assert found["alias"] == "sip:sales@local.test"
    assert found["ru"] == "sip:alice@local.test"


def test_foreign_caller_and_unknown_alias(db_path: Path) -> None:
    found = run(db_path, "sip:nobody@remote.test", "sip:eve@remote.test")
    assert found["ruri_local"] == -1 and found["attrs"] == "none"
    assert found["from_local"] == -1 and found["intl"] == -1
    assert "gids" not in found
    assert found["ru"] == "unchanged"


def test_bad_alias_flag_is_a_load_error() -> None:
    report = check_script(parse_text(
        'loadmodule "alias_db.so"\nroute { alias_db_lookup("dbaliases", "x"); }\n', "a.cfg"))
    assert not report.ok
