"""Snippets -> syntax tree: precedence, statements, pseudo-variables, values, includes, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pysips.script import ast as A
from pysips.script.parse import ScriptSyntaxError, parse_file, parse_text


def body(code: str) -> tuple[A.Stmt, ...]:
    script = parse_text("route {\n" + code + "\n}\n")
    return script.routes[0].body.stmts


def cond(code: str) -> A.Expr:
    stmt = body(f"if ({code}) exit;")[0]
    assert isinstance(stmt, A.If)
    return stmt.cond


def value(code: str) -> A.Expr:
    stmt = body(f"$var(x) = {code};")[0]
    assert isinstance(stmt, A.Assign)
    return stmt.value


def shape(e: A.Expr | str | None) -> object:
    """A compact, position-free picture of an expression."""
    if isinstance(e, A.BinOp):
        return (e.op, shape(e.left), shape(e.right))
    if isinstance(e, A.UnOp):
        return (e.op, shape(e.operand))
    if isinstance(e, A.IntLit):
        return e.value
    if isinstance(e, A.StrLit):
        return repr(e.value)
    if isinstance(e, A.PVar):
        return "$" + e.name + (f"({shape(e.subname)})" if e.subname is not None else "")
    if isinstance(e, A.Call):
        return e.name + "(" + ",".join(str(shape(a)) for a in e.args) + ")"
    if isinstance(e, A.CoreKeyword | A.Ident):
        return e.name
    if isinstance(e, A.Myself):
        return "myself"
    if isinstance(e, A.NullLit):
        return "NULL"
    if isinstance(e, A.IPNet):
        return f"{e.address}/{e.prefix}"
    return e


# ------------------------------------------------------------------------------------ precedence


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # && and || bind equally and group left to right, as in OpenSIPS's cfg.y
        ("a() || b() && c()", ("&&", ("||", "a()", "b()"), "c()")),
        ("a() && b() || c()", ("||", ("&&", "a()", "b()"), "c()")),
        ("a() || (b() && c())", ("||", "a()", ("&&", "b()", "c()"))),
        # ! negates the whole comparison
        ("!$rU == NULL", ("!", ("==", "$rU", "NULL"))),
        ("!a() && b()", ("&&", ("!", "a()"), "b()")),
        ("not a() and b() or c()", ("||", ("&&", ("!", "a()"), "b()"), "c()")),
        (
            "$var(a) =~ \"^sip:\" || $var(b) !~ 'x'",
            ("||", ("=~", "$var(a)", "'^sip:'"), ("!~", "$var(b)", "'x'")),
        ),
        ("$var(a) <= 3 && $var(b) > -1", ("&&", ("<=", "$var(a)", 3), (">", "$var(b)", -1))),
        ("uri == myself", ("==", "uri", "myself")),
        ("!uri==myself", ("!", ("==", "uri", "myself"))),
        ("from_uri != myself", ("!=", "from_uri", "myself")),
        ("src_ip == 10.0.0.0/8", ("==", "src_ip", "10.0.0.0/8")),
        ("dst_ip == 127.0.0.1", ("==", "dst_ip", "127.0.0.1/None")),
        ("proto == WS || proto == WSS", ("||", ("==", "proto", "WS"), ("==", "proto", "WSS"))),
        ("af == INET", ("==", "af", "INET")),
        ('method == "INVITE"', ("==", "method", "'INVITE'")),
        ('status == "200"', ("==", "status", "'200'")),
        ("msg:len > max_len", (">", "msg:len", "max_len")),
        ("[$var(a) + 1] > 2", (">", ("+", "$var(a)", 1), 2)),
    ],
)
def test_condition_precedence(code: str, expected: object) -> None:
    assert shape(cond(code)) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # + - * / % bind equally, left to right; bitwise operators bind looser than arithmetic
        ("1 + 2 * 3", ("*", ("+", 1, 2), 3)),
        ("1 | 2 + 3", ("|", 1, ("+", 2, 3))),
        ("1 << 2 & 3", ("&", ("<<", 1, 2), 3)),
        ("~1 + 2", ("+", ("~", 1), 2)),
        ("-5", -5),
        ("0x1F", 31),
        ("017", 15),
        ("$var(a) - 1", ("-", "$var(a)", 1)),
        ("(1 + 2) * 3", ("*", ("+", 1, 2), 3)),
        ('"a" + $var(b)', ("+", "'a'", "$var(b)")),
        ("NULL", "NULL"),
        ("yes", 1),
        ("false", 0),
        ('"a" "b"', "'ab'"),
    ],
)
def test_value_expressions(code: str, expected: object) -> None:
    assert shape(value(code)) == expected


@pytest.mark.parametrize("op", ["=", "+=", "-=", "*=", "/=", "%=", ":=", "|=", "&=", "^="])
def test_assignment_operators(op: str) -> None:
    stmt = body(f"$avp(x) {op} 1;")[0]
    assert isinstance(stmt, A.Assign) and stmt.op == op
    assert stmt.target.name == "avp" and stmt.target.subname == "x"


def test_assign_null_deletes() -> None:
    stmt = body("$var(x) = NULL;")[0]
    assert isinstance(stmt, A.Assign) and isinstance(stmt.value, A.NullLit)


# ------------------------------------------------------------------------------------ statements


def test_else_if_chain_nests_in_orelse() -> None:
    (stmt,) = body('if (a()) f(1); else if (b()) f(2); else if (c()) { f(3); } else f(4);')
    assert isinstance(stmt, A.If)
    second = stmt.orelse.stmts[0] if stmt.orelse else None
    assert isinstance(second, A.If) and shape(second.cond) == "b()"
    third = second.orelse.stmts[0] if second.orelse else None
    assert isinstance(third, A.If) and shape(third.cond) == "c()"
    assert third.orelse is not None and shape(third.orelse.stmts[0].expr) == "f(4)"  # type: ignore[union-attr]


def test_dangling_else_binds_to_nearest_if() -> None:
    (outer,) = body("if (a()) if (b()) f(1); else f(2);")
    assert isinstance(outer, A.If) and outer.orelse is None
    inner = outer.then.stmts[0]
    assert isinstance(inner, A.If) and inner.orelse is not None


def test_empty_then_branch_keeps_else() -> None:
    (stmt,) = body("if (a()) ; else f();")
    assert isinstance(stmt, A.If) and stmt.then.stmts == () and stmt.orelse is not None


def test_switch_cases_fall_through_and_default_position() -> None:
    (stmt,) = body(
        """switch ($rm) {
            case "INVITE":
            case "ACK":
                f(1);
                break;
            default:
                f(0);
            case -3:
                f(3);
        }"""
    )
    assert isinstance(stmt, A.Switch)
    assert [shape(c.value) for c in stmt.cases] == ["'INVITE'", "'ACK'", -3]
    assert stmt.cases[0].body == ()
    assert isinstance(stmt.cases[1].body[-1], A.Break)
    assert stmt.default is not None and len(stmt.default) == 1
    assert stmt.default_index == 2


def test_two_defaults_are_an_error() -> None:
    with pytest.raises(ScriptSyntaxError, match="more than one 'default:'"):
        body("switch ($rm) { default: f(); default: g(); }")


def test_while_foreach_and_loops() -> None:
    w, fe = body("while ($var(i) < 10) { $var(i) += 1; }\nfor ($var(x) in $(avp(y)[*])) xlog(\"$var(x)\");")
    assert isinstance(w, A.While) and shape(w.cond) == ("<", "$var(i)", 10)
    assert isinstance(fe, A.ForEach)
    assert fe.var.name == "var" and fe.iterable.index == "*" and fe.iterable.subname == "y"


def test_returns() -> None:
    stmts = body(
        'return; return(-1); return 2; return(); return($var(x), 1, "s"); exit; exit(); drop; drop();'
    )
    r = [s for s in stmts if isinstance(s, A.Return)]
    assert [shape(x.value) for x in r] == [None, -1, 2, None, "$var(x)"]
    assert [shape(e) for e in r[4].extra] == [1, "'s'"]
    assert sum(isinstance(s, A.Exit) for s in stmts) == 2
    assert sum(isinstance(s, A.Drop) for s in stmts) == 2


def test_route_calls_with_args_and_dynamic_names() -> None:
    a, b, c = body('route(relay);\nroute(FIX, $param(1), "x", 2, NULL);\nroute("to_$var(kind)");')
    assert isinstance(a, A.ExprStmt) and a.expr == A.RouteCall("relay", (), a.expr.pos)
    assert isinstance(b, A.ExprStmt) and isinstance(b.expr, A.RouteCall)
    assert [shape(x) for x in b.expr.args] == ["$param(1)", "'x'", 2, "NULL"]
    assert isinstance(c, A.ExprStmt) and isinstance(c.expr, A.RouteCall)
    assert c.expr.name_template is not None and c.expr.name == "to_$var(kind)"


def test_route_call_in_condition() -> None:
    assert isinstance(cond("route(check)"), A.RouteCall)


def test_async_launch_assert() -> None:
    a, b, c, d = body(
        'async(rest_get("http://x", $var(body)), resume, 5);\n'
        'launch(exec("ls"), report, "p");\n'
        "launch(exec(\"ls\"));\n"
        'assert($var(x) == 1, "x must be 1");'
    )
    assert isinstance(a, A.Async) and a.call.name == "rest_get" and a.resume_route == "resume"
    assert shape(a.timeout) == 5
    assert isinstance(b, A.Launch) and b.report_route == "report" and shape(b.report_param) == "'p'"
    assert isinstance(c, A.Launch) and c.report_route is None
    assert isinstance(d, A.Assert) and shape(d.message) == "'x must be 1'"


def test_call_arguments_of_every_kind() -> None:
    (stmt,) = body('f("s", 12, -1, $var(x), SRC_WS, , "y", udp:10.0.0.1:5060);')
    assert isinstance(stmt, A.ExprStmt) and isinstance(stmt.expr, A.Call)
    args = stmt.expr.args
    assert [type(a).__name__ for a in args] == [
        "StrLit", "IntLit", "IntLit", "PVar", "Ident", "NullLit", "StrLit", "StrLit"]
    assert shape(args[7]) == "'udp:10.0.0.1:5060'"


@pytest.mark.parametrize(
    ("code", "count"), [("f()", 0), ("f(,)", 2), ('f(,"x")', 2), ('f("a",)', 2), ("f(,,1)", 3)]
)
def test_omitted_arguments_are_null(code: str, count: int) -> None:
    (stmt,) = body(code + ";")
    assert isinstance(stmt, A.ExprStmt) and isinstance(stmt.expr, A.Call)
    assert len(stmt.expr.args) == count


def test_stray_semicolons_and_nested_blocks() -> None:
    script = parse_text("route { { f(); };; if (a()) { g(); }; };\nroute[x] { }\n;\n")
    main = script.routes[0].body.stmts
    assert isinstance(main[0], A.Block) and isinstance(main[1], A.If) and len(main) == 2


# ------------------------------------------------------------------------------------ pseudo-variables


def pv(text: str) -> A.PVar:
    e = value(text)
    assert isinstance(e, A.PVar)
    return e


def test_pv_forms() -> None:
    assert pv("$ru").name == "ru"
    assert pv("$rU").name == "rU"
    assert pv("$T_reply_code").name == "T_reply_code"
    assert pv("$DLG_status").name == "DLG_status"
    h = pv("$hdr(Via)[0]")
    assert (h.name, h.subname, shape(h.index)) == ("hdr", "Via", 0)
    last = pv("$(hdr(Via)[-1])")
    assert shape(last.index) == -1
    assert pv("$avp(y)[2]").index == A.IntLit(2, pv("$avp(y)[2]").index.pos)  # type: ignore[union-attr]
    assert pv("$(avp(x)[*])").index == "*"
    r = pv("$(<reply>hdr(X))")
    assert (r.context, r.name, r.subname) == ("reply", "hdr", "X")
    assert pv("$json(a/b)").subname == "a/b"
    assert pv("$param(1)").subname == "1"
    assert pv("$socket_in(proto)").subname == "proto"
    nested = pv("$var($var(i))")
    assert isinstance(nested.subname, A.PVar) and nested.subname.subname == "i"
    dyn = pv("$(avp(x)[$var(i)])")
    assert isinstance(dyn.index, A.PVar) and dyn.index.subname == "i"
    assert pv("$(sdp.line(m)[insert])").index == A.StrLit("insert", pv("$(sdp.line(m)[insert])").index.pos)  # type: ignore[union-attr]


def test_transformation_chains() -> None:
    t = pv("$(ru{uri.user})")
    assert [x.name for x in t.transforms] == ["uri.user"]
    s = pv("$(var(x){s.select,1,#}{s.int})")
    assert [x.name for x in s.transforms] == ["s.select", "s.int"]
    assert [shape(a) for a in s.transforms[0].args] == [1, "'#'"]
    c = pv('$(var(x){s.select,0,,})')
    assert [shape(a) for a in c.transforms[0].args] == [0, "','"]
    p = pv("$(hdr(To){param.value,$var(name)})")
    assert isinstance(p.transforms[0].args[0], A.PVar)
    q = pv("$(var(x){re.subst,'/a/b/g'})")
    assert shape(q.transforms[0].args[0]) == "'/a/b/g'"


def test_transforms_are_not_assignable() -> None:
    with pytest.raises(ScriptSyntaxError, match="cannot be assigned"):
        body("$(var(x){s.len}) = 1;")


def test_strings_with_variables_become_templates() -> None:
    t = value('"$fu to $tu"')
    assert isinstance(t, A.StrTemplate)
    assert [shape(p) if isinstance(p, A.PVar) else p for p in t.parts] == ["$fu", " to ", "$tu"]
    assert t.text == "$fu to $tu"
    u = value('"user=$(ru{uri.user})!"')
    assert isinstance(u, A.StrTemplate) and isinstance(u.parts[1], A.PVar)
    assert u.parts[1].transforms[0].name == "uri.user"
    # in a string the short form stops at ')' as in OpenSIPS: "[2]" is text
    i = value('"$avp(x)[2]"')
    assert isinstance(i, A.StrTemplate) and i.parts[1] == "[2]"
    # a regular expression's `$` is not a variable: the string stays plain text
    assert value('"^sip:.*$"') == A.StrLit("^sip:.*$", value('"^sip:.*$"').pos)
    assert isinstance(value('"cost: $$5"'), A.StrLit)


def test_template_variable_positions() -> None:
    t = value('"a $ru"')
    assert isinstance(t, A.StrTemplate) and isinstance(t.parts[1], A.PVar)
    # `route {` is line 1; the assignment is line 2; `$var(x) = "a $ru"` puts $ru at column 14
    assert (t.parts[1].pos.line, t.parts[1].pos.col) == (2, 14)


def test_string_escapes_and_comments() -> None:
    assert shape(value(r'"a\"b\\c\n\t#not a comment"')) == repr('a"b\\c\n\t#not a comment')
    assert shape(value(r'"keep \d regex"')) == repr("keep \\d regex")
    assert shape(value("'raw \\n'")) == repr("raw \\n")
    stmts = body("#!define X 1\n/* block\n comment */ f(); # trailing\n")
    assert len(stmts) == 1


def test_multi_line_strings() -> None:
    script = parse_text('modparam("dialplan", "partition", "\n\tpstn:\n\t\ttable_name = dialplan;")\n'
                        'route { xlog("L_INFO",\n "two\nlines"); }\n')
    mp = script.items[0]
    assert isinstance(mp, A.ModParam) and mp.value == "\n\tpstn:\n\t\ttable_name = dialplan;"
    stmt = script.routes[0].body.stmts[0]
    assert isinstance(stmt, A.ExprStmt) and isinstance(stmt.expr, A.Call)
    assert shape(stmt.expr.args[1]) == repr("two\nlines")


# ------------------------------------------------------------------------------------ top level


def params(text: str) -> dict[str, A.ParamValue]:
    return {i.name: i.value for i in parse_text(text).items if isinstance(i, A.GlobalParam)}


def test_global_parameter_values() -> None:
    got = params(
        "debug=3\nlog_level=-1\nfork=yes\nauto_aliases=off\nchildren=0x10\nlog_facility=LOG_LOCAL0\n"
        'server_header="Server: x"\nadvertised_address=1.2.3.4\nmpath="/usr/lib/"\n'
        "tcp_no_new_conn_bflag=TCP_NO_CONNECT\n"
    )
    assert got == {
        "debug": 3, "log_level": -1, "fork": True, "auto_aliases": False, "children": 16,
        "log_facility": "LOG_LOCAL0", "server_header": "Server: x",
        "advertised_address": "1.2.3.4",  # cfg.y's listen_id: the address as written, a string
        "mpath": "/usr/lib/", "tcp_no_new_conn_bflag": "TCP_NO_CONNECT",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("udp:127.0.0.1:5060", ("udp", "127.0.0.1", 5060)),
        ("ws:*:8080", ("ws", "*", 8080)),
        ("tls:[::1]:5061", ("tls", "::1", 5061)),
        ("udp:eth0:5060", ("udp", "eth0", 5060)),
        ("udp:lo", ("udp", "lo", None)),
        ("192.168.2.132", (None, "192.168.2.132", None)),
        ("tcp:sip-1.example.com:5060", ("tcp", "sip-1.example.com", 5060)),
        ("udp:*:${SIP_PORT}", ("udp", "*", None)),
        ("udp:${IP}:4060", ("udp", "${IP}", 4060)),
    ],
)
def test_socket_specs(text: str, expected: tuple[object, ...]) -> None:
    sock = params(f"socket={text}\n")["socket"]
    assert isinstance(sock, A.SocketSpec)
    assert (sock.proto, sock.host, sock.port) == expected
    assert sock.raw == text


def test_socket_suffixes() -> None:
    got = params(
        "listen=udp:10.0.0.10:5060 as 1.2.3.4:5080 use_workers 4 anycast tag edge\n"
        "socket=ipsec:10.0.0.1:6100,5100 frag\nsocket=udp:*:5060-5062\n"
    )
    s = got["listen"]
    assert isinstance(s, A.SocketSpec)
    assert (s.advertised_host, s.advertised_port, s.use_workers, s.anycast, s.tag) == (
        "1.2.3.4", 5080, 4, True, "edge")
    many = parse_text("socket=ipsec:10.0.0.1:6100,5100 frag\nsocket=udp:*:5060-5062\n").items
    first, second = (i.value for i in many if isinstance(i, A.GlobalParam))
    assert isinstance(first, A.SocketSpec) and first.more_ports == (5100,) and first.flags == ("frag",)
    assert isinstance(second, A.SocketSpec) and (second.port, second.more_ports) == (5060, (5061, 5062))


def test_alias_lists() -> None:
    got = params('alias=a.example.com b.example.com udp:c.example.com:5060\nalias2="x"\n')
    alias = got["alias"]
    assert isinstance(alias, tuple) and alias[:2] == ("a.example.com", "b.example.com")
    assert isinstance(alias[2], A.SocketSpec) and alias[2].port == 5060


def test_bad_socket_option_is_an_error() -> None:
    with pytest.raises(ScriptSyntaxError, match=r"unexpected 'wibble'"):
        parse_text("socket=udp:1.2.3.4:5060 wibble\n")


def test_loadmodule_and_modparam() -> None:
    items = parse_text(
        'loadmodule "tm.so"\nmodparam("tm", "fr_timeout", 5)\nmodparam("registrar|nathelper", '
        '"received_avp", "$avp(rcv)")\nmodparam("auth_db", "calculate_ha1", yes)\n'
        'modparam("x", "neg", -2)\nmodparam("x", "folded", "a" "b")\n'
    ).items
    assert isinstance(items[0], A.LoadModule) and items[0].path == "tm.so"
    mps = [(i.module, i.name, i.value) for i in items if isinstance(i, A.ModParam)]
    assert mps == [
        ("tm", "fr_timeout", 5), ("registrar|nathelper", "received_avp", "$avp(rcv)"),
        ("auth_db", "calculate_ha1", 1), ("x", "neg", -2), ("x", "folded", "ab"),
    ]


def test_every_route_kind() -> None:
    script = parse_text(
        "route { exit; }\nroute[1] { }\nroute[\"quoted\"] { }\nroute[0] { }\nbranch_route[b] { }\n"
        "failure_route[f] { }\nonreply_route { }\nonreply_route[r] { }\nlocal_route { }\n"
        "error_route { }\nstartup_route { }\ntimer_route[tick, 60] { }\nevent_route[E_UL_AOR_DELETE] { }\n"
        "event_route[E_X, async] { }\n"
    )
    got = [(r.kind.value, r.name, r.args) for r in script.routes]
    assert got == [
        ("route", None, ()), ("route", "1", ()), ("route", "quoted", ()), ("route", None, ()),
        ("branch_route", "b", ()), ("failure_route", "f", ()), ("onreply_route", None, ()),
        ("onreply_route", "r", ()), ("local_route", None, ()), ("error_route", None, ()),
        ("startup_route", None, ()), ("timer_route", "tick", (60,)), ("event_route", "E_UL_AOR_DELETE", ()),
        ("event_route", "E_X", ("async",)),
    ]


@pytest.mark.parametrize("bad", ["timer_route[t] { }", "failure_route { }", "event_route[E, later] { }"])
def test_route_head_errors(bad: str) -> None:
    with pytest.raises(ScriptSyntaxError):
        parse_text(bad + "\n")


def test_positions_on_nodes() -> None:
    script = parse_text("debug=3\n\nroute {\n\tif ($rU == NULL)\n\t\texit;\n}\n", "main.cfg")
    param = script.items[0]
    assert param.pos == A.Pos("main.cfg", 1, 1)
    route = script.routes[0]
    assert route.pos == A.Pos("main.cfg", 3, 1)
    stmt = route.body.stmts[0]
    assert isinstance(stmt, A.If) and stmt.pos == A.Pos("main.cfg", 4, 2)
    assert isinstance(stmt.cond, A.BinOp) and stmt.cond.left.pos == A.Pos("main.cfg", 4, 6)
    assert stmt.then.stmts[0].pos == A.Pos("main.cfg", 5, 3)


def test_stray_characters_are_warnings() -> None:
    script = parse_text("route {\n`\tf();\n}\n", "s.cfg")
    assert [(w.pos.line, w.pos.col) for w in script.warnings] == [(2, 1)]


# ------------------------------------------------------------------------------------ includes


def test_include_file_is_relative_to_the_including_file(tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    (sub / "main.cfg").write_text(
        'include_file "parts/mods.cfg"\nroute {\n\tinclude_file "parts/body.cfg"\n}\n'
    )
    (sub / "parts").mkdir()
    (sub / "parts" / "mods.cfg").write_text('\n\nloadmodule "tm.so"\nimport_file "more.cfg"\n')
    (sub / "parts" / "more.cfg").write_text('loadmodule "sl.so"\n')
    (sub / "parts" / "body.cfg").write_text("# body\n\nt_relay();\n")
    script = parse_file(sub / "main.cfg")
    tm, sl = script.items[0], script.items[1]
    assert isinstance(tm, A.LoadModule) and tm.pos == A.Pos(str(sub / "parts" / "mods.cfg"), 3, 1)
    assert isinstance(sl, A.LoadModule) and sl.pos.file == str(sub / "parts" / "more.cfg")
    call = script.routes[0].body.stmts[0]
    assert call.pos == A.Pos(str(sub / "parts" / "body.cfg"), 3, 1)
    assert script.files[0] == str(sub / "main.cfg") and len(script.files) == 4


def test_import_file_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "a.cfg").write_text('loadmodule "tm.so"\n')
    (tmp_path / "main.cfg").write_text('import_file "a.cfg"\nimport_file "a.cfg"\ninclude_file "a.cfg"\n')
    script = parse_file(tmp_path / "main.cfg")
    assert len([i for i in script.items if isinstance(i, A.LoadModule)]) == 2


def test_errors_in_included_files_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "bad.cfg").write_text("route {\n\tf()\n\tg();\n}\n")
    (tmp_path / "main.cfg").write_text('debug=1\ninclude_file "bad.cfg"\n')
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_file(tmp_path / "main.cfg")
    problem = caught.value.problems[0]
    assert problem.pos.file == str(tmp_path / "bad.cfg") and problem.pos.line == 2
    assert "missing ';'" in problem.message


def test_missing_include_and_include_loops(tmp_path: Path) -> None:
    (tmp_path / "main.cfg").write_text('include_file "nope.cfg"\n')
    with pytest.raises(ScriptSyntaxError, match=r"cannot find the included file 'nope\.cfg'"):
        parse_file(tmp_path / "main.cfg")
    (tmp_path / "loop.cfg").write_text('include_file "loop.cfg"\n')
    with pytest.raises(ScriptSyntaxError, match="nest more than"):
        parse_file(tmp_path / "loop.cfg")


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("text", "line", "col", "words"),
    [
        ("route {\n\tf()\n\tg();\n}\n", 2, 5, "missing ';'"),
        ("route {\n\tif ($a == 1)) { f(); }\n}\n", 2, 14, "no matching '('"),
        ("route {\n\tf();\n", 1, 7, "never closed"),
        ('loadmodule "tm.so\nloadmodule "sl.so"\n', 1, 12, "string"),
        ("route {\n\t$var(x) = ;\n}\n", 2, 12, "expected a value"),
        ("route {\n\tf();\n\nfailure_route[x] { }\n", 4, 1, "'}' is missing"),
        ("route {\n\t$(var(x) = 1;\n}\n", 2, 2, "'$'"),
        ("debug=3\nwhat is this\n", 2, 1, "unexpected 'what'"),
    ],
)
def test_error_positions_and_words(text: str, line: int, col: int, words: str) -> None:
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_text(text, "t.cfg")
    problem = caught.value.problems[0]
    assert (problem.pos.line, problem.pos.col) == (line, col), problem.format()
    assert words in problem.message
    formatted = problem.format()
    assert formatted.startswith(f"t.cfg:{line}:{col}: ")
    assert len(formatted.splitlines()) == 3  # message, offending line, caret


def test_several_semantic_errors_are_reported_together() -> None:
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_text("timer_route[t] { }\nfailure_route { }\nroute { $(var(x){s.len}) = 1; }\n")
    assert [p.pos.line for p in caught.value.problems] == [1, 2, 3]
