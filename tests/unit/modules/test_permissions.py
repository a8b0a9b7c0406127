"""permissions: address matching in OpenSIPS's order, rule files, partitions, and the script
functions over a SQLite address table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from modules.permissions import w_allow_register, w_allow_routing, w_allow_uri
from modules.permissions.address import AddressTable, entry_from_row, parse_ip
from modules.permissions.rules import RulePair, parse_line, parse_rules, search
from modules.permissions.runtime import Permissions, parse_partition
from pysips.db.admin import create, open_url
from pysips.script.compile import check_script, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.errors import FixupError
from pysips.script.parse import parse_text
from pysips.script.posixfnmatch import fnmatch_period
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

ROWS = [  # ip, grp, mask, port, proto, pattern, context_info, id
    ("10.0.0.0", 1, 8, 0, "any", None, "ten", 1),
    ("10.1.2.3", 1, 32, 5060, "udp", None, "exact", 2),
    ("192.168.1.10", 2, 32, 0, "tcp", "sip:*@example.com", "pat", 3),
    ("2001:db8::1", 3, 128, 0, "any", None, "v6", 4),
    ("bad-ip", 4, 32, 0, "any", None, "skipped", 5),
    ("10.0.0.1", 4, 40, 0, "any", None, "mask too long", 6),
    ("10.0.0.1", 4, 32, 0, "none", None, "proto none", 7),
]


def table() -> AddressTable:
    return AddressTable.from_rows(ROWS)


def ip(text: str):  # type: ignore[no-untyped-def]
    found = parse_ip(text)
    assert found is not None
    return found


def test_rows_opensips_ignores_are_left_out() -> None:
    assert sorted(table().groups) == [1, 2, 3]
    assert entry_from_row(ROWS[4]) is None and entry_from_row(ROWS[5]) is None


def test_exact_address_answers_before_its_subnet() -> None:
    found = table().match(1, ip("10.1.2.3"), 5060, "udp", None)
    assert not isinstance(found, int) and found.context_info == "exact"
    found = table().match(1, ip("10.1.2.3"), 5061, "udp", None)
    assert not isinstance(found, int) and found.context_info == "ten"


def test_port_and_proto_zero_or_any_match_everything() -> None:
    assert not isinstance(table().match(1, ip("10.1.2.3"), 0, "any", None), int)
    assert table().match(1, ip("11.0.0.1"), 0, "any", None) == -1


def test_unknown_group_is_minus_two_and_group_zero_is_any() -> None:
    assert table().match(9, ip("10.0.0.1"), 0, "any", None) == -2
    found = table().match(0, ip("2001:db8::1"), 5060, "tls", None)
    assert not isinstance(found, int) and found.context_info == "v6"


def test_pattern_is_checked_only_when_both_sides_have_one() -> None:
    t = table()
    assert not isinstance(t.match(2, ip("192.168.1.10"), 1, "tcp", "sip:bob@example.com"), int)
    assert t.match(2, ip("192.168.1.10"), 1, "tcp", "sip:bob@other.com") == -1
    assert not isinstance(t.match(2, ip("192.168.1.10"), 1, "tcp", None), int)
    assert t.match(2, ip("192.168.1.10"), 1, "udp", None) == -1


def test_get_source_group_ignores_the_protocol() -> None:
    assert table().find_group(ip("192.168.1.10"), 5060) == 2
    assert table().find_group(ip("8.8.8.8"), 5060) is None


def test_fnmatch_period_needs_a_literal_leading_dot() -> None:
    assert fnmatch_period("*.com", "a.com")
    assert not fnmatch_period("*", ".hidden")
    assert fnmatch_period(".*", ".hidden")
    assert fnmatch_period("[[:digit:]]?\\*", "1a*")


def test_rule_lines() -> None:
    rule = parse_line('ALL : "^sip:361[0-9]*@abc\\.com$" EXCEPT "^sip:3613@abc\\.com$"  # c')
    assert rule is not None and rule.left is None
    assert rule.applies("sip:x@y", "sip:3612@ABC.com")
    assert not rule.applies("sip:x@y", "sip:3613@abc.com")
    assert parse_line("   # only a comment") is None
    rules = parse_rules('"^sip:a@" , "^sip:b@" : ALL\nbroken line\n', "t.allow")
    assert len(rules) == 1 and search(rules, "sip:b@h", "anything")
    assert not search(None, "sip:b@h", "x")


def test_partition_definitions() -> None:
    spec = parse_partition("pstn: db_url=sqlite:////tmp/p.db; table_name=addr2")
    assert (spec.name, spec.url, spec.table) == ("pstn", "sqlite:////tmp/p.db", "addr2")
    assert parse_partition("bare").url is None
    with pytest.raises(FixupError):
        parse_partition("x: colour=blue")


SCRIPT = """
listen=udp:127.0.0.1:5060
loadmodule "db_sqlite.so"
loadmodule "permissions.so"
modparam("permissions", "db_url", "sqlite:///@@DB@@")
modparam("permissions", "partition", "other: table_name=address2")
route {
    $var(info) = "none";
    $var(g) = "none";
    if (check_source_address(1, $var(info))) $var(src) = 1; else $var(src) = -1;
    get_source_group($var(g));
    if (check_address(0, "10.1.2.3", 5060, "udp", $var(ctx))) $var(addr) = 1;
    if (check_address(0, "10.9.9.9", 0, "", , , "other")) $var(other) = 1; else $var(other) = -1;
    if (allow_routing("@@RULES@@")) $var(routing) = 1; else $var(routing) = -1;
}
"""


def _db(path: Path) -> None:
    db = open_url(f"sqlite:///{path}")
    create(db, ["permissions"])
    db.close()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE address2 AS SELECT * FROM address WHERE 0")
    for row in [*ROWS[:2], ("10.0.0.5", 1, 32, 0, "any", None, "source", 8)]:
        conn.execute("INSERT INTO address (ip, grp, mask, port, proto, pattern, context_info, id)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    conn.commit()
    conn.close()


def _run(tmp_path: Path, source: str, ruri: str = "sip:bob@example.com") -> dict[str, object]:
    db = tmp_path / "perm.db"
    if not db.exists():
        _db(db)
    (tmp_path / "r.allow").write_text('"^sip:alice@" : "^sip:bob@"\n')
    (tmp_path / "r.deny").write_text('ALL : ALL\n')
    text = SCRIPT.replace("@@DB@@", str(db)).replace("@@RULES@@", "r")
    loaded = load_script(parse_text(text, str(tmp_path / "p.cfg")))
    process = ProcessState()
    loaded.init_modules(process)
    msg = parse_message((
        f"INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {source};branch=z9hG4bK1\r\n"
        "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c\r\n"
        "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, SipMessage)
    ctx = MsgContext(process, msg, ReceiveInfo("udp", "127.0.0.1", 5060, source, 5060))
    assert loaded.main_route is not None
    loaded.run(loaded.main_route, ctx)
    return dict(process.vars)


def test_script_functions_over_sqlite(tmp_path: Path) -> None:
    found = _run(tmp_path, "10.0.0.5")
    assert found["src"] == 1 and found["info"] == "source" and found["g"] == 1
    assert found["addr"] == 1 and found["ctx"] == "exact"
    assert found["other"] == -1  # the other partition's table is empty
    assert found["routing"] == 1  # allowed by r.allow before r.deny is consulted
    found = _run(tmp_path, "172.16.0.1", "sip:carol@example.com")
    assert found["src"] == -1 and found["g"] == "none"
    assert found["routing"] == -1  # denied by ALL : ALL


def test_undefined_partition_and_bad_protocol_are_load_errors(tmp_path: Path) -> None:
    head = ('loadmodule "db_sqlite.so"\nloadmodule "permissions.so"\n'
            'modparam("permissions", "db_url", "sqlite:////tmp/x.db")\n')
    report = check_script(parse_text(head + 'route { check_address(0, "1.2.3.4", 0, "udp", , ,'
                                     ' "nope"); }\n', "p.cfg"))
    assert not report.ok and any("nope" in p.message for p in report.problems)
    report = check_script(parse_text(head + 'route { check_address(0, "1.2.3.4", 0, "xyz"); }\n',
                                     "p.cfg"))
    assert not report.ok and any("xyz" in p.message for p in report.problems)


def _register(contacts: str, to: str = "sip:alice@example.com") -> MsgContext:
    msg = parse_message((
        f"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\r\n"
        f"From: <{to}>;tag=1\r\nTo: <{to}>\r\nCall-ID: r\r\nCSeq: 1 REGISTER\r\n"
        f"Contact: {contacts}\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, SipMessage)
    ctx = MsgContext(ProcessState(), msg, ReceiveInfo("udp", "10.0.0.1", 5060, "10.0.0.2", 5060))
    ctx.process.modules["permissions"] = Permissions({}, RulePair(None, None))
    return ctx


def test_allow_register_checks_every_contact_and_allow_uri_the_from() -> None:
    rules = RulePair(parse_rules('"^sip:alice@" : "^sip:alice@10\\.0\\.0\\."\n'),
                     parse_rules("ALL : ALL\n"))
    assert w_allow_register(_register("<sip:alice@10.0.0.2:5060;transport=udp>"), rules) == 1
    assert w_allow_register(_register("<sip:alice@10.0.0.2>, <sip:alice@192.0.2.1>"), rules) == -1
    assert w_allow_register(_register("*"), rules) == 1
    assert w_allow_register(_register("<sip:x@192.0.2.1>"), RulePair(None, None)) == 1  # no rules
    ctx = _register("<sip:alice@10.0.0.2>")
    assert w_allow_uri(ctx, rules, "sip:alice@10.0.0.9;user=phone") == 1
    assert w_allow_uri(ctx, rules, "sip:bob@10.0.0.9") == -1


def test_allow_routing_checks_branches_too() -> None:
    ctx = _register("<sip:alice@10.0.0.2>")
    ctx.msg = parse_message(
        b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK3\r\n"
        b"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: i\r\n"
        b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    rules = RulePair(parse_rules('ALL : "^sip:bob@"\n'), parse_rules('ALL : "^sip:premium@"\n'))
    assert w_allow_routing(ctx, rules) == 1
    ctx.branches.append({"uri": "sip:premium@example.com"})
    assert w_allow_routing(ctx, rules) == -1
    ctx.process.modules["permissions"] = Permissions({}, RulePair(None, None), False)
    assert w_allow_routing(ctx, rules) == 1  # check_all_branches 0: the allowed R-URI decides
