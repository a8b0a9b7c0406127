"""Load-time errors: each kind is reported with the right file:line:col, and all are collected."""

from __future__ import annotations

import importlib.metadata
import sys
import types

import pytest
from test_compile_support import HEADER_LINES, TEST_MODULES, calls, check, load, message, run

from pysips.script.compile import check_script, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.errors import ScriptLoadError
from pysips.script.exports import FunctionExport, ModuleExports
from pysips.script.parse import parse_text


def _errors(body: str) -> list[str]:
    return [p.format() for p in check(body).problems if not p.warning]


def _line(n: int) -> str:
    """`t.cfg:<line>:` for line n of the test body (1-based)."""
    return f"t.cfg:{n + HEADER_LINES}:"


# (id, script body, expected (body line, column, text in message))
ERROR_CASES = [
    ("unknown-module", 'loadmodule "nosuch.so"\nroute { exit; }', (1, 1, "unknown module 'nosuch'")),
    (
        "unknown-modparam",
        'modparam("testmod", "nope", 1)\nroute { exit; }',
        (1, 1, "has no parameter 'nope'"),
    ),
    ("modparam-type", 'modparam("testmod", "p_int", "ten")\nroute { exit; }', (1, 1, "expects an integer")),
    ("modparam-no-module", 'modparam("zz.*", "x", 1)\nroute { exit; }', (1, 1, "no loaded module matches")),
    ("unknown-core-param", "bogus_param=3\nroute { exit; }", (1, 1, "unknown core parameter 'bogus_param'")),
    ("core-param-type", 'max_while_loops="many"\nroute { exit; }', (1, 1, "expects int")),
    ("unknown-function", "route {\n  nosuch_fn();\n}", (2, 3, "unknown function nosuch_fn()")),
    ("arity", "route {\n  t_int();\n}", (2, 3, "takes 1 argument (0 given)")),
    ("arity-optional", 'route {\n  t_rec("a", 1, 2);\n}', (2, 3, "takes 1 to 2 arguments (3 given)")),
    ("var-arg-kind", 'route {\n  t_set("notavar", "x");\n}', (2, 9, "must be a pseudo-variable")),
    ("int-arg-kind", 'route {\n  t_int("ten");\n}', (2, 9, "must be an integer")),
    ("flag-arg-kind", "route {\n  setflag($var(x));\n}", (2, 11, "must be a flag name")),
    ("fixup-error", "route {\n  t_even(3);\n}", (2, 10, "3 is odd")),
    ("read-only-var-arg", 'route {\n  t_set($ci, "x");\n}', (2, 9, "read-only")),
    (
        "route-type",
        "route { exit; }\nbranch_route[b] {\n  t_reqonly();\n}",
        (3, 3, "cannot be used in branch_route"),
    ),
    (
        "route-type-via-subroute",
        "route { exit; }\nfailure_route[f] { route(s); }\nroute[s] {\n  t_reqonly();\n}",
        (4, 3, "cannot be used in failure_route"),
    ),
    ("unknown-route", "route {\n  route(nowhere);\n}", (2, 3, "unknown route 'nowhere'")),
    ("unknown-route-arg", 'route {\n  t_on("nowhere");\n}', (2, 8, "unknown branch_route 'nowhere'")),
    (
        "route-arg-wrong-kind",
        'route {\n  t_on("r");\n}\nroute[r] { exit; }',
        (2, 8, "unknown branch_route 'r'"),
    ),
    ("unknown-pvar", "route {\n  $var(a) = $nosuchpv;\n}", (2, 13, "nosuchpv")),
    ("read-only-assign", 'route {\n  $ci = "x";\n}', (2, 3, "read-only")),
    ("bad-regex", 'route {\n  if ($ru =~ "(") exit;\n}', (2, 14, "bad regular expression")),
    ("bad-regex-arg", 'route {\n  t_match("(", "x");\n}', (2, 11, "bad regular expression")),
    ("declared-missing", "route {\n  t_later();\n}", (2, 3, "t_later() is not implemented in pysips yet")),
    ("core-needs-engine", "route {\n  forward();\n}", (2, 3, "forward() is not implemented in pysips yet")),
    ("duplicate-route", "route[a] { exit; }\nroute[a] { exit; }\nroute { exit; }", (2, 1, "defined twice")),
]


