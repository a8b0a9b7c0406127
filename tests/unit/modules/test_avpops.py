"""avpops (2.x) and sqlops's sql_avp_* over SQLite: user preferences in OpenSIPS's usr_preferences
layout, raw queries into AVPs, the AVP operations, and the `pysips -c` warning that avpops is a
2.x module."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pysips.db import admin
from pysips.script.compile import check_script
from pysips.script.context import MsgContext
from pysips.script.parse import parse_text
from tests.unit.modules.route_runs import run_main_route


def _database(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "prefs.db"
    db = admin.open_url(f"sqlite://{path}")
    admin.create(db, ["avpops"])
    db.close()
    return path


def _run(db: Path, body: str, params: str = "", module: str = "avpops",
         from_uri: str = "sip:o'neil@example.com") -> MsgContext:
    head = ('listen=udp:127.0.0.1:5060\nloadmodule "db_sqlite.so"\n'
            f'loadmodule "{module}.so"\nmodparam("{module}", "db_url", "sqlite://{db}")\n{params}')
    text = (
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-1\r\n"
        f"From: <{from_uri}>;tag=1\r\nTo: <sip:carol@example.org>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return run_main_route(head, body, text)


def _rows(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT uuid, username, domain, attribute, type, value FROM usr_preferences"
                            " ORDER BY id").fetchall()


def test_pysips_c_warns_that_avpops_is_a_2x_module(tmp_path: Path) -> None:
    text = ('listen=udp:127.0.0.1:5060\nloadmodule "db_sqlite.so"\nloadmodule "avpops.so"\n'
            f'modparam("avpops", "db_url", "sqlite://{tmp_path}/x.db")\n'
            'route { avp_db_load("$fu", "$avp(fwd)"); }\n')
    report = check_script(parse_text(text, "a.cfg"))
    assert report.ok
    warnings = [p for p in report.problems if p.warning]
    assert any("2.x module" in p.message and "sql_avp_load" in p.message and p.pos.line == 3
               for p in warnings), warnings


@pytest.mark.parametrize("call, needle", [
    ('avp_db_load("$fu/nosuch", "$avp(a)")', "qualifier"),
    ('avp_db_load("$fu", "$avp(a)/$myscheme")', "DB schemes"),
    ('avp_db_load("$fu", "$var(a)")', "$avp(name)"),
    ('avp_check("$avp(a)", "like/x")', "unknown operator"),
    ('avp_pushto("$tu", "$avp(a)")', "destination"),
])
def test_bad_arguments_are_load_errors(tmp_path: Path, call: str, needle: str) -> None:
    text = ('listen=udp:127.0.0.1:5060\nloadmodule "db_sqlite.so"\nloadmodule "avpops.so"\n'
            f'modparam("avpops", "db_url", "sqlite://{tmp_path}/x.db")\nroute {{\n  {call};\n}}\n')
    report = check_script(parse_text(text, "a.cfg"))
    errors = [p for p in report.problems if not p.warning]
    assert any(needle in p.message and p.pos.line == 6 for p in errors), report.problems


def test_store_then_load_by_uri_username_and_uuid(tmp_path: Path) -> None:
    db = _database(tmp_path)
    _run(db, '$avp(fwd) = "sip:voicemail@example.com"; $avp(fwd) = 42;'
             '$var(s) = avp_db_store("$fu", "$avp(fwd)");'
             '$avp(lang) = "fr"; avp_db_store("u-1", "$avp(lang)");')
    # the rows as OpenSIPS writes them: a quote in the username is bound, not spliced
    assert _rows(db) == [
        ("", "o'neil", "", "fwd", 1, "42"),
        ("", "o'neil", "", "fwd", 0, "sip:voicemail@example.com"),
        ("u-1", "", "", "lang", 0, "fr"),
    ]
    ctx = _run(db, '$var(r1) = avp_db_load("$fu", "$avp(fwd)");'
                   '$var(r2) = avp_db_load("u-1", "$avp(lang)");'
                   '$var(r3) = avp_db_load("$tu", "$avp(fwd)");'
                   '$var(r4) = avp_db_load("$fu/username", "*", , "p_");')
    # the last row ends in front; integer rows come back as integers
    assert ctx.avps["fwd"] == ["sip:voicemail@example.com", 42]
    assert ctx.avps["lang"] == ["fr"]
    assert ctx.avps["p_fwd"] == ["sip:voicemail@example.com", 42]
    assert [ctx.process.vars[f"r{i}"] for i in range(1, 5)] == [1, 1, -1, 1]


def test_loaded_values_are_not_stored_twice(tmp_path: Path) -> None:
    db = _database(tmp_path)
    _run(db, '$avp(fwd) = "a"; avp_db_store("$fu", "$avp(fwd)");')
    _run(db, 'avp_db_load("$fu", "$avp(fwd)"); $avp(fwd) = "b"; avp_db_store("$fu", "$avp(fwd)");'
             '$var(again) = avp_db_store("$fu", "$avp(fwd)");')
    assert [r[5] for r in _rows(db)] == ["a", "b"]


def test_use_domain_and_domain_qualifier(tmp_path: Path) -> None:
    db = _database(tmp_path)
    params = 'modparam("avpops", "use_domain", 1)\n'
    _run(db, '$avp(x) = "1"; avp_db_store("$fu", "$avp(x)");'
             '$avp(d) = "dom"; avp_db_store("$ru/domain", "$avp(d)");', params)
    assert _rows(db) == [("", "o'neil", "example.com", "x", 0, "1"), ("", "", "example.com", "d", 0, "dom")]
    other = _run(db, '$var(r) = avp_db_load("$fu", "$avp(x)");', params, from_uri="sip:o'neil@other.net")
    assert other.process.vars["r"] == -1
    same = _run(db, '$var(r) = avp_db_load("$fu", "$avp(x)");', params)
    assert same.avps["x"] == ["1"]


def test_delete_one_attribute_or_all(tmp_path: Path) -> None:
    db = _database(tmp_path)
    _run(db, '$avp(a) = "1"; $avp(b) = "2"; avp_db_store("$fu", "*");')
    assert sorted(r[3] for r in _rows(db)) == ["a", "b"]
    _run(db, 'avp_db_delete("$fu", "$avp(a)");')
    assert [r[3] for r in _rows(db)] == ["b"]
    _run(db, 'avp_db_delete("$fu", "*");')
    assert _rows(db) == []


def test_other_table_of_the_same_layout(tmp_path: Path) -> None:
    db = _database(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE fwd_table AS SELECT * FROM usr_preferences")
    _run(db, '$avp(f) = "x"; avp_db_store("$fu", "$avp(f)/fwd_table");')
    assert _rows(db) == []
    ctx = _run(db, 'avp_db_load("$fu", "$avp(f)/fwd_table");')
    assert ctx.avps["f"] == ["x"]


def test_avp_db_query_into_avps(tmp_path: Path) -> None:
    db = _database(tmp_path)
    _run(db, '$avp(a) = "1"; $avp(b) = "2"; avp_db_store("$fu", "*");')
    ctx = _run(db, '$var(r1) = avp_db_query("SELECT attribute, value FROM usr_preferences'
                   ' ORDER BY attribute", "$avp(n);$avp(v)");'
                   '$var(r2) = avp_db_query("SELECT value FROM usr_preferences WHERE attribute = \'zz\'");'
                   '$var(r3) = avp_db_query("SELECT nosuch FROM usr_preferences");'
                   '$var(r4) = avp_db_query("SELECT COUNT(*) FROM usr_preferences");')
    assert ctx.avps["n"] == ["a", "b"] and ctx.avps["v"] == ["1", "2"]
    assert ctx.avps["1"] == [2]
    assert [ctx.process.vars[f"r{i}"] for i in range(1, 5)] == [1, -2, -1, 1]


def test_database_gone_returns_minus_one_and_the_script_goes_on(tmp_path: Path) -> None:
    db = _database(tmp_path)
    ctx = _run(db, 'avp_db_query("DROP TABLE usr_preferences");'
                   '$var(r) = avp_db_load("$fu", "$avp(x)"); $var(after) = "yes";')
    assert ctx.process.vars["r"] == -1 and ctx.process.vars["after"] == "yes"


def test_sqlops_sql_avp_functions_share_the_table(tmp_path: Path) -> None:
    db = _database(tmp_path)
    _run(db, '$avp(fwd) = "v"; sql_avp_store("$fu", "$avp(fwd)");', module="sqlops")
    assert _rows(db) == [("", "o'neil", "", "fwd", 0, "v")]
    ctx = _run(db, '$var(r) = sql_avp_load("$fu", "$avp(fwd)"); sql_avp_delete("$fu", "$avp(fwd)");',
               module="sqlops")
    assert ctx.avps["fwd"] == ["v"] and ctx.process.vars["r"] == 1
    assert _rows(db) == []


def test_avp_printf_subst_check_copy(tmp_path: Path) -> None:
    db = _database(tmp_path)
    ctx = _run(db, r'''
        avp_printf("$avp(p)", "m=$rm u=$rU");
        $avp(mail) = "x@old.org"; $avp(mail) = "y@old.org";
        $var(s1) = avp_subst("$avp(mail)/$avp(new)/g", "/(.*)@(.*)/\1@$rd/");
        $var(s2) = avp_subst("$avp(mail)", "/^nomatch$/z/");
        $avp(n) = 7; $avp(n) = 345;
        $var(c1) = avp_check("$avp(n)", "lt/i:100/g");
        $var(c2) = avp_check("$avp(n)", "lt/i:100");
        $var(c3) = avp_check("$avp(mail)", "re/^Y@.*$/gi");
        $var(c4) = avp_check("$fU", "eq/$avp(none)");
        $var(c5) = avp_check("$avp(mail)", "fm/*@old.org");
        $var(c6) = avp_check("$avp(n)", "and/i:0x100");
        avp_copy("$avp(n)", "$avp(m)/g");
        avp_copy("$avp(mail)", "$avp(moved)/gd");
        avp_copy("$avp(p)", "$avp(len)/s");
    ''')
    assert ctx.avps["p"] == ["m=INVITE u=bob"]
    assert ctx.avps["new"] == ["x@example.com", "y@example.com"]  # newest first, each put in front
    v = ctx.process.vars
    assert (v["s1"], v["s2"]) == (1, -1)
    assert [v[f"c{i}"] for i in range(1, 7)] == [1, -1, 1, -1, 1, 1]
    assert ctx.avps["m"] == [7, 345]
    assert "mail" not in ctx.avps and ctx.avps["moved"] == ["x@old.org", "y@old.org"]


def test_avp_pushto_op_delete_is_set(tmp_path: Path) -> None:
    db = _database(tmp_path)
    ctx = _run(db, '''
        $avp(d) = "backup.net"; $avp(d) = "main.net";
        avp_pushto("$ru/domain", "$avp(d)/g");
        $avp(du) = "sip:10.0.0.9:5070";
        avp_pushto("$du", "$avp(du)");
        avp_pushto("$br", "$fu");
        $avp(k) = 10; $avp(k) = 20;
        avp_op("$avp(k)", "add/i:5/g");
        avp_op("$avp(k)/$avp(q)", "mul/$avp(k)");
        $var(set1) = is_avp_set("$avp(k)/n");
        $var(set2) = is_avp_set("$avp(k)/s");
        avp_delete("$avp(k)");
        $var(left) = $avp(k);
        avp_delete("$avp(d)/g");
        $var(set3) = is_avp_set("$avp(d)");
        $avp(s) = "a"; $avp(s) = "b"; $avp(s) = "c";
        avp_insert("avp(s)", "x", 1);
        avp_insert("$avp(s)", "z", 99);
        $avp(h) = 1; $avp(h) = 2; $avp(h) = 3;
        avp_shuffle("$avp(h)");
    ''')
    assert ctx.new_ruri == "sip:bob@main.net"
    assert ctx.dst_uri == "sip:10.0.0.9:5070"
    assert [b["uri"] for b in ctx.branches] == ["sip:bob@backup.net", "sip:o'neil@example.com"]
    assert ctx.avps["q"] == [625]
    v = ctx.process.vars
    assert (v["set1"], v["set2"], v["left"], v["set3"]) == (1, -1, 15, -1)
    assert ctx.avps["s"] == ["c", "x", "b", "a", "z"]
    assert sorted(ctx.avps["h"]) == [1, 2, 3]  # type: ignore[type-var]