@pytest.mark.parametrize(("body", "where"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_load_error_position(body: str, where: tuple[int, int, str]) -> None:
    line, col, text = where
    errors = _errors(body)
    wanted = f"{_line(line)}{col}: "
    assert any(e.startswith(wanted) and text in e for e in errors), errors


def test_load_script_raises_with_every_problem() -> None:
    body = 'loadmodule "m1.so"\nloadmodule "m2.so"\nroute {\n  f1();\n  f2();\n  f1();\n  t_int();\n}'
    with pytest.raises(ScriptLoadError) as info:
        load(body)
    report = info.value.report
    assert [name for name, _ in report.missing_modules] == ["m1", "m2"]
    assert sorted(report.unknown_functions) == ["f1", "f2"]
    assert len(report.unknown_functions["f1"]) == 2
    assert str(report.unknown_functions["f2"][0]) == f"{_line(5)}3"
    assert any("takes 1 argument" in p.message for p in info.value.problems)
    summary = "\n".join(report.summary())
    assert "missing modules (2): m1, m2" in summary and "f1() used 2x" in summary


def test_numeric_flag_warns_about_dialects() -> None:
    report = check("route {\n  setflag(5);\n  isflagset(5);\n}")
    warnings = [p.format() for p in report.problems if p.warning]
    assert report.ok
    assert len(warnings) == 1 and warnings[0].startswith(f"{_line(2)}11: warning:") and "2.x" in warnings[0]


def test_2x_core_param_spellings_load() -> None:
    report = check(
        "debug=3\nfork=yes\nchildren=4\nlog_stderror=no\nlog_facility=LOG_LOCAL0\n"
        "udp_workers=4\nstderror_enabled=no\nauto_aliases=no\nroute { exit; }"
    )
    assert report.ok, [p.format() for p in report.problems]


def test_missing_mpath_falls_back_to_bundled_modules() -> None:
    text = 'mpath="/usr/local/lib/opensips/modules/"\nloadmodule "maxfwd.so"\nroute { exit; }\n'
    loaded = load_script(parse_text(text, "t.cfg"))
    assert "maxfwd" in loaded.modules


def test_mpath_with_pysips_modules_is_searched_first() -> None:
    text = f'mpath="{TEST_MODULES}"\nloadmodule "testmod.so"\nroute {{ t_int(1); }}\n'
    loaded = load_script(parse_text(text, "t.cfg"))
    assert loaded.modules["testmod"].origin.startswith(str(TEST_MODULES))
    assert "testmod" not in sys.modules  # imported under a private package name


def test_entry_point_module(monkeypatch: pytest.MonkeyPatch) -> None:
    def hello(ctx: MsgContext) -> int:
        ctx.extra.setdefault("calls", []).append(("hello",))
        return 1

    fake = types.ModuleType("pysips_test_ep_module")
    fake.exports = ModuleExports("epmod", functions=(FunctionExport("hello", hello),))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pysips_test_ep_module", fake)
    ep = importlib.metadata.EntryPoint("epmod", "pysips_test_ep_module", "pysips.modules")
    real = importlib.metadata.entry_points

    def entry_points(**kw: str) -> object:
        if kw.get("group") == "pysips.modules":
            return importlib.metadata.EntryPoints([ep])
        return real(**kw)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    loaded = load_script(parse_text('loadmodule "epmod.so"\nroute { hello(); }\n', "t.cfg"))
    ctx = MsgContext(ProcessState(), message())
    route = loaded.main_route
    assert route is not None
    loaded.run(route, ctx)
    assert calls(ctx) == [("hello",)]


def test_module_dependency_reported() -> None:
    errors = _errors('loadmodule "depmod.so"\nroute { exit; }')
    needle = "module depmod depends on module absentdep, but it was not loaded!"
    assert any(e.startswith(f"{_line(1)}1:") and needle in e for e in errors), errors


def test_maxfwd_fixup_checks_limit_against_max_limit() -> None:
    errors = [
        p.format()
        for p in check_script(
            parse_text(
                'loadmodule "maxfwd.so"\nmodparam("maxfwd", "max_limit", 20)\n'
                "route {\n  mf_process_maxfwd_header(30);\n}\n",
                "t.cfg",
            )
        ).problems
    ]
    assert any(e.startswith("t.cfg:4:28:") and "bigger than max_limit" in e for e in errors), errors


def test_function_used_in_condition_and_statement_checked_once_each() -> None:
    loaded = load("route { if (t_int(1)) t_int(2); }\n")
    _, ctx = run(loaded)
    assert calls(ctx) == [("t_int", 1), ("t_int", 2)]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            "dialog_foo_bar();",
            "unknown function dialog_foo_bar()",
        ),
        (
            "cr_route();",
            "unknown function cr_route(): provided by OpenSIPS module 'carrierroute', which pysips does not "
            "have yet",
        ),
        (
            "create_dialog();",
            "unknown function create_dialog(): provided by OpenSIPS module 'dialog'; add loadmodule "
            "\"dialog.so\"",
        ),
        (
            "t_relay();",
            "unknown function t_relay(): provided by OpenSIPS module 'tm'; add loadmodule \"tm.so\"",
        ),
        (
            "cd_lookup(\"t\");",
            "unknown function cd_lookup(): provided by OpenSIPS module 'closeddial' (up to OpenSIPS 1.11), "
            "which pysips does not have yet",
        ),
        (
            "avp_delete(\"$avp(x)\");",
            "unknown function avp_delete(): provided by OpenSIPS module 'avpops' (up to OpenSIPS 3.4); "
            "add loadmodule \"avpops.so\"",
        ),
    ],
)
def test_unknown_function_names_its_opensips_module(call: str, expected: str) -> None:
    errors = _errors("route {\n  " + call + "\n}")
    assert errors == [f"{_line(2)}3: {expected}"]


def test_porting_summary_names_the_opensips_module() -> None:
    report = check('route {\n  do_routing();\n  do_routing();\n  nosuch_fn();\n}')
    summary = report.summary()
    assert f"  do_routing() used 2x, first at {_line(2)}3, OpenSIPS module 'drouting'" in summary
    assert f"  nosuch_fn() used 1x, first at {_line(4)}3" in summary


@pytest.mark.parametrize("word", ["async", "launch"])
def test_async_in_a_condition_is_checked_like_the_statement(word: str) -> None:
    # OpenSIPS's grammar makes async()/launch() commands, usable in conditions like any call; only
    # async functions may be used in them, and async() needs tm (this script does not load it).
    body = (
        "route {\n  if (!" + word + "(t_ret(1), r1)) exit;\n  " + word + "(nosuch_fn(), r1);\n}\n"
        "route[r1] { exit; }"
    )
    report = check(body)
    errors = [p.format() for p in report.problems if not p.warning]
    needs_tm = 'async() needs the tm module (loadmodule "tm.so")'
    not_async = (f"t_ret() cannot be used in {word}(): it is not an async function "
                 "(OpenSIPS: unknown async command <t_ret>)")
    expected = [
        f"{_line(2)}{len(word) + 9}: {not_async}",
        f"{_line(3)}{len(word) + 4}: unknown function nosuch_fn()",
    ]
    if word == "async":
        expected[1:1] = [f"{_line(3)}3: {needs_tm}"]
        expected[:0] = [f"{_line(2)}8: {needs_tm}"]
    assert errors == expected
    assert sorted(report.unknown_functions) == ["nosuch_fn"]
